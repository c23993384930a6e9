"""The reward of one GRPO step at the VerIF paper's scale, simulated: 32 prompts x 16 rollouts = 512 responses.

What is real: the verifier (hybrid mode: dataset rule code in the sandbox pool, one judge call per response
with soft constraints, VerIF's score mode), the judge client and its spreading over servers, HTTP on
loopback. What is simulated: the judge. Stub servers (``tests/stub_judge_server.py``, one process each)
answer every call after a fixed delay: 0.1 s (a GPU-served 7B judge, e.g. IF-Verifier-7B on vLLM) and
2 s (a 32B reasoning judge such as QwQ-32B). A stub has no batch limit, so it shows what the
verif-nb side costs and how calls overlap, not how a GPU saturates: a real server's latency grows
once its batch is full (see the README's GPU section for how to read the table).

Prompts are 32 records drawn (seed 0) from the sample data (``verif_nb/data/sample``), so the mix of rule
and soft constraints is the sample's; each gets 16 rollouts made from its labelled responses (the 4th and
later ones carry a numbered variant line, so no two responses are the same). Settings: 1, 2 and 4
servers; 16, 32, 64 and 128 requests in flight per server. Each setting verifies the whole step once
after a one-response warm-up (the sandbox pool is started). Loops are bounded: 24 settings, 512
responses each, everything on 127.0.0.1.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_paper_scale.py [--delays 0.1 2] [--servers 1 2 4] \\
        [--concurrency 16 32 64 128] [--out benchmarks/results/paper_scale.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verif_nb.data import load_records  # noqa: E402
from verif_nb.judge import JudgeClient, JudgeConfig  # noqa: E402
from verif_nb.verifier import Verifier, VerifierConfig  # noqa: E402

SAMPLE = ROOT / "verif_nb" / "data" / "sample"
PROMPTS, ROLLOUTS = 32, 16
PAPER_REWARD_S = 180.0  # QwQ-32B judge on 8 GPUs: about 180 s of reward per step, ~80% of the step


def step_batch(seed: int = 0) -> list[tuple]:
    """32 sample records x 16 rollouts, from the records' labelled responses."""
    lines = {}
    for path in sorted(SAMPLE.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            lines[row["id"]] = [r["text"] for r in row.get("responses", [])]
    records = [r for path in sorted(SAMPLE.glob("*.jsonl")) for r in load_records(path).records]
    chosen = random.Random(seed).sample([r for r in records if lines.get(r.id)], PROMPTS)
    items = []
    for record in chosen:
        texts = lines[record.id]
        for k in range(ROLLOUTS):
            text = texts[k % len(texts)]
            items.append((record, text if k < len(texts) else f"{text}\n\nVariant {k}."))
    return items


def start_stubs(n: int, delay: float) -> tuple[list[subprocess.Popen], list[str]]:
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


def one_setting(items: list[tuple], urls: list[str], concurrency: int) -> dict:
    judge = JudgeClient(
        JudgeConfig(
            base_url=urls, model="stub-judge", concurrency=concurrency, timeout_s=120, max_retries=2, backoff_s=0.1
        )
    )
    with Verifier(VerifierConfig(mode="hybrid", sandbox_workers=2), judge=judge) as verifier:
        verifier.verify_batch(items[:1])  # starts the sandbox pool; a trainer keeps it across steps
        judge.stats.reset()
        start = time.perf_counter()
        results = verifier.verify_batch(items)
        seconds = time.perf_counter() - start
    return {
        "servers": len(urls),
        "concurrency_per_server": concurrency,
        "in_flight": len(urls) * concurrency,
        "reward_s": round(seconds, 2),
        "judge_calls": judge.stats.calls,
        "judge_failed": judge.stats.failed,
        "unverifiable": sum(r.reward is None for r in results),
        "responses": len(results),
        "judge_p50_s": judge.stats.percentile(50),
    }


def rule_only(items: list[tuple]) -> float:
    with Verifier(VerifierConfig(mode="rule", sandbox_workers=2)) as verifier:
        verifier.verify_batch(items[:1])
        start = time.perf_counter()
        verifier.verify_batch(items)
        return time.perf_counter() - start


def choose(rows: list[dict], slack: float = 1.25) -> dict:
    """The cheapest setting (fewest servers, then fewest in flight) within ``slack`` of the fastest."""
    best = min(r["reward_s"] for r in rows)
    good = [r for r in rows if r["reward_s"] <= best * slack]
    return min(good, key=lambda r: (r["servers"], r["in_flight"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--delays", type=float, nargs="+", default=[0.1, 2.0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32, 64, 128])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "paper_scale.json"))
    args = parser.parse_args(argv)

    items = step_batch()
    n_judged = sum(1 for record, _ in items if record.llm_constraints)
    rule_s = rule_only(items)
    print(
        json.dumps({"responses": len(items), "with_soft_constraints": n_judged, "rule_only_s": round(rule_s, 2)}),
        flush=True,
    )
    rows = []
    for delay in args.delays:
        procs, urls = start_stubs(max(args.servers), delay)
        try:
            for n in args.servers:
                for c in args.concurrency:
                    row = {"judge_delay_s": delay, **one_setting(items, urls[:n], c)}
                    row["x_faster_than_paper"] = round(PAPER_REWARD_S / row["reward_s"], 1)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    picks = {str(d): choose([r for r in rows if r["judge_delay_s"] == d]) for d in args.delays}
    result = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "responses": len(items),
        "with_soft_constraints": n_judged,
        "rule_only_s": round(rule_s, 2),
        "paper_reward_s": PAPER_REWARD_S,
        "rows": rows,
        "choice": picks,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print("| judge s/call | servers | in flight per server | reward s/step | judge calls | vs paper (180 s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['judge_delay_s']:g} | {r['servers']} | {r['concurrency_per_server']} | {r['reward_s']:.1f} | "
            f"{r['judge_calls']} | {r['x_faster_than_paper']}x faster |"
        )
    print("choice:", json.dumps(picks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
