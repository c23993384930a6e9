"""Time from `verif-nb lab` (what `make lab` runs once set up) to a usable JupyterLab page: notebook 01
open in Chromium with the verif-nb kernel idle. Several repeats; the server and browser are fresh each time.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_lab.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.chromium_cdp import KERNEL_IDLE, Chromium  # run from the project root with PYTHONPATH=.

ROOT = Path(__file__).resolve().parents[1]


def once(port: int) -> dict[str, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "verif_nb.cli", "lab", "--port", str(port), "--token", "bench", "--expose-app"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        url = None
        for line in proc.stdout:
            found = re.search(r"http://127\.0\.0\.1:\d+/\S+", line)
            if found:
                url = found.group(0)
                break
        printed = time.monotonic() - t0
        with Chromium() as browser:
            deadline = time.monotonic() + 120
            while True:  # the URL is printed before the server listens; reload until it answers
                browser.navigate(url)
                try:
                    browser.wait_for(KERNEL_IDLE, timeout_s=15)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
        return {"url_printed_s": printed, "usable_s": time.monotonic() - t0}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--port", type=int, default=18999)
    args = ap.parse_args()
    runs = [once(args.port + i) for i in range(args.repeats)]
    print(json.dumps({"runs": runs, "median_usable_s": statistics.median(r["usable_s"] for r in runs)}, indent=1))


if __name__ == "__main__":
    main()
