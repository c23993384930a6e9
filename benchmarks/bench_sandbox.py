"""Sandboxed rule checks per second vs. VerIF-style in-process execution, on the same functions and responses.

Baseline (the VerIF reference's way): for every check, ``exec`` the function's import lines and then its
definition into a namespace, call ``check_following("instruction", response)`` and take ``bool()`` of the
result, in the caller's process, on one core, with no limits. This file and ``verif_nb/sandbox`` are the
only places in the project that ``exec`` dataset code; the baseline exists only to be measured against.

Sandbox: ``SandboxPool.check_batch`` over the same (function, response) pairs, in batches the size of a GRPO
step's rule checks, with the pool already started (start-up is reported separately).

Functions: the ``[rule]`` functions of the shared VerInstruct example file plus 20 typical LLM-written
checkers (word counts, regexes, keywords, lists, paragraphs, JSON, case). Responses: real Llama-3.1-8B
answers to IFEval prompts (~1.5 KB on average).

Run:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_sandbox.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

from verif_nb.sandbox import CheckTask, SandboxPool

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

TYPICAL_FUNCTIONS = [
    "def check_following(instruction, response):\n    return len(response.split()) >= 300\n",
    "def check_following(instruction, response):\n    words = response.split()\n    return 50 <= len(words) <= 400\n",
    "import re\ndef check_following(instruction, response):\n"
    "    sentences = [s for s in re.split(r'[.!?]+', response) if s.strip()]\n    return len(sentences) >= 5\n",
    "def check_following(instruction, response):\n    return ',' not in response\n",
    "def check_following(instruction, response):\n    text = response.lower()\n"
    "    return all(k in text for k in ['history', 'important', 'people'])\n",
    "import re\ndef check_following(instruction, response):\n"
    "    return len(re.findall(r'\\*[^\\n\\*]+\\*', response)) >= 3\n",
    "def check_following(instruction, response):\n    return response.strip().endswith('?')\n",
    "def check_following(instruction, response):\n    return response == response.lower()\n",
    "def check_following(instruction, response):\n"
    "    letters = [c for c in response if c.isalpha()]\n"
    "    return bool(letters) and sum(c.isupper() for c in letters) / len(letters) < 0.1\n",
    "import re\ndef check_following(instruction, response):\n"
    "    bullets = re.findall(r'^\\s*[\\*\\-]\\s', response, flags=re.MULTILINE)\n    return len(bullets) == 5\n",
    "def check_following(instruction, response):\n"
    "    paragraphs = [p for p in response.split('\\n\\n') if p.strip()]\n    return len(paragraphs) >= 3\n",
    "import json\ndef check_following(instruction, response):\n    try:\n        json.loads(response)\n"
    "    except ValueError:\n        return False\n    return True\n",
    "def check_following(instruction, response):\n    return response.lower().count('the') >= 10\n",
    "import string\ndef check_following(instruction, response):\n"
    "    return sum(response.count(p) for p in string.punctuation) < 100\n",
    "from collections import Counter\ndef check_following(instruction, response):\n"
    "    counts = Counter(w.strip('.,!?').lower() for w in response.split())\n"
    "    return counts.most_common(1)[0][1] < 40 if counts else False\n",
    "def check_following(instruction, response):\n    return response.startswith('#') or response.startswith('**')\n",
    "import re\ndef check_following(instruction, response):\n"
    "    return re.search(r'\\bP\\.S\\.', response) is not None\n",
    "def check_following(instruction, response):\n    lines = response.splitlines()\n"
    "    return bool(lines) and max(len(line) for line in lines) <= 500\n",
    "import re\ndef check_following(instruction, response):\n"
    "    placeholders = re.findall(r'\\[[^\\]]+\\]', response)\n    return len(placeholders) >= 2\n",
    "def check_following(instruction, response):\n"
    "    words = [w for w in response.split() if w.isalpha()]\n"
    "    return bool(words) and sum(len(w) for w in words) / len(words) < 6\n",
]


def rule_functions_from_examples() -> list[str]:
    """The ``[rule]`` functions of the shared VerInstruct example file."""
    out = []
    for line in (SHARED / "verinstruct_format" / "example.jsonl").read_text().splitlines():
        row = json.loads(line)
        out += [code for name, code in zip(row["checkers"], row["functions"]) if name.startswith("[rule]")]
    return out


def verif_style_check(code: str, response: str) -> bool | None:
    """The baseline: the VerIF reference's in-process execution, compiled again on every call."""
    lines = code.splitlines()
    imports = "\n".join(line for line in lines if line.startswith(("import ", "from ")))
    body = "\n".join(line for line in lines if not line.startswith(("import ", "from ")))
    namespace: dict = {}
    try:
        exec(imports, namespace)
        exec(body, namespace)
        return bool(namespace["check_following"]("instruction", response))
    except Exception:
        return None


