"""Data loading speed: verif-nb's validating reader vs plain ``json.loads`` of the same rows.

Writes N VerInstruct-shaped rows (the five records of the shared ``example.jsonl`` repeated with
unique ids and a unique comment in every function, about 3 constraints per row) and times, best of
``--repeat``:
  baseline     ``json.loads`` of every line (what the VerIF reference reader does: no checks at all)
  load_jsonl   ``load_records`` on the jsonl (field checks, static code screen + compile, descriptions)
  export_verl  ``export_verl`` of the loaded records to parquet
  load_verl    ``load_records`` on that parquet
and prints one JSON line with seconds, rows/second and each time as a ratio of the baseline.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_data.py --rows 20000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from verif_nb.data import export_verl, load_records, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT.parent / "shared" / "data" / "verinstruct_format" / "example.jsonl"


def _rows(n: int) -> list[dict]:
    base = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    rows = []
    for i in range(n):
        row = dict(base[i % len(base)])
        row["id"] = f"bench-{i}"
        # Unique sources, so nothing in the reader can profit from repeated strings.
        row["functions"] = [f"{code}\n# row {i}" for code in row["functions"]]
        rows.append(row)
    return rows


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = write_jsonl(Path(tmp) / "bench.jsonl", _rows(args.rows))
        baseline, _ = _best(lambda: [json.loads(line) for line in src.open(encoding="utf-8")], args.repeat)
        load_jsonl, res = _best(lambda: load_records(src), args.repeat)
        assert len(res) == args.rows and not res.skipped
        out = Path(tmp) / "bench.parquet"
        export, _ = _best(lambda: export_verl(res.records, out), args.repeat)
        load_verl, back = _best(lambda: load_records(out), args.repeat)
        assert len(back) == args.rows
    times = {"baseline": baseline, "load_jsonl": load_jsonl, "export_verl": export, "load_verl": load_verl}
    print(
        json.dumps(
            {
                "rows": args.rows,
                "constraints": res.counts["constraints"],
                "seconds": {k: round(v, 3) for k, v in times.items()},
                "rows_per_second": {k: round(args.rows / v) for k, v in times.items()},
                "ratio_vs_baseline": {k: round(v / baseline, 1) for k, v in times.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
