"""``verif-nb eval bench``: several models on IFEval, IFBench and GSM8K, one table with paired tests.

Example:
    verif-nb eval bench ifeval ifbench gsm8k --model before=pypi:qwen2.5-coder-0.5b \\
        --model after=outputs/cpu_demo/final --limit 50 --out outputs/eval-cpu-demo
"""

from __future__ import annotations

import argparse
from typing import Any

from verif_nb.model_eval._bench import BENCHMARKS
from verif_nb.model_eval._generate import ENGINES, SamplingConfig
from verif_nb.settings import add_options, from_options

# SamplingConfig fields offered as options (--max-new-tokens, --samples, --temperature, --top-p, --seed)
SAMPLING_FIELDS: tuple[str, ...] = ("seed", "samples", "temperature", "top_p", "max_new_tokens")


def _bench(args: argparse.Namespace) -> int:
    from verif_nb.model_eval._run import run_eval
    from verif_nb.train.cli import _models

    sampling = from_options(SamplingConfig, args, SAMPLING_FIELDS)  # checked before any model is loaded
    inputs = {
        name: path
        for name, path in (
            ("ifeval", args.ifeval_inputs),
            ("ifbench", args.ifbench_inputs),
            ("gsm8k", args.gsm8k_inputs),
        )
        if path
    }
    options: dict[str, Any] = {}
    if args.engine == "vllm":
        options = {
            "tensor_parallel_size": args.tensor_parallel_size,
            "gpu_memory_utilization": args.gpu_memory_utilization,
        }
    report = run_eval(
        _models(args.model),
        args.benchmarks,
        limit=args.limit,
        seed=sampling.seed,
        sampling=sampling,
        batch_size=args.batch_size,
        engine=args.engine,
        inputs=inputs,
        system_prompt=args.system_prompt,
        resamples=args.resamples,
        progress=not args.no_progress,
        engine_options=options,
        out_dir=args.out,
        force=args.force,
    )
    print(report.to_markdown())
    print(f"wrote {args.out}/eval_table.csv, eval_table.md, eval.json")
    return 0


def register_bench(eval_subparsers: Any) -> None:
    """Add ``bench`` under ``verif-nb eval`` (next to ``eval ifeval`` and ``eval heldout``)."""
    bench = eval_subparsers.add_parser(
        "bench",
        help="models on ifeval / ifbench / gsm8k: one table of scores, differences and paired tests",
        description="Answer each benchmark with every model (the first is the baseline) and write one table "
        "(eval_table.csv / .md, eval.json): score, difference, paired bootstrap 95% CI, exact "
        "McNemar p for prompt-level metrics, generation tokens/s.",
    )
    bench.add_argument(
        "benchmarks", nargs="+", choices=BENCHMARKS, metavar="BENCHMARK", help=f"one or more of {', '.join(BENCHMARKS)}"
    )
    bench.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]SOURCE",
        help="model source or checkpoint folder (repeatable; the first is the baseline)",
    )
    bench.add_argument("--out", required=True, help="folder for the table, responses and verdicts")
    bench.add_argument(
        "--limit", type=int, help="a seeded sample of N items per benchmark, the same for every model (default: all)"
    )
    add_options(bench, SamplingConfig(), SAMPLING_FIELDS)
    bench.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (transformers)")
    bench.add_argument(
        "--engine",
        choices=ENGINES,
        default="transformers",
        help="transformers (CPU or one GPU) or vllm (GPU machines, the gpu extra)",
    )
    bench.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model")
    bench.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm: share of GPU memory")
    bench.add_argument("--ifeval-inputs", help="IFEval input_data.jsonl (default: the packaged copy)")
    bench.add_argument("--ifbench-inputs", help="IFBench_test.jsonl (default $VERIF_NB_IFBENCH_INPUTS)")
    bench.add_argument("--gsm8k-inputs", help="a GSM8K-format jsonl (default: the packaged 200-problem subset)")
    bench.add_argument("--system-prompt", help="system message before every prompt (default: none)")
    bench.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    bench.add_argument("--force", action="store_true", help="replace a table already in --out")
    bench.add_argument("--no-progress", action="store_true", help="no progress bars")
    bench.set_defaults(func=_bench)
