"""Verifier ablation with the real embedded judge: the measured numbers of issue B section 4.

Runs the Qwen2.5-Coder-0.5B GGUF judge (llama.cpp server, 2 threads) and measures, on the packaged
sample data (VerInstruct records with gold-labelled responses):

* every mode (rule, llm, llm_all, hybrid-product, hybrid-mean): constraint- and response-level accuracy,
  precision, recall, F1 per mode and per taxonomy group, and pairwise accuracy;
* judge calibration on IFEval hard-constraint cases (exact reference verdicts as gold): accuracy and
  yes-rate per constraint group, greedy vs calibrated (P(yes) threshold) balanced accuracy;
* a reward-hacking table (adversarial probes scored under every mode);
* cost per 1,000 verifications per mode (judge calls, tokens, seconds).

Judge answers go to a persistent cache (``--cache``), so a rerun with the same settings makes no calls;
raw per-item results are written next to the tables so ``--tables-only`` rebuilds the tables without a
judge. The gold evaluation and the probes run against a server without per-token logits (cheaper), the
calibration against one with logits (needed for P(yes)).

Usage (the full run takes hours on 2 shared cores; the defaults subsample, see --help):
    PYTHONPATH=. nohup .venv/bin/python benchmarks/bench_verifier_ablation.py \\
        --gold-every 4 --probe-records 6 --calibration-limit 60 > /tmp/ablation.log 2>&1 &
    PYTHONPATH=. .venv/bin/python benchmarks/bench_verifier_ablation.py --tables-only
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import pandas as pd

from verif_nb.data import load_sample
from verif_nb.evaluation import (
    GoldEvaluation,
    calibration_by_group,
    calibration_summary,
    cost_per_thousand,
    evaluate_against_gold,
    judge_calibration,
    load_calibration_cases,
    reward_hacking_table,
)
from verif_nb.verifier import Verifier

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "ablation"
IFEVAL = ROOT.parent / "shared" / "data" / "ifeval"
MODES = ("rule", "llm", "llm_all", "hybrid-product", "hybrid-mean")
# Modes whose judge requests are identical to another mode's (same prompt, response, soft constraints),
# so in one run they are served from the cache; their cold cost is that mode's judge cost plus their own.
SAME_JUDGE_REQUESTS = {"hybrid-product": "llm", "hybrid-mean": "llm"}

log = logging.getLogger("bench_verifier_ablation")


def make_verifiers(judge_config) -> dict[str, Verifier]:
    """One verifier per ablation mode; all judge modes share the judge config (and so its cache)."""
    return {
        "rule": Verifier(mode="rule"),
        "llm": Verifier(mode="llm", judge=judge_config),
        "llm_all": Verifier(mode="llm_all", judge=judge_config),
        "hybrid-product": Verifier(mode="hybrid", combine="product", judge=judge_config),
        "hybrid-mean": Verifier(mode="hybrid", combine="mean", judge=judge_config),
    }


def calibration_cases(limit: int | None):
    """The packaged 120 IFEval cases; built the same way from the shared IFEval files if not packaged yet."""
    try:
        return load_calibration_cases(limit=limit), "verif_nb/data/calibration/ifeval_hard_120.jsonl"
    except (FileNotFoundError, OSError):
        from verif_nb.evaluation import build_calibration_cases

        inputs = [json.loads(x) for x in (IFEVAL / "input_data.jsonl").read_text().splitlines() if x.strip()]
        responses = {}
        for line in (IFEVAL / "responses_llama31_8b_instruct.jsonl").read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                responses[row["prompt"]] = row["response"]
        cases = build_calibration_cases(inputs, responses, n=120, seed=0)
        if limit is not None and limit < len(cases):
            pos = [c for c in cases if c.gold][: (limit + 1) // 2]
            neg = [c for c in cases if not c.gold][: limit // 2]
            cases = pos + neg
        return cases, "built from ../shared/data/ifeval (build_calibration_cases n=120 seed=0; package file absent)"


def run_judge_phases(args: argparse.Namespace) -> dict:
    """Everything that needs the judge; writes the raw per-item files and returns run facts."""
    from verif_nb.judge.server import embedded_judge

    records = load_sample().records
    gold_records = records[:: args.gold_every]
    probe_records = records[:: max(1, len(records) // args.probe_records)][: args.probe_records]
    facts: dict = {
        "gold_records": len(gold_records),
        "all_records": len(records),
        "gold_responses": sum(len(r.responses) for r in gold_records),
        "probe_records": len(probe_records),
        "load_before": os.getloadavg(),
    }
    overrides = {"cache_dir": args.cache, "max_tokens": args.max_tokens, "timeout_s": 600.0}

    if not args.skip_gold or not args.skip_probes:
        with embedded_judge(args.model, threads=args.threads, ctx=args.ctx, logprobs=False, **overrides) as cfg:
            verifiers = make_verifiers(cfg)
            if not args.skip_gold:
                start = time.perf_counter()
                ev = evaluate_against_gold(gold_records, verifiers, progress=True)
                facts["gold_seconds"] = time.perf_counter() - start
                ev.constraints.drop(columns=["reason"]).to_csv(OUT / "raw_gold_constraints.csv", index=False)
                ev.responses.to_csv(OUT / "raw_gold_responses.csv", index=False)
                latency = {m: v.judge.stats.to_dict() for m, v in verifiers.items() if m != "rule"}
                (OUT / "raw_gold_costs.json").write_text(json.dumps({"costs": ev.costs, "judge": latency}, indent=1))
                log.info("gold evaluation done in %.0f s", facts["gold_seconds"])
            if not args.skip_probes:
                start = time.perf_counter()
                probe_verifiers = make_verifiers(cfg)
                table = reward_hacking_table(probe_records, probe_verifiers, progress=True)
                for v in probe_verifiers.values():
                    v.close()
                facts["probe_seconds"] = time.perf_counter() - start
                table.to_csv(OUT / "raw_hacking.csv", index=False)
                log.info("probes done in %.0f s", facts["probe_seconds"])
            for v in verifiers.values():
                v.close()

    if not args.skip_calibration:
        cases, source = calibration_cases(args.calibration_limit)
        facts["calibration_source"] = source
        with embedded_judge(args.model, threads=args.threads, ctx=args.ctx, logprobs=True, **overrides) as cfg:
            from verif_nb.judge import JudgeClient

            client = JudgeClient(cfg)
            start = time.perf_counter()
            frame = judge_calibration(cases, client, progress=True)
            facts["calibration_seconds"] = time.perf_counter() - start
            facts["calibration_judge"] = client.stats.to_dict()
            client.close()
        frame.to_csv(OUT / "raw_calibration.csv", index=False)
    facts["load_after"] = os.getloadavg()
    return facts


def _read_gold() -> GoldEvaluation:
    def obj(frame: pd.DataFrame, col: str) -> pd.DataFrame:
        frame[col] = [None if pd.isna(x) else bool(x) for x in frame[col]]
        frame[col] = frame[col].astype(object)
        return frame

    constraints = obj(pd.read_csv(OUT / "raw_gold_constraints.csv"), "pred")
    responses = obj(pd.read_csv(OUT / "raw_gold_responses.csv"), "pred")
    responses["reward"] = [None if pd.isna(x) else float(x) for x in responses["reward"]]
    responses["gold_score"] = [None if pd.isna(x) else float(x) for x in responses["gold_score"]]
    responses = responses.astype({"reward": object, "gold_score": object})
    costs = json.loads((OUT / "raw_gold_costs.json").read_text())["costs"]
    return GoldEvaluation(constraints=constraints, responses=responses, costs=costs)


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub markdown table (floats to 3 decimals; no tabulate dependency)."""

    def cell(x) -> str:
        if x is None or (isinstance(x, float) and pd.isna(x)):
            return ""
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = [
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|",
    ]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _write(name: str, frame: pd.DataFrame) -> str:
    frame.to_csv(OUT / f"{name}.csv", index=False)
    md = markdown(frame)
    (OUT / f"{name}.md").write_text(md + "\n")
    return md


