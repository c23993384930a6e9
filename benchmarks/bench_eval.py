"""Evaluation throughput: batched generation vs one prompt at a time (benchmarks/RESULTS.md, "Evaluation").

Loads one model once (default the 0.5B PyPI model, fp32), then answers the same prompts greedily with each
batch size (``--batch-sizes 1 8``: 1 is the one-at-a-time baseline), through
:class:`verif_nb.evaluation.TransformersEngine`
exactly as ``verif-nb eval bench`` does. Prompts: a seeded sample of IFEval and of the packaged GSM8K subset
(half each). Reports prompts/s, generated tokens/s and the ratio to batch size 1, and how many answers are
identical to the one-at-a-time answers (left padding must not change a greedy answer, up to float rounding).
A warm-up generation is not timed. Writes benchmarks/bench_eval.json.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/bench_eval.py --prompts 12 --max-new-tokens 64
    PYTHONPATH=. .venv/bin/python benchmarks/bench_eval.py --model tiny   # seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from verif_nb.evaluation import SamplingConfig, TransformersEngine, load_benchmark

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="pypi:qwen2.5-coder-0.5b")
    parser.add_argument("--prompts", type=int, default=12, help="half IFEval, half GSM8K (seeded samples)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(HERE / "bench_eval.json"))
    args = parser.parse_args()

    import torch

    half = args.prompts // 2
    prompts = (
        load_benchmark("ifeval", limit=half, seed=args.seed).prompts
        + load_benchmark("gsm8k", limit=args.prompts - half, seed=args.seed).prompts
    )
    start = time.perf_counter()
    engine = TransformersEngine(args.model, batch_size=1, progress=False)
    load_s = time.perf_counter() - start
    config = SamplingConfig(max_new_tokens=args.max_new_tokens)
    engine.generate(prompts[:1], SamplingConfig(max_new_tokens=4))  # warm-up: first-call allocations
    runs = []
    answers = {}
    for batch_size in args.batch_sizes:
        engine.batch_size = batch_size
        gen = engine.generate(prompts, config)
        answers[batch_size] = [r[0] for r in gen.responses]
        runs.append(
            {
                "batch_size": batch_size,
                "prompts": len(prompts),
                "new_tokens": gen.new_tokens,
                "seconds": round(gen.seconds, 2),
                "prompts_per_s": round(gen.prompts_per_s, 3),
                "tokens_per_s": round(gen.tokens_per_s, 2),
            }
        )
        print(json.dumps(runs[-1]), flush=True)
    base = runs[0]
    for run in runs:
        run["tokens_per_s_ratio"] = round(run["tokens_per_s"] / base["tokens_per_s"], 2)
        run["prompts_per_s_ratio"] = round(run["prompts_per_s"] / base["prompts_per_s"], 2)
        run["answers_identical_to_first"] = sum(
            a == b for a, b in zip(answers[run["batch_size"]], answers[base["batch_size"]])
        )
    result = {
        "model": args.model,
        "dtype": "float32",
        "max_new_tokens": args.max_new_tokens,
        "prompts": f"{half} IFEval + {args.prompts - half} GSM8K, seed {args.seed}",
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_seconds": round(load_s, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
