"""The sandbox's scaling table (issue 19) on a bigger machine, as one prepared run: a markdown table to paste.

Every (shape, workers) cell of ``bench_sandbox.measure``: the GRPO shape (32 prompts x 16 rollouts, 624 checks,
burst after an idle second) and the dataset shape (2,840 functions x 1 response, every pass over fresh function
texts, sustained), at 1, 2, 4 and 8 workers, each side by side with the simple in-process ``exec`` baseline on the
same checks. Then the issue's targets, each with what was measured. Cells that would run past ``--budget-s`` are
skipped and named (about 2 minutes on 16 cores is the aim; the 2-core machine takes longer).

Needs only what ``tests/test_sandbox*.py`` needs (the package on ``PYTHONPATH``, ``pyseccomp``, ``psutil``,
``libseccomp2``; bubblewrap where available) and ``../shared/data`` beside the checkout.

Run (from the repository root):
    PYTHONPATH=. python benchmarks/device_check_sandbox.py [--workers 1 2 4 8] [--budget-s 240]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_sandbox  # noqa: E402  (beside this file)

DATASET_FUNCTIONS = 2840
FUNCTIONS_PER_RECORD = 1.4  # shape_tasks: 40% of records carry two functions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--budget-s", type=float, default=240.0, help="skip cells that would start after this")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions per cell")
    parser.add_argument("--json", type=Path, help="also write the cells here")
    args = parser.parse_args()
    started = time.monotonic()
    print(
        f"# sandbox scaling: Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    functions = bench_sandbox.rule_functions_from_examples() + bench_sandbox.TYPICAL_FUNCTIONS
    responses = [
        json.loads(line)["response"]
        for line in (bench_sandbox.SHARED / "ifeval" / "responses_llama31_8b_instruct.jsonl").read_text().splitlines()
    ]
    records = round(DATASET_FUNCTIONS / FUNCTIONS_PER_RECORD)
    print(bench_sandbox.TABLE_HEAD, flush=True)
    cells, skipped, isolation = [], [], None
    for shape in ("grpo", "dataset"):
        for workers in args.workers:
            if time.monotonic() - started > args.budget_s:
                skipped.append(f"{shape} x {workers}")
                continue
            repeat = args.repeat if shape == "grpo" else max(2, args.repeat // 2)
            cell = bench_sandbox.measure(
                shape, workers, functions, responses, records=records, repeat=repeat, sustained=1
            )
            isolation = cell.pop("isolation")
            cells.append(cell)
            print(bench_sandbox.table_row(cell), flush=True)
    print(f"\nisolation: {isolation}")
    if skipped:
        print(f"skipped (past the {args.budget_s:.0f} s budget): {', '.join(skipped)}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}; {time.monotonic() - started:.0f} s in all\n")
    print("\n".join(targets(cells)))
    if args.json:
        args.json.write_text(json.dumps(cells, indent=1))
    return 0


def targets(cells: list[dict]) -> list[str]:
    """Issue 19's targets for a 16-core machine, each with the measured figure (met or not)."""
    by = {(c["shape"], c["workers"]): c for c in cells}
    lines = [f"targets (issue 19, set for 16 cores; this machine has {os.cpu_count()}):"]
    grpo = [by[("grpo", w)]["ratio"] for w in sorted(w for s, w in by if s == "grpo")]
    if grpo:
        rising = all(b >= a * 0.95 for a, b in zip(grpo, grpo[1:]))  # within 5%: runs are noisy
        shown = ", ".join(f"{r:.2f}" for r in grpo)
        lines.append(f"- GRPO burst non-decreasing with workers: {'met' if rising else 'NOT met'} ({shown})")
    if ("grpo", 4) in by:
        ratio = by[("grpo", 4)]["ratio"]
        lines.append(f"- GRPO burst >= 5x simple at 4 workers: {'met' if ratio >= 5 else 'NOT met'} ({ratio:.2f}x)")
    if ("dataset", 8) in by:
        cell = by[("dataset", 8)]
        met = cell["ratio"] >= 1.0
        lines.append(
            f"- dataset >= 1.0x simple at 8 workers: {'met' if met else 'NOT met'} ({cell['ratio']:.2f}x, "
            f"{cell['functions_per_s']:,.0f} functions/s)"
        )
    cpu = [c["caller_cpu_ms_per_function"] for c in cells if c["shape"] == "dataset"]
    if cpu:
        lines.append(f"- the caller's CPU per function, dataset shape: {min(cpu):.3f}-{max(cpu):.3f} ms")
    return lines


if __name__ == "__main__":
    sys.exit(main())
