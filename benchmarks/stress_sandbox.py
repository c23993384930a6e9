"""Stress test of issue 19's fairness and bounds (not CI): hostile rows of every class mixed with honest rows.

The attack rows are the ones kept as tests in ``tests/test_sandbox_fairness.py``, replayed at scale. Three parts:

A. **Fairness and memory** (a pool with the Python layers off: the full interpreter an escape gives a row).
   Each run is one batch: N spinners (class 2: report, then spin), N hogs (class 3: 300 MB each, kept after the
   verdict), askers (class 4: ``llm_extract`` answered by a host function that sleeps longer than the time
   limit), and honest rows (quick ones and CPU-heavy ones, a sixth of the time limit each). Per run: honest
   verdicts right, the askers' verdicts right, the peak RSS of the pool's process tree against
   ``workers x parallel x memory_mb`` + the idle pool's own, and how many of its processes stayed runnable.
B. **Python layers** (every layer on): N class-1 gadget rows and N class-6 readers of a secret in a folder on the
   caller's ``sys.path``, with honest rows: how many reached the real builtins, how many read the secret.
C. **The caller against one row's size** (class 5): one function of each size and shape checked in a fresh
   caller process beside honest rows: the caller's time and peak RSS growth. A bounded caller is flat.

Run:
    PYTHONPATH=. .venv/bin/python benchmarks/stress_sandbox.py --runs 10
Timings depend on the machine's load; the script prints the load average beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.test_sandbox_fairness import (
    ASKS_JUDGE,
    CORES,
    FILE_SECRET,
    HOG,
    HONEST,
    HUGE_HARNESS,
    REACH,
    REAL_BUILTINS_TEST,
    SECRET_XML,
    TreeSampler,
    gadget_code,
    heavy_tasks,
    huge_function,
    reader_rows,
    spinners,
    warm,
)
from verif_nb.sandbox import CheckTask, SandboxPool

MB = 1 << 20


def fairness_run(args) -> dict:
    """One mixed batch; returns what the caller and the honest rows got."""

    def llm_extract(instruction, response, question):
        time.sleep(args.host_s)
        return f"answer to {response}"

    heavy, heavy_expected = heavy_tasks(args.n, args.timeout / 6)
    honest = heavy + [CheckTask(c, "instruction", r) for c, r, _ in HONEST] * max(1, args.n // len(HONEST))
    expected = heavy_expected + [e for _, _, e in HONEST] * max(1, args.n // len(HONEST))
    hogs = [CheckTask(HOG.format(mb=args.hog_mb, tag=i), "instruction", "x") for i in range(args.n)]
    askers = [CheckTask(ASKS_JUDGE, "instruction", f"response {i}") for i in range(args.askers)]
    tasks = hogs + spinners(args.n) + askers + honest  # the hogs first: they must answer before anything spins
    with SandboxPool(
        workers=args.workers,
        parallel=args.parallel,
        timeout_s=args.timeout,
        memory_mb=args.memory_mb,
        host_functions={"llm_extract": llm_extract},
        _python_layers=False,
    ) as pool:
        warm(pool)
        with TreeSampler(pool) as sampler:
            started = time.monotonic()
            results = pool.check_batch(tasks)
            wall = time.monotonic() - started
        bound = sampler.start_rss + pool.workers * pool.parallel * pool.memory_mb * MB
    honest_results = results[len(tasks) - len(honest) :]
    hog_results, asker_results = results[: args.n], results[2 * args.n : 2 * args.n + args.askers]
    late = [n for t, n in sampler.runnable if t >= started + 0.5 * wall]
    return {
        "honest_right": sum(r.passed == e for r, e in zip(honest_results, expected)) / len(honest),
        "askers_right": sum(r.passed is True for r in asker_results) / max(1, len(asker_results)),
        "hogs_answered": sum(r.passed is True for r in hog_results),
        "peak_mb": sampler.peak_rss / MB,
        "bound_mb": bound / MB,
        "runnable_median": sorted(late)[len(late) // 2] if late else 0,
        "wall_s": wall,
    }


def layers_run(args) -> dict:
    """Class-1 gadgets and class-6 readers with every layer on; the secret's folder is on this process's
    sys.path when the pool starts (as the working directory is under ``python -m``)."""
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)  # a project folder as people have them (mkdtemp makes it private)
        secret = Path(folder) / "credentials.xml"
        secret.write_text(SECRET_XML)
        sys.path.insert(0, folder)
        try:
            gadgets = [gadget_code(sorted(REACH)[i % len(REACH)], REAL_BUILTINS_TEST) for i in range(args.n)]
            readers = list(reader_rows(secret).values())
            readers = [readers[i % len(readers)] for i in range(args.n)]
            honest = [CheckTask(c, "instruction", r) for c, r, _ in HONEST]
            with SandboxPool(workers=args.workers, timeout_s=args.timeout) as pool:
                results = pool.check_batch(
                    [CheckTask(g, "i", "x") for g in gadgets] + [CheckTask(r, "i", "x") for r in readers] + honest
                )
        finally:
            sys.path.remove(folder)
    gadget_results, reader_results = results[: args.n], results[args.n : 2 * args.n]
    honest_results = results[2 * args.n :]
    return {
        "breaches": sum(r.passed is True for r in gadget_results),
        "leaks": sum(r.passed is True or FILE_SECRET in (r.error or "") for r in reader_results),
        "honest_right": sum(r.passed == e for r, (_, _, e) in zip(honest_results, HONEST)) / len(HONEST),
    }


def caller_run(shape: str, size: int, timeout: float) -> dict:
    """One huge function in a fresh caller process (as the class-5 test does): its time and RSS growth."""
    huge = huge_function(shape, size)
    try:
        done = subprocess.run(
            [sys.executable, "-c", HUGE_HARNESS],
            input=json.dumps([huge, [(c, r) for c, r, _ in HONEST]]),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"elapsed": float("inf"), "growth_mb": float("nan"), "verdict": f"caller still busy after {timeout} s"}
    if done.returncode != 0:
        return {"elapsed": float("nan"), "growth_mb": float("nan"), "verdict": done.stderr[-200:]}
    outcome = json.loads(done.stdout.splitlines()[-1])
    verdict = outcome["verdicts"][0]
    return {
        "elapsed": outcome["elapsed"],
        "growth_mb": outcome["growth"] / MB,
        "verdict": f"{verdict[0]} {(verdict[1] or '')[:60]}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--n", type=int, default=4 * CORES, help="hostile rows of each class per run")
    parser.add_argument("--askers", type=int, default=2, help="rows whose host call is slow, per run")
    parser.add_argument("--host-s", type=float, default=3.0, help="how long the host answers llm_extract")
    parser.add_argument("--hog-mb", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--memory-mb", type=int, default=512)
    parser.add_argument("--sizes-mb", default="0.1,0.5,1.0,1.5", help="class 5: function sizes")
    parser.add_argument("--caller-timeout", type=float, default=120.0)
    parser.add_argument("--skip", default="", help="parts to skip, e.g. 'C' or 'A,B'")
    args = parser.parse_args()
    skip = set(args.skip.upper().split(",")) - {""}
    print(f"# stress_sandbox: {CORES} cores, load average {os.getloadavg()[0]:.1f} at start, n={args.n}\n")

    if "A" not in skip:
        print("## A. Fairness and memory (Python layers off), one mixed batch per run\n")
        print(f"{args.n} spinners, {args.n} hogs of {args.hog_mb} MB, {args.askers} askers ({args.host_s} s host call)")
        print(f"honest rows; workers={args.workers}, parallel={args.parallel}, timeout={args.timeout} s\n")
        print("| run | honest right | askers right | hogs answered | peak RSS MB | bound MB | runnable* | wall s |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        runs = []
        for i in range(args.runs):
            run = fairness_run(args)
            runs.append(run)
            print(
                f"| {i + 1} | {run['honest_right']:.0%} | {run['askers_right']:.0%} | "
                f"{run['hogs_answered']}/{args.n} | {run['peak_mb']:.0f} | {run['bound_mb']:.0f} | "
                f"{run['runnable_median']} | {run['wall_s']:.1f} |",
                flush=True,
            )
        print("\n*: the pool's processes runnable at the median sample of the batch's second half")
        print(
            f"\nhonest verdicts right: mean {statistics.mean(r['honest_right'] for r in runs):.1%}, "
            f"worst {min(r['honest_right'] for r in runs):.0%}; askers right: "
            f"{statistics.mean(r['askers_right'] for r in runs):.0%}; peak/bound: worst "
            f"{max(r['peak_mb'] / r['bound_mb'] for r in runs):.2f}\n"
        )

    if "B" not in skip:
        print("## B. Python layers (every layer on): class-1 gadgets and class-6 readers\n")
        print("| run | real builtins reached | secret read | honest right |")
        print("|---:|---:|---:|---:|")
        for i in range(args.runs):
            run = layers_run(args)
            print(f"| {i + 1} | {run['breaches']}/{args.n} | {run['leaks']}/{args.n} | {run['honest_right']:.0%} |")
        print()

    if "C" not in skip:
        print("## C. The caller against one row's size (fresh caller per row)\n")
        print("| shape | size MB | caller s | caller peak RSS growth MB | the function's verdict |")
        print("|---|---:|---:|---:|---|")
        for shape in ("memory", "time"):
            for size_mb in (float(s) for s in args.sizes_mb.split(",")):
                run = caller_run(shape, int(size_mb * MB), args.caller_timeout)
                print(
                    f"| {shape} | {size_mb} | {run['elapsed']:.1f} | {run['growth_mb']:.0f} | {run['verdict']} |",
                    flush=True,
                )
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
