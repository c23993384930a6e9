"""Wall time and peak memory of a command and everything it starts (e.g. ``make demo`` on a fresh clone).

Peak memory is the largest sum of resident set sizes over the command's whole process tree, sampled every
``--interval`` seconds from /proc (Linux only), so a judge server or a notebook kernel started by the command
counts while it runs. The result is printed and, with ``--json``, written as one JSON object.

    python benchmarks/measure_run.py --json demo_measure.json -- make demo
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int]:
    """(summed RSS in bytes, number of processes) of ``root`` and all its descendants."""
    tree, todo, total, count = _children(), [root], 0, 0
    while todo:
        pid = todo.pop()
        total += _rss_bytes(pid)
        count += 1
        todo.extend(tree.get(pid, ()))
    return total, count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--json", type=Path, help="write the measurement here")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command after --")
    start = time.monotonic()
    load_before = os.getloadavg()
    proc = subprocess.Popen(command)
    peak, peak_procs, peak_at = 0, 0, 0.0
    while proc.poll() is None:
        rss, procs = tree_rss(proc.pid)
        if rss > peak:
            peak, peak_procs, peak_at = rss, procs, time.monotonic() - start
        time.sleep(args.interval)
    wall = time.monotonic() - start
    result = {
        "command": command,
        "returncode": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_tree_rss_gib": round(peak / 2**30, 3),
        "processes_at_peak": peak_procs,
        "peak_at_s": round(peak_at, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
