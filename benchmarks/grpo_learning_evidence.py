"""Evidence that GRPO with the verif-nb reward learns on CPU (benchmarks/RESULTS.md, "GRPO learning evidence").

Trains params/train_cpu_demo.yaml (0.5B PyPI model, LoRA, rule-mode reward) on generated prompts whose hard
constraints are in a few IFEval groups (--groups), within a wall-clock budget, then compares the model before and after
on IFEval prompts of the same groups and on the run's held-out prompts. Writes
benchmarks/grpo_evidence.{json,csv,png}.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/grpo_learning_evidence.py --steps 25 --budget-min 40

Measure first which constraints give GRPO a signal (base pass rate between 0 and 1), then train on one of them
(run 3 in RESULTS.md), then redo plot and statistics of a finished run:

    ... grpo_learning_evidence.py --measure punctuation:no_comma startend:end_checker --completion-tokens 24
    ... grpo_learning_evidence.py --checkers punctuation:no_comma --min-words 10 --ifeval-checkers \
        punctuation:no_comma --completion-tokens 20 --max-new-tokens 20 --lr 3e-4 --out outputs/grpo_evidence_run3 \
        --tag run3 --steps 200 --budget-min 24 --prompts 200 --holdout 0.15 --eval-prompts 24
    ... grpo_learning_evidence.py --analyse-only --out outputs/grpo_evidence_run3 --tag run3

Use OMP_NUM_THREADS=1 on a shared machine: two threads per process made a step ~7x slower here.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path

from transformers import TrainerCallback

from verif_nb.evaluation import compare_heldout, compare_ifeval
from verif_nb.train import heldout_records, read_train_log, run_grpo
from verif_nb.train.run import RunResult

HERE = Path(__file__).resolve().parent
log = logging.getLogger(__name__)


class TimeBudget(TrainerCallback):
    """Stop training (cleanly, with a final save) once the wall-clock budget is spent."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def on_step_end(self, args, state, control, **kwargs):
        if time.monotonic() > self.deadline:
            control.should_training_stop = True
        return control