def cost_table(ev: GoldEvaluation) -> pd.DataFrame:
    """Per 1,000 verifications; modes served from the cache also get their cold cost (own + shared mode's judge)."""
    table = cost_per_thousand(ev.costs)
    table["judge_requests"] = table["calls"] + table["cache_hits"]
    cold = table.set_index("mode")
    rows = []
    for mode, row in cold.iterrows():
        shared = SAME_JUDGE_REQUESTS.get(mode)
        if shared and row["calls"] == 0 and shared in cold.index:
            base = cold.loc[shared]
            rows.append(
                {
                    "mode": mode,
                    "cold_calls": base["calls"],
                    "cold_prompt_tokens": base["prompt_tokens"],
                    "cold_completion_tokens": base["completion_tokens"],
                    "cold_seconds": row["seconds"] + base["seconds"],
                }
            )
        else:
            rows.append(
                {
                    "mode": mode,
                    "cold_calls": row["calls"],
                    "cold_prompt_tokens": row["prompt_tokens"],
                    "cold_completion_tokens": row["completion_tokens"],
                    "cold_seconds": row["seconds"],
                }
            )
    return table.merge(pd.DataFrame(rows), on="mode")


def build_tables() -> dict[str, str]:
    """Tables (CSV + markdown) from the raw files present; returns the markdown of each."""
    md: dict[str, str] = {}
    if (OUT / "raw_gold_constraints.csv").exists():
        ev = _read_gold()
        md["constraint_by_mode"] = _write("constraint_by_mode", ev.constraint_metrics(by=("mode",)))
        md["constraint_by_mode_kind"] = _write("constraint_by_mode_kind", ev.constraint_metrics(by=("mode", "kind")))
        md["constraint_by_taxonomy"] = _write("constraint_by_taxonomy", ev.constraint_metrics(by=("mode", "taxonomy")))
        md["response_by_mode"] = _write("response_by_mode", ev.response_metrics(by=("mode",)))
        md["pairwise"] = _write("pairwise", ev.pairwise_accuracy())
        md["cost"] = _write("cost_per_1000", cost_table(ev))
    if (OUT / "raw_hacking.csv").exists():
        hacking = pd.read_csv(OUT / "raw_hacking.csv")
        md["hacking"] = _write("hacking", hacking)
        wide = hacking.pivot(index="probe", columns="mode", values="mean_reward")[list(MODES)].reset_index()
        md["hacking_wide"] = _write("hacking_mean_reward", wide)
    if (OUT / "raw_calibration.csv").exists():
        frame = pd.read_csv(OUT / "raw_calibration.csv")
        frame["pred"] = [None if pd.isna(x) else bool(x) for x in frame["pred"]]
        frame["pred"] = frame["pred"].astype(object)
        frame["gold"] = frame["gold"].astype(bool)
        md["calibration_by_group"] = _write("calibration_by_group", calibration_by_group(frame))
        summary = calibration_summary(frame)
        (OUT / "calibration_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        md["calibration_summary"] = _write(
            "calibration_summary",
            pd.DataFrame([summary]).T.reset_index().rename(columns={"index": "measure", 0: "value"}),
        )
    return md


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b", help="embedded judge model (see verif-nb judge serve)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--cache",
        default=str(Path.home() / ".cache" / "verif_nb" / "ablation_judge_cache"),
        help="judge answer cache: a rerun with the same settings makes no calls",
    )
    parser.add_argument(
        "--gold-every", type=int, default=1, help="use every N-th sample record for the gold evaluation"
    )
    parser.add_argument("--probe-records", type=int, default=20, help="records the hacking probes are built from")
    parser.add_argument("--calibration-limit", type=int, default=None, help="balanced subset of the 120 cases")
    parser.add_argument("--skip-gold", action="store_true")
    parser.add_argument("--skip-probes", action="store_true")
    parser.add_argument("--skip-calibration", action="store_true")
    parser.add_argument("--tables-only", action="store_true", help="rebuild tables from the raw files; no judge")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    if not args.tables_only:
        start = time.perf_counter()
        facts = run_judge_phases(args)
        facts.update(
            seconds=time.perf_counter() - start,
            date=time.strftime("%Y-%m-%d %H:%M"),
            args={k: v for k, v in vars(args).items() if k != "cache"},
        )
        previous = json.loads((OUT / "run.json").read_text()) if (OUT / "run.json").exists() else {}
        (OUT / "run.json").write_text(json.dumps({**previous, **facts}, indent=1) + "\n")
    tables = build_tables()
    for name, md in tables.items():
        print(f"\n### {name}\n\n{md}")
    (OUT / "tables.md").write_text("".join(f"### {name}\n\n{md}\n\n" for name, md in tables.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