def reference_reward_path(functions: list[str], response: str) -> list[bool | None]:
    """The VerIF reference's own path, for one response: a pool of 8 threads maps ``execute_code`` over the
    record's rule functions (``constraint_analyzer._evaluate_reward``). Loaded from ../shared/reference, only
    here, only to be measured against."""
    import concurrent.futures
    import contextlib
    import io

    from code_executer import execute_code  # ../shared/reference/verif_reward, put on sys.path by main()

    with contextlib.redirect_stdout(io.StringIO()), concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return [
            None if r is None else bool(r)
            for r, _ in pool.map(lambda code: execute_code("instruction", response, code), functions)
        ]


def shape_tasks(shape: str, functions: list[str], responses: list[str], records: int, seed: int = 0):
    """(record function lists, responses per record) for a GRPO step or a dataset-scoring pass.

    ``grpo``: 32 prompts x 16 rollouts, each prompt with 1 or 2 rule functions (mean 1.4, VerInstruct's mix);
    ``dataset``: ``records`` records x 1 response, every record with its own function text (1.4 on average).
    """
    import random

    rng = random.Random(seed)
    out = []
    prompts = 32 if shape == "grpo" else records
    rollouts = 16 if shape == "grpo" else 1
    for p in range(prompts):
        count = 2 if rng.random() < 0.4 else 1
        # a per-record comment makes every record's code its own function, as in a real dataset
        codes = [f"# record {p}\n" + rng.choice(functions) for _ in range(count)]
        out.append((codes, [rng.choice(responses) for _ in range(rollouts)]))
    return out