def plot(frame, path: Path) -> None:
    """Reward per step with its 5-step mean; per-constraint pass rates and completion length when logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(frame.index, frame["reward"], marker="o", alpha=0.3, label="mean reward (rule mode), per step")
    ax.plot(
        frame.index, frame["reward"].rolling(5, min_periods=1).mean(), linewidth=2.5, label="mean reward, 5-step mean"
    )
    for col in [c for c in frame.columns if c.startswith("verif/pass_rule/")]:
        ax.plot(
            frame.index,
            frame[col].rolling(10, min_periods=1).mean(),
            linewidth=1.5,
            linestyle="--",
            label=f"pass rate {col.rsplit('/', 1)[1]}, 10-step mean",
        )
    ax.set_xlabel("GRPO step (1 prompt x 4 generations)")
    ax.set_ylabel("reward / pass rate")
    ax.set_ylim(-0.05, 1.05)
    if "completions/mean_length" in frame:
        ax2 = ax.twinx()
        ax2.plot(
            frame.index,
            frame["completions/mean_length"].rolling(5, min_periods=1).mean(),
            color="grey",
            linewidth=1,
            label="completion tokens, 5-step mean",
        )
        ax2.set_ylabel("completion tokens")
        ax2.legend(loc="lower right", fontsize=8)
        ax2.set_ylim(0, frame["completions/mean_length"].max() * 1.6 + 1)  # keep the length line clear of the legend
    ax.set_title("GRPO on CPU: Qwen2.5-Coder-0.5B + LoRA, verif-nb rule reward")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def permutation_p(first, last, rounds: int = 20000, seed: int = 0) -> float:
    """Two-sided permutation p-value of mean(last) - mean(first) (steps are the units: a step's completions share
    a prompt, so they are not independent samples).

    Example:
        >>> permutation_p([0.0] * 10, [1.0] * 10) < 0.001
        True
    """
    import random

    first, last = list(first), list(last)
    observed = abs(sum(last) / len(last) - sum(first) / len(first))
    pooled = first + last
    rng = random.Random(seed)
    hits = 0
    for _ in range(rounds):
        rng.shuffle(pooled)
        a, b = pooled[: len(first)], pooled[len(first) :]
        hits += abs(sum(b) / len(b) - sum(a) / len(a)) >= observed - 1e-12
    return (hits + 1) / (rounds + 1)


def mcnemar_p(before: list[bool], after: list[bool]) -> dict:
    """Exact two-sided McNemar test on paired pass/fail outcomes (binomial on the discordant pairs).

    Example:
        >>> mcnemar_p([False] * 8, [True] * 8)["p"] < 0.01
        True
    """
    from math import comb

    gained = sum((not b) and a for b, a in zip(before, after))
    lost = sum(b and (not a) for b, a in zip(before, after))
    n = gained + lost
    tail = sum(comb(n, k) for k in range(0, min(gained, lost) + 1)) / 2**n if n else 1.0
    return {"gained": gained, "lost": lost, "p": round(min(1.0, 2 * tail), 4)}


def analyse(frame, run_dir: Path) -> dict:
    """Thirds of the training curve with permutation p-values; paired held-out pass/fail changes (McNemar)."""
    stats: dict = {}
    n = len(frame)
    k = max(1, n // 3)
    for col in ["reward", *[c for c in frame.columns if c.startswith("verif/pass_rule/")], "completions/mean_length"]:
        if col not in frame:
            continue
        values = frame[col].dropna()
        stats[col] = {
            "first_third": round(float(values.iloc[:k].mean()), 3),
            "last_third": round(float(values.iloc[-k:].mean()), 3),
            "steps_per_third": k,
            "permutation_p": round(permutation_p(values.iloc[:k], values.iloc[-k:]), 4),
        }
    held = run_dir / "eval_heldout"
    if (held / "before" / "heldout_responses.jsonl").exists() and (held / "after" / "heldout_responses.jsonl").exists():
        from verif_nb.verifier import Verifier

        records = {r.id: r for r in heldout_records(run_dir)}
        outcome = {}
        verifier = Verifier(mode="rule")
        try:
            for name in ("before", "after"):
                rows = [json.loads(x) for x in open(held / name / "heldout_responses.jsonl", encoding="utf-8")]
                results = verifier.verify_batch([(records[r["id"]], r["response"]) for r in rows])
                outcome[name] = {r["id"]: res for r, res in zip(rows, results)}
        finally:
            verifier.close()
        ids = sorted(outcome["before"])
        per: dict = {}
        for cid in sorted({v.name for res in outcome["before"].values() for v in res.verdicts}):

            def passed(res, cid=cid):
                return any(v.name == cid and v.passed for v in res.verdicts)

            per[cid] = mcnemar_p(
                [passed(outcome["before"][i]) for i in ids], [passed(outcome["after"][i]) for i in ids]
            )
        per["all"] = mcnemar_p(
            [outcome["before"][i].reward == 1.0 for i in ids], [outcome["after"][i].reward == 1.0 for i in ids]
        )
        words = {
            name: round(
                sum(
                    len(json.loads(x)["response"].split())
                    for x in open(held / name / "heldout_responses.jsonl", encoding="utf-8")
                )
                / len(ids),
                1,
            )
            for name in ("before", "after")
        }
        stats["heldout_paired"] = {"prompts": len(ids), "mcnemar": per, "mean_words": words}
    return stats


def measure_base(
    checker_ids,
    rollouts: int = 16,
    prompts: int = 4,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
    model_source: str = "pypi:qwen2.5-coder-0.5b",
):
    """Base-model pass rate per hard constraint on sampled rollouts (the GRPO signal a constraint offers).

    For each checker id: ``prompts`` generated prompts x ``rollouts // prompts`` samples at the training
    temperature, cut at ``max_new_tokens`` like the training completions, verified in rule mode. Also reports the
    share of prompt groups whose samples differ in reward (only those give GRPO a non-zero advantage) and the
    share of completions that ended before the cut.

    Example:
        >>> measure_base(["punctuation:no_comma"], rollouts=2, prompts=1, max_new_tokens=4)  # doctest: +SKIP
    """
    import pandas as pd
    import torch

    from verif_nb.evaluation import load_policy
    from verif_nb.train import synthetic_records
    from verif_nb.verifier import Verifier

    model, tok = load_policy(model_source)
    per_prompt = max(1, rollouts // prompts)
    verifier = Verifier(mode="rule")
    rows = []
    try:
        for cid in checker_ids:
            # seed 10_000+: prompts distinct from a training run's synthetic:N (seed 0) draws of the same checker
            recs = synthetic_records(prompts, seed=10_000 + seed, checker_ids=[cid])
            texts = [
                tok.apply_chat_template(
                    [{"role": "user", "content": r.prompt}], add_generation_prompt=True, tokenize=False
                )
                for r in recs
                for _ in range(per_prompt)
            ]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=True,
                    temperature=temperature,
                    top_p=1.0,
                    top_k=0,
                    pad_token_id=tok.pad_token_id,
                )
            new = out[:, enc["input_ids"].shape[1] :]
            ended = [(row == tok.eos_token_id).any().item() or (row == tok.pad_token_id).any().item() for row in new]
            answers = [a.strip() for a in tok.batch_decode(new, skip_special_tokens=True)]
            pairs = [(r, answers[i * per_prompt + j]) for i, r in enumerate(recs) for j in range(per_prompt)]
            rewards = [v.reward for v in verifier.verify_batch(pairs)]
            groups = [rewards[i * per_prompt : (i + 1) * per_prompt] for i in range(len(recs))]
            rows.append(
                {
                    "checker_id": cid,
                    "rollouts": len(rewards),
                    "pass_rate": round(sum(x == 1.0 for x in rewards) / len(rewards), 3),
                    "groups_with_variance": f"{sum(len(set(g)) > 1 for g in groups)}/{len(groups)}",
                    "ended_before_cut": round(sum(ended) / len(ended), 3),
                    "seconds": round(time.perf_counter() - t0, 1),
                    "example": answers[0][:120],
                }
            )
            log.info("%s", rows[-1])
    finally:
        verifier.close()
    return pd.DataFrame(rows).set_index("checker_id")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--budget-min", type=float, default=45)
    ap.add_argument("--out", default="outputs/grpo_evidence")
    ap.add_argument("--eval-prompts", type=int, default=12)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--completion-tokens", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument(
        "--groups",
        nargs="+",
        default=["punctuation", "detectable_format"],
        help="constraint groups of the generated training prompts (and of the IFEval subset)",
    )
    ap.add_argument(
        "--checkers",
        nargs="+",
        default=None,
        metavar="CHECKER_ID",
        help="train only on generated prompts of these checker ids (written to <out>/train_prompts.jsonl "
        "in IFEval layout); --groups then only picks the IFEval subset",
    )
    ap.add_argument(
        "--ifeval-checkers",
        nargs="+",
        default=None,
        metavar="CHECKER_ID",
        help="IFEval subset: prompts with at least one of these instructions (instead of --groups)",
    )
    ap.add_argument(
        "--min-words",
        type=int,
        default=0,
        help="with --checkers: add IFEval's number_words 'at least N' to every prompt, so that cutting the "
        "answer short cannot satisfy no-comma-like constraints on its own (seen at 5e-4: length fell "
        "from 16 to 4 tokens within 10 steps)",
    )
    ap.add_argument("--prompts", type=int, default=200, help="generated prompts with --checkers")
    ap.add_argument("--holdout", type=float, default=0.1)
    ap.add_argument("--tag", default="", help="suffix of the files written to benchmarks/")
    ap.add_argument("--skip-eval", action="store_true")
    ap.add_argument(
        "--measure",
        nargs="*",
        metavar="CHECKER_ID",
        help="only measure the base model's sampled pass rate per checker id (default: every synthetic "
        "template) and write benchmarks/grpo_evidence_base_pass.csv",
    )
    ap.add_argument("--measure-rollouts", type=int, default=16)
    ap.add_argument(
        "--analyse-only",
        action="store_true",
        help="redo the plot and the statistics of a finished --out run (adds 'stats' to its JSON)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.measure is not None:
        from verif_nb.train.data import _CONSTRAINTS

        table = measure_base(
            args.measure or list(_CONSTRAINTS), rollouts=args.measure_rollouts, max_new_tokens=args.completion_tokens
        )
        table.to_csv(HERE / "grpo_evidence_base_pass.csv")
        print(table.drop(columns="example").to_string())
        return

    # The shared 2-core machine runs ~1.7 s per generated token for the 0.5B model (about 10 processes compete),
    # so completions are cut to --completion-tokens; lowercase and no-comma checks judge a cut text fairly.
    stem = "grpo_evidence" + (f"_{args.tag}" if args.tag else "")
    if args.analyse_only:
        frame = RunResult(Path(args.out), 0, metrics=read_train_log(args.out)).metrics_frame()
        cols = [
            c
            for c in frame.columns
            if c
            in (
                "reward",
                "reward_std",
                "verif/rule_score",
                "loss",
                "step_time",
                "completions/mean_length",
                "frac_reward_zero_std",
            )
            or c.startswith("verif/pass_rule/")
        ]
        frame[cols].to_csv(HERE / f"{stem}.csv")
        plot(frame, HERE / f"{stem}.png")
        target = HERE / f"{stem}.json"
        summary = json.loads(target.read_text()) if target.exists() else {}
        summary["stats"] = analyse(frame[cols], Path(args.out))
        target.write_text(json.dumps(summary, indent=1))
        print(json.dumps(summary["stats"], indent=1))
        return

    overrides = {
        "data": {"rule_groups": args.groups, "holdout": args.holdout},
        "grpo": {"max_steps": args.steps, "max_completion_length": args.completion_tokens, "learning_rate": args.lr},
    }
    if args.checkers:
        # data.rule_groups filters by group; one checker of a group (e.g. startend:end_checker without
        # startend:quotation) needs its own prompt file, read back by the IFEval-layout loader.
        from verif_nb.train import synthetic_records

        path = Path(args.out) / "train_prompts.jsonl"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                for i, rec in enumerate(synthetic_records(args.prompts, seed=0, checker_ids=args.checkers)):
                    row = {
                        "key": i,
                        "prompt": rec.prompt,
                        "instruction_id_list": [c.checker_id for c in rec.constraints],
                        "kwargs": [c.kwargs for c in rec.constraints],
                    }
                    if args.min_words:
                        row["prompt"] += f" Answer with at least {args.min_words} words."
                        row["instruction_id_list"].append("length_constraints:number_words")
                        row["kwargs"].append({"relation": "at least", "num_words": args.min_words})
                    fh.write(json.dumps(row) + "\n")
        overrides["data"] = {"source": str(path), "format": "ifeval", "holdout": args.holdout}
    start = time.time()
    result = run_grpo(
        "params/train_cpu_demo.yaml",
        args.out,
        resume=True,
        overrides=overrides,
        callbacks=[TimeBudget(args.budget_min * 60)],
    )
    frame = result.metrics_frame()
    cols = [
        c
        for c in frame.columns
        if c in ("reward", "reward_std", "verif/rule_score", "loss", "step_time", "completions/mean_length")
        or c.startswith("verif/pass_rule/")
    ]
    stem = "grpo_evidence" + (f"_{args.tag}" if args.tag else "")
    frame[cols].to_csv(HERE / f"{stem}.csv")
    plot(frame, HERE / f"{stem}.png")
    train_peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

    if args.skip_eval:
        return
    models = {"before": "pypi:qwen2.5-coder-0.5b", "after": str(result.final_dir)}
    inputs, groups = None, args.groups
    if args.ifeval_checkers:
        from verif_nb.evaluation import ifeval_inputs

        inputs, groups = Path(args.out) / "ifeval_subset.jsonl", None
        wanted = set(args.ifeval_checkers)
        with open(inputs, "w", encoding="utf-8") as fh:
            for row in ifeval_inputs():
                if wanted & set(row["instruction_id_list"]):
                    fh.write(json.dumps(row) + "\n")
    ifeval = compare_ifeval(
        models,
        limit=args.eval_prompts,
        inputs=inputs,
        groups=groups,
        max_new_tokens=args.max_new_tokens,
        out_dir=Path(args.out) / "eval_ifeval",
    )
    held = compare_heldout(
        models,
        heldout_records(args.out),
        limit=args.eval_prompts,
        max_new_tokens=args.max_new_tokens,
        out_dir=Path(args.out) / "eval_heldout",
    )
    rewards = frame["reward"].dropna()
    k = max(1, len(rewards) // 3)
    summary = {
        "steps": result.global_step,
        "train_seconds": round(result.train_seconds, 1),
        "seconds_per_step": round(result.train_seconds / max(result.global_step, 1), 1),
        "reward_seconds": round(result.reward_seconds, 2),
        "reward_first_third": round(float(rewards.iloc[:k].mean()), 3),
        "reward_last_third": round(float(rewards.iloc[-k:].mean()), 3),
        "train_peak_rss_gb": round(train_peak_gb, 2),
        "total_seconds": round(time.time() - start, 1),
        "ifeval": json.loads(ifeval.to_json(orient="index")),
        "heldout": json.loads(held.to_json(orient="index")),
    }
    summary["stats"] = analyse(frame[cols], Path(args.out))
    summary["groups"] = args.groups
    summary["checkers"] = args.checkers
    summary["overrides"] = overrides
    (HERE / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
