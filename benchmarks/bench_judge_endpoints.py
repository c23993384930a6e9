"""Judge throughput with several servers: 1, 2 and 4 stub servers at the same per-server concurrency.

Each stub (``tests/stub_judge_server.py``) is its own process on 127.0.0.1 and answers every request
after a fixed delay, so one server's capacity is ``concurrency / delay`` calls per second and N servers
should give N times that. ``JudgeClient.run_many`` sends distinct judgments (no cache) with
``base_url`` listing the servers and ``concurrency`` per server. Rounds are interleaved (1, 2, 4, 1, 2,
4, ...) so load drift on the machine hits every setting; the median per setting is reported, as a ratio
to one server. A last row kills one of two servers a third of the way into a run and counts what
happened to every call.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_judge_endpoints.py [--delay 0.2] [--concurrency 8] \\
        [--rounds 3] [--out benchmarks/results/judge_endpoints.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verif_nb.judge import JudgeClient, JudgeConfig, JudgeRequest  # noqa: E402

SERVER_COUNTS = (1, 2, 4)


def start_stubs(n: int, delay: float) -> tuple[list[subprocess.Popen], list[str]]:
    """``n`` stub servers, each in its own process; returns the processes and their base URLs."""
    procs, urls = [], []
    for _ in range(n):
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "stub_judge_server.py"), "--delay", str(delay)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"stub server did not start: {line!r}")
        procs.append(proc)
        urls.append(line.split()[1])
    return procs, urls


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.kill()
        proc.wait()


def requests(n: int, tag: str) -> list[JudgeRequest]:
    return [
        JudgeRequest.score("Describe your morning.", f"{tag}: response number {i}.", ["Be concise."]) for i in range(n)
    ]


def one_round(urls: list[str], concurrency: int, calls: int, tag: str) -> dict:
    client = JudgeClient(
        JudgeConfig(
            base_url=urls, model="stub-judge", concurrency=concurrency, timeout_s=60, backoff_s=0.05, max_retries=3
        )
    )
    start = time.perf_counter()
    outcomes = client.run_many(requests(calls, tag), progress=False)
    seconds = time.perf_counter() - start
    ok = sum(o.passed is not None for o in outcomes)
    return {
        "servers": len(urls),
        "calls": calls,
        "seconds": seconds,
        "calls_per_s": calls / seconds,
        "verdicts": ok,
        "failed": client.stats.failed,
        "per_server": [s["attempts"] for s in client.endpoints.snapshot()],
    }


def kill_round(delay: float, concurrency: int, calls: int) -> dict:
    """Two servers, one killed a third of the way into the run (by the expected duration)."""
    procs, urls = start_stubs(2, delay)
    expected = calls / (2 * concurrency / delay)
    killer = threading.Timer(expected / 3, procs[0].kill)
    try:
        client = JudgeClient(
            JudgeConfig(
                base_url=urls,
                model="stub-judge",
                concurrency=concurrency,
                timeout_s=60,
                backoff_s=0.05,
                max_retries=3,
                endpoint_cooldown_s=60,
            )
        )
        killer.start()
        start = time.perf_counter()
        outcomes = client.run_many(requests(calls, "kill"), progress=False)
        seconds = time.perf_counter() - start
        killer.join()
    finally:
        stop(procs)
    verdicts = sum(o.passed is not None for o in outcomes)
    snap = client.endpoints.snapshot()
    return {
        "servers": 2,
        "killed_after_s": round(expected / 3, 2),
        "calls": calls,
        "seconds": seconds,
        "calls_per_s": calls / seconds,
        "verdicts": verdicts,
        "failed": client.stats.failed,
        "lost": calls - verdicts - client.stats.failed,
        "retries": dict(client.stats.retries),
        "killed_server": snap[0],
        "survivor": snap[1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each stub takes per call")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight per server")
    parser.add_argument("--seconds", type=float, default=4.0, help="target length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "judge_endpoints.json"))
    args = parser.parse_args(argv)

    per_server_rate = args.concurrency / args.delay
    stubs = {n: start_stubs(n, args.delay) for n in SERVER_COUNTS}
    rows: dict[int, list[dict]] = {n: [] for n in SERVER_COUNTS}
    try:
        for r in range(args.rounds):
            for n in SERVER_COUNTS:
                calls = int(per_server_rate * n * args.seconds)
                rows[n].append(one_round(stubs[n][1], args.concurrency, calls, f"round{r}-n{n}"))
                print(json.dumps(rows[n][-1]), flush=True)
    finally:
        for procs, _ in stubs.values():
            stop(procs)
    killed = kill_round(args.delay, args.concurrency, int(per_server_rate * 2 * args.seconds))
    print(json.dumps(killed), flush=True)

    base = statistics.median(r["calls_per_s"] for r in rows[1])
    table = []
    for n in SERVER_COUNTS:
        rate = statistics.median(r["calls_per_s"] for r in rows[n])
        table.append(
            {
                "servers": n,
                "calls_per_round": rows[n][0]["calls"],
                "median_calls_per_s": round(rate, 1),
                "ideal_calls_per_s": per_server_rate * n,
                "ratio_vs_one_server": round(rate / base, 2),
                "failed": sum(r["failed"] for r in rows[n]),
            }
        )
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "delay_s": args.delay,
        "concurrency_per_server": args.concurrency,
        "rounds": args.rounds,
        "table": table,
        "rounds_raw": rows,
        "killed": killed,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print("| servers | calls per round | median calls/s | ideal calls/s | ratio vs 1 server |")
    print("|---:|---:|---:|---:|---:|")
    for row in table:
        print(
            f"| {row['servers']} | {row['calls_per_round']} | {row['median_calls_per_s']} | "
            f"{row['ideal_calls_per_s']:.0f} | {row['ratio_vs_one_server']}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
