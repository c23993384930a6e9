"""GRPO step cost: the verif-nb reward vs. a trivial reward, in one run (benchmarks/RESULTS.md, "GRPO step cost").

Trains the same configuration (params/train_cpu_demo.yaml: the 0.5B PyPI model with LoRA, 4 generations) for a
few steps three times in one process, on the embedded sample records (VerInstruct: dataset-code rule constraints
run in the sandbox, soft constraints judged):

* ``trivial``: a reward that only looks at the completion length (no verification at all);
* ``rule``: the verifier in rule mode (sandboxed dataset code);
* ``hybrid``: rule checks plus the embedded llama.cpp judge (Qwen2.5-Coder-0.5B, started here; verdicts only,
  no log-probabilities unless ``--judge-logprobs``: computing them costs the judge ~2.5x).

Reports seconds per step, the reward's seconds per step and its share of the step, and the peak resident memory
of the trainer process plus the judge server (sampled every 0.2 s). Writes benchmarks/bench_grpo.json.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_grpo.py --steps 2
    PYTHONPATH=. .venv/bin/python benchmarks/bench_grpo.py --model tiny --steps 3   # the loop only, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import tempfile
import threading
import time
from pathlib import Path

import psutil

from verif_nb.rewards import make_trl_reward
from verif_nb.train import build_dataset, build_grpo_config, load_params, load_training_records, resolve_model
from verif_nb.verifier import Verifier

HERE = Path(__file__).resolve().parent
log = logging.getLogger("bench_grpo")


class PeakRss:
    """Sample the summed RSS of this process and of extra pids (the judge server) in a background thread."""

    def __init__(self, pids: list[int] | None = None, every_s: float = 0.2):
        self.procs = [psutil.Process()] + [psutil.Process(p) for p in pids or []]
        self.every_s = every_s
        self.peak = self.peak_trainer = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = [p.memory_info().rss for p in self.procs if p.is_running()]
            self.peak = max(self.peak, sum(rss))
            self.peak_trainer = max(self.peak_trainer, rss[0])
            self._stop.wait(self.every_s)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class TimedTrivial:
    """A reward that does no verification: 1.0 for completions longer than the median, else 0.0."""

    __name__ = "trivial"

    def __init__(self):
        self.total_seconds = 0.0
        self.calls = 0

    def __call__(self, prompts, completions, **_):
        start = time.perf_counter()
        lengths = [len(str(c)) for c in completions]
        median = sorted(lengths)[len(lengths) // 2]
        out = [1.0 if n > median else 0.0 for n in lengths]
        self.total_seconds += time.perf_counter() - start
        self.calls += 1
        return out


def run_variant(name: str, params, model_path, tokenizer, records, verifier_factory, judge_pid: int | None) -> dict:
    from trl import GRPOTrainer

    from verif_nb.train.params import TrainParams  # noqa: F401 - params is a TrainParams

    verifier = verifier_factory() if verifier_factory else None
    reward = make_trl_reward(verifier) if verifier else TimedTrivial()
    peft_config = None
    if params.lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(**{"task_type": "CAUSAL_LM", **params.lora})
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_grpo_config(params, tmp)
        trainer = GRPOTrainer(
            model=str(model_path),
            reward_funcs=[reward],
            args=cfg,
            train_dataset=build_dataset(records, tokenizer, params.data.max_prompt_tokens),
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        with PeakRss([judge_pid] if judge_pid else None) as rss:
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
    if verifier is not None:
        verifier.close()
    steps = trainer.state.global_step
    step_times = [h["step_time"] for h in trainer.state.log_history if "step_time" in h]
    rewards = [h["reward"] for h in trainer.state.log_history if h.get("reward") is not None]
    row = {
        "variant": name,
        "steps": steps,
        "seconds_per_step": round(seconds / steps, 2),
        "trainer_step_time": round(sum(step_times) / len(step_times), 2) if step_times else None,
        "reward_seconds_per_step": round(reward.total_seconds / steps, 3),
        "reward_share": round(reward.total_seconds / seconds, 4),
        "mean_reward": round(sum(rewards) / len(rewards), 3) if rewards else None,
        "judge_errors": int(getattr(verifier, "metrics", {}).get("judge_errors", 0)) if verifier else 0,
        "peak_rss_gb_trainer": round(rss.peak_trainer / 2**30, 2),
        "peak_rss_gb_total": round(rss.peak / 2**30, 2),
    }
    log.info("%s", row)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="pypi:qwen2.5-coder-0.5b")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--completion-tokens", type=int, default=24)
    ap.add_argument("--variants", default="trivial,rule,hybrid")
    ap.add_argument("--judge-threads", type=int, default=1)
    ap.add_argument(
        "--judge-logprobs",
        action="store_true",
        help="ask the judge for token log-probabilities (p_yes); a training reward needs only the verdict",
    )
    ap.add_argument("--out", default=str(HERE / "bench_grpo.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    overrides = {
        "model": {"source": args.model},
        "data": {"source": "sample", "rule_groups": None, "holdout": 0.0, "require": None, "max_prompt_tokens": 512},
        "grpo": {
            "max_steps": args.steps,
            "max_completion_length": args.completion_tokens,
            "save_strategy": "no",
            "logging_steps": 1,
        },
    }
    if args.model == "tiny":
        overrides["lora"] = None
    params = load_params(HERE.parent / "params" / "train_cpu_demo.yaml", overrides)
    from transformers import AutoTokenizer

    model_path = resolve_model(params.model.source)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), padding_side="left")
    records = load_training_records(params.data, verifier_mode="hybrid")
    variants = args.variants.split(",")

    rows = []
    for name in variants:
        if name == "hybrid":
            continue
        factory = None if name == "trivial" else (lambda: Verifier(mode="rule"))
        rows.append(run_variant(name, params, model_path, tokenizer, records, factory, None))
    if "hybrid" in variants:
        from verif_nb.judge.server import embedded_judge, read_pid_file

        with contextlib.ExitStack() as stack:
            judge_cfg = stack.enter_context(embedded_judge(threads=args.judge_threads, logprobs=args.judge_logprobs))
            port = int(judge_cfg.base_url.rsplit(":", 1)[1].split("/")[0])
            info = read_pid_file(port)
            rows.append(
                run_variant(
                    "hybrid",
                    params,
                    model_path,
                    tokenizer,
                    records,
                    lambda: Verifier(mode="hybrid", judge=judge_cfg),
                    info.pid if info else None,
                )
            )
    base = next((r for r in rows if r["variant"] == "trivial"), None)
    for row in rows:
        if base:
            row["step_vs_trivial"] = round(row["seconds_per_step"] / base["seconds_per_step"], 3)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"2-core CPU, 24 GiB ({platform.processor() or 'x86_64'})",
        "model": params.model.source,
        "lora": params.lora is not None,
        "num_generations": params.grpo.get("num_generations"),
        "max_completion_length": args.completion_tokens,
        "judge_logprobs": args.judge_logprobs,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
