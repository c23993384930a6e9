"""``verif-nb eval``: models and checkpoints answer prompts, and the answers are scored.

* ``eval bench BENCHMARK...``: several models on IFEval, IFBench and GSM8K, one table with paired tests (the
  canonical command);
* ``eval ifeval``: an alias of ``eval bench ifeval`` (kept for its options: ``--inputs`` and ``--groups``);
* ``eval heldout``: the held-out records of a training run, answered greedily and rule-verified.

Scoring a file of responses that already exist is ``verif-nb ifeval score`` / ``ifbench score``.

Example:
    verif-nb eval bench ifeval ifbench gsm8k --model before=pypi:qwen2.5-coder-0.5b \\
        --model after=outputs/cpu_demo/final --limit 50 --out outputs/eval-cpu-demo
"""

from __future__ import annotations

import argparse
from typing import Any

from verif_nb.evaluation._generate import SamplingConfig
from verif_nb.settings import add_options, from_options

BENCHMARKS = ("ifeval", "ifbench", "gsm8k")  # verif_nb.evaluation._bench.BENCHMARKS (asserted in the tests)
ENGINES = ("transformers", "vllm")  # verif_nb.evaluation._generate.ENGINES (asserted in the tests)
# SamplingConfig fields offered as options (--seed, --samples, --temperature, --top-p, --max-new-tokens)
SAMPLING_FIELDS: tuple[str, ...] = ("seed", "samples", "temperature", "top_p", "max_new_tokens")


def models_option(items: list[str]) -> dict[str, str]:
    """``--model [NAME=]SOURCE`` items as ``{name: source}``; a bare folder is named by its last part.

    Example:
        >>> models_option(["before=tiny", "outputs/run/final"])
        {'before': 'tiny', 'final': 'outputs/run/final'}
    """
    models: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        if not sep:
            name, source = item.rstrip("/").split("/")[-1] or item, item
        models[name] = source
    return models


def _bench(args: argparse.Namespace) -> int:
    from verif_nb.evaluation._run import run_eval

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
        models_option(args.model),
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
        groups=args.groups,
    )
    print(report.to_markdown())
    print(f"wrote {args.out}/eval_table.csv, eval_table.md, eval.json")
    return 0


def _eval_heldout(args: argparse.Namespace) -> int:
    from verif_nb.evaluation._compare import compare_heldout
    from verif_nb.train.run import heldout_records

    table = compare_heldout(
        models_option(args.model),
        heldout_records(args.run),
        limit=args.limit,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        out_dir=args.out,
    )
    print(table.to_string())
    return 0


def _bench_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[NAME=]SOURCE",
        help="model source or checkpoint folder (repeatable; the first is the baseline)",
    )
    parser.add_argument("--out", required=True, help="folder for the table, responses and verdicts")
    parser.add_argument(
        "--limit", type=int, help="a seeded sample of N items per benchmark, the same for every model (default: all)"
    )
    parser.add_argument("--groups", nargs="+", help="only prompts whose instructions all belong to these groups")
    add_options(parser, SamplingConfig(), SAMPLING_FIELDS)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (transformers)")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="transformers",
        help="transformers (CPU or one GPU) or vllm (GPU machines, the gpu extra)",
    )
    parser.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9, help="vllm: share of GPU memory")
    parser.add_argument("--ifbench-inputs", help="IFBench_test.jsonl (default $VERIF_NB_IFBENCH_INPUTS)")
    parser.add_argument("--gsm8k-inputs", help="a GSM8K-format jsonl (default: the packaged 200-problem subset)")
    parser.add_argument("--system-prompt", help="system message before every prompt (default: none)")
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--force", action="store_true", help="replace a table already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval bench``, its alias ``eval ifeval``, and ``eval heldout`` to the ``verif-nb`` command line."""
    ev = subparsers.add_parser("eval", help="models or checkpoints answer benchmark prompts; the answers are scored")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True)
    bench = ev_sub.add_parser(
        "bench",
        help="models on ifeval / ifbench / gsm8k: one table of scores, differences and paired tests",
        description="Answer each benchmark with every model (the first is the baseline) and write one table "
        "(eval_table.csv / .md, eval.json): score, difference, paired bootstrap 95%% CI, exact "
        "McNemar p for prompt-level metrics, generation tokens/s.",
    )
    bench.add_argument(
        "benchmarks", nargs="+", choices=BENCHMARKS, metavar="BENCHMARK", help=f"one or more of {', '.join(BENCHMARKS)}"
    )
    _bench_options(bench)
    bench.add_argument("--ifeval-inputs", help="IFEval input_data.jsonl (default: the packaged copy)")
    bench.set_defaults(func=_bench)

    ifeval = ev_sub.add_parser(
        "ifeval", help="alias of `eval bench ifeval` (--inputs is its --ifeval-inputs)", description=bench.description
    )
    _bench_options(ifeval)
    ifeval.add_argument(
        "--inputs",
        dest="ifeval_inputs",
        help="IFEval input_data.jsonl (default $VERIF_NB_IFEVAL_INPUTS, else the copy shipped in the package)",
    )
    ifeval.set_defaults(func=_bench, benchmarks=["ifeval"])

    heldout = ev_sub.add_parser("heldout", help="the held-out records of a run, answered greedily and rule-verified")
    heldout.add_argument(
        "--model", action="append", required=True, metavar="[NAME=]SOURCE", help="model source (repeatable)"
    )
    heldout.add_argument("--run", required=True, help="the run folder (holds params.yaml and data_split.json)")
    heldout.add_argument("--limit", type=int, help="evaluate the first N held-out records only")
    heldout.add_argument("--out", required=True, help="folder for responses and the table")
    heldout.add_argument("--max-new-tokens", type=int, default=256)
    heldout.add_argument("--batch-size", type=int, default=8)
    heldout.set_defaults(func=_eval_heldout)