def run_shape(args, functions, responses) -> None:
    """Baselines and sandbox on the same checks, interleaved (the ratio of each pair compares runs a second
    apart on a shared machine).

    Two sandbox regimes: *burst* — the pool idles ``--idle`` seconds before the batch, as it does in GRPO
    while the policy generates (its stock of children is then forked, and the last batch's children killed,
    outside the measured time); *sustained* — ``--sustained`` batches back to back with no pause, every
    fork and exit inside the measured time (dataset scoring).
    """
    import sys as _sys

    _sys.path.insert(0, str(ROOT.parent / "shared" / "reference" / "verif_reward"))
    records = shape_tasks(args.shape, functions, responses, args.records)
    tasks = [CheckTask(code, "instruction", r) for codes, rs in records for r in rs for code in codes]
    n_functions = sum(len(codes) for codes, _ in records)
    print(f"shape {args.shape}: {len(records)} records, {n_functions} functions, {len(tasks)} checks")
    with SandboxPool(workers=args.workers, max_batch=1024, spares=args.spares, parallel=args.parallel) as pool:
        pool.check_batch(tasks[:64])  # starts the workers (several functions, so every worker gets one)
        times = {"simple": [], "reference": [], "burst": [], "sustained": []}
        inner, peak_rss = [], 0
        for _ in range(args.repeat):
            time.sleep(max(args.idle, 1.0))  # the pool's refill after the last batch must not slow the baselines
            start = time.perf_counter()
            simple = [verif_style_check(t.code, t.response) for t in tasks]
            times["simple"].append(time.perf_counter() - start)
            start = time.perf_counter()
            reference = [v for codes, rs in records for r in rs for v in reference_reward_path(codes, r)]
            times["reference"].append(time.perf_counter() - start)
            time.sleep(args.idle)
            start = time.perf_counter()
            boxed = pool.check_batch(tasks)
            times["burst"].append(time.perf_counter() - start)
            peak_rss = max(peak_rss, pool.pss_bytes())  # finished children still waiting for their SIGKILL
            inner.append(sum(r.seconds for r in boxed))
            if args.sustained:
                start = time.perf_counter()
                for _ in range(args.sustained):
                    again = pool.check_batch(tasks)
                times["sustained"].append((time.perf_counter() - start) / args.sustained)
                assert [r.passed for r in again] == [r.passed for r in boxed]
        isolation = pool.isolation
    n = len(tasks)
    agree = sum(a == (b.passed) for a, b in zip(simple, boxed))
    print(f"isolation: {isolation}")
    print(
        f"workers {args.workers}, up to {args.parallel} children at once each, stock {args.spares}, idle {args.idle} s"
    )
    for name, values in times.items():
        if values:
            median = statistics.median(values)
            print(f"{name:>9}: median {median * 1000:8.1f} ms = {n / median:8,.0f} checks/s")
    for mode in ("burst", "sustained"):
        for base in ("simple", "reference"):
            if not times[mode]:
                continue
            ratios = [b / s for b, s in zip(times[base], times[mode])]
            print(
                f"ratio {mode} / {base}: median of paired runs {statistics.median(ratios):.2f} "
                f"(range {min(ratios):.2f}-{max(ratios):.2f})"
            )
    for mode in ("burst", "sustained"):
        if times[mode]:
            per_function = (statistics.median(times[mode]) - statistics.median(inner) / args.workers) / n_functions
            print(
                f"{mode}: wall time per function beyond the checks' own time, per worker: "
                f"{per_function * 1000 * args.workers:.2f} ms"
            )
    print(f"peak memory of the pool (workers and children, PSS): {peak_rss / 2**20:.0f} MiB")
    print(
        f"answers equal to the in-process baseline: {agree}/{n}; reference path agreed on "
        f"{sum(a == b for a, b in zip(simple, reference))}/{n}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="sandbox pool size")
    parser.add_argument("--responses", type=int, default=200, help="responses per function")
    parser.add_argument("--batch", type=int, default=512, help="tasks per check_batch call")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best and median reported)")
    parser.add_argument(
        "--shape",
        choices=["mix", "grpo", "dataset"],
        default="mix",
        help="mix: every function x every response (the original run); grpo: 32 prompts x 16 "
        "rollouts; dataset: --records records x 1 response, each its own function",
    )
    parser.add_argument("--records", type=int, default=2000, help="records for --shape dataset")
    parser.add_argument("--spares", type=int, default=32, help="children each worker keeps forked ahead (stock)")
    parser.add_argument("--parallel", type=int, default=4, help="children each worker runs at once")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds the pool idles before a burst (GRPO)")
    parser.add_argument("--sustained", type=int, default=3, help="batches back to back per repetition (0: none)")
    args = parser.parse_args()
    if args.shape != "mix":
        functions = rule_functions_from_examples() + TYPICAL_FUNCTIONS
        responses = [
            json.loads(line)["response"]
            for line in (SHARED / "ifeval" / "responses_llama31_8b_instruct.jsonl").read_text().splitlines()
        ]
        run_shape(args, functions, responses)
        return

    functions = rule_functions_from_examples() + TYPICAL_FUNCTIONS
    responses = [
        json.loads(line)["response"]
        for line in (SHARED / "ifeval" / "responses_llama31_8b_instruct.jsonl").read_text().splitlines()
    ]
    responses = responses[: args.responses]
    # Interleaved like a GRPO step: each response meets several functions, functions repeat across responses.
    pairs = [(code, response) for response in responses for code in functions]
    tasks = [CheckTask(code, "instruction", response) for code, response in pairs]
    print(
        f"{len(functions)} functions x {len(responses)} responses = {len(pairs)} checks "
        f"(mean response {statistics.mean(len(r) for r in responses):.0f} chars)"
    )

    start = time.perf_counter()
    with SandboxPool(workers=args.workers) as pool:
        pool.check_batch([CheckTask(code, "instruction", "warm up") for code in functions] * args.workers)
        startup = time.perf_counter() - start
        # Interleaved repetitions: the machine is shared, so each ratio compares two runs a second apart.
        baseline_times, sandbox_times, baseline, sandboxed = [], [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            baseline = [verif_style_check(code, response) for code, response in pairs]
            baseline_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            sandboxed = []
            for i in range(0, len(tasks), args.batch):
                sandboxed += pool.check_batch(tasks[i : i + args.batch])
            sandbox_times.append(time.perf_counter() - start)
        rss = pool.pss_bytes()
        pids = pool.pids()

    mismatches = sum(b != s.passed for b, s in zip(baseline, sandboxed))
    errors = sum(s.passed is None for s in sandboxed)
    n = len(pairs)
    base_rate = n / min(baseline_times)
    box_rate = n / min(sandbox_times)
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(
        f"baseline (VerIF-style exec per call, in-process, 1 core): best {base_rate:,.0f} checks/s, "
        f"median {n / statistics.median(baseline_times):,.0f}"
    )
    print(
        f"sandbox ({args.workers} workers, batches of {args.batch}): best {box_rate:,.0f} checks/s, "
        f"median {n / statistics.median(sandbox_times):,.0f}"
    )
    ratios = [b / s for b, s in zip(baseline_times, sandbox_times)]
    print(
        f"ratio sandbox / baseline: best-to-best {box_rate / base_rate:.2f}, median of paired runs "
        f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})"
    )
    print(
        f"pool start-up + first compile: {startup:.2f} s; "
        f"memory (PSS) of {len(pids)} workers and their children: {rss / 2**20:.0f} MiB"
    )
    print(f"answers differing from the baseline: {mismatches}; sandbox errors: {errors}")


if __name__ == "__main__":
    main()
