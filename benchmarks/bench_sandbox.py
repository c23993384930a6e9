"""Sandboxed rule checks per second vs. VerIF-style in-process execution, on the same functions and responses.

Baseline (the VerIF reference's way): for every check, ``exec`` the function's import lines and then its
definition into a namespace, call ``check_following("instruction", response)`` and take ``bool()`` of the
result, in the caller's process, on one core, with no limits. This file and ``verif_nb/sandbox`` are the
only places in the project that ``exec`` dataset code; the baseline exists only to be measured against.

Sandbox: ``SandboxPool.check_batch`` over the same (function, response) pairs, in batches the size of a GRPO
step's rule checks or of a dataset pass, with the pool already started (start-up is reported separately).

Functions: the ``[rule]`` functions of the shared VerInstruct example file plus 20 typical LLM-written
checkers (word counts, regexes, keywords, lists, paragraphs, JSON, case). Responses: real Llama-3.1-8B
answers to IFEval prompts (~1.5 KB on average).

Run:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_sandbox.py --workers 2
    PYTHONPATH=. .venv/bin/python benchmarks/bench_sandbox.py --shape grpo --workers 1 --spares 64 --repeat 9
    PYTHONPATH=. .venv/bin/python benchmarks/bench_sandbox.py --table --records 2840   # the scaling table
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


def shape_tasks(shape: str, functions: list[str], responses: list[str], records: int, seed: int = 0, tag: str = ""):
    """(record function lists, responses per record) for a GRPO step or a dataset-scoring pass.

    ``grpo``: 32 prompts x 16 rollouts, each prompt with 1 or 2 rule functions (mean 1.4, VerInstruct's mix);
    ``dataset``: ``records`` records x 1 response, every record with its own function text (1.4 on average).
    ``tag`` goes into every function's text: a dataset pass never meets a function twice, as in real scoring.
    """
    import random

    rng = random.Random(seed)
    out = []
    prompts = 32 if shape == "grpo" else records
    rollouts = 16 if shape == "grpo" else 1
    for p in range(prompts):
        count = 2 if rng.random() < 0.4 else 1
        # a per-record comment makes every record's code its own function, as in a real dataset
        codes = [f"# record {p}{tag}\n" + rng.choice(functions) for _ in range(count)]
        out.append((codes, [rng.choice(responses) for _ in range(rollouts)]))
    return out


def measure(
    shape: str,
    workers: int,
    functions,
    responses,
    *,
    records: int = 2000,
    repeat: int = 5,
    spares: int = 32,
    parallel: int = 4,
    idle: float = 1.0,
    sustained: int = 3,
    reference: bool = True,
) -> dict:
    """One cell of the scaling table: the sandbox and the simple in-process baseline on the same checks,
    interleaved (each ratio compares runs a second apart on a shared machine).

    GRPO shape, *burst*: the batch comes after the pool has idled ``idle`` seconds (as in GRPO, where the policy
    generates between reward calls: the stock is forked and the last batch's children killed outside the
    measured time). Dataset shape, *sustained*: ``sustained`` passes back to back, each over fresh function texts,
    every fork and exit inside the measured time. Also the caller's CPU per function (the pool's event loop and the
    caller's thread: ``time.process_time``).
    """
    import sys as _sys

    _sys.path.insert(0, str(ROOT.parent / "shared" / "reference" / "verif_reward"))
    out: dict = {"shape": shape, "workers": workers, "parallel": parallel, "spares": spares}
    times = {"simple": [], "reference": [], "sandbox": []}
    caller_cpu: list[float] = []
    agree = n = functions_per_pass = 0
    with SandboxPool(workers=workers, max_batch=1024, spares=spares, parallel=parallel) as pool:
        warm = shape_tasks(shape, functions, responses, min(records, 64 * workers), tag=" warm-up")
        pool.check_batch([CheckTask(c, "instruction", r) for codes, rs in warm for r in rs for c in codes])
        for rep in range(repeat):
            passes = []
            for k in range(sustained if shape == "dataset" else 1):
                tag = f" pass {rep}.{k}" if shape == "dataset" else ""
                records_ = shape_tasks(
                    shape, functions, responses, records, seed=rep if shape == "dataset" else 0, tag=tag
                )
                tasks = [CheckTask(code, "instruction", r) for codes, rs in records_ for r in rs for code in codes]
                passes.append((records_, tasks))
            n, functions_per_pass = len(passes[0][1]), sum(len(codes) for codes, _ in passes[0][0])
            time.sleep(max(idle, 1.0))  # the pool's refill after the last batch must not slow the baselines
            start = time.perf_counter()
            simple = [[verif_style_check(t.code, t.response) for t in tasks] for _, tasks in passes]
            times["simple"].append((time.perf_counter() - start) / len(passes))
            if reference and shape == "grpo":
                start = time.perf_counter()
                for records_, _ in passes:
                    [v for codes, rs in records_ for r in rs for v in reference_reward_path(codes, r)]
                times["reference"].append((time.perf_counter() - start) / len(passes))
            time.sleep(idle if shape == "grpo" else 0.0)
            cpu, start = time.process_time(), time.perf_counter()
            boxed = [pool.check_batch(tasks) for _, tasks in passes]
            times["sandbox"].append((time.perf_counter() - start) / len(passes))
            caller_cpu.append((time.process_time() - cpu) / len(passes))
            agree = sum(a == b.passed for s_, b_ in zip(simple, boxed) for a, b in zip(s_, b_))
        out["isolation"] = pool.isolation
        out["pss_mib"] = pool.pss_bytes() / 2**20
    ratios = [b / s for b, s in zip(times["simple"], times["sandbox"])]
    out.update(
        checks=n,
        functions=functions_per_pass,
        simple_ms=statistics.median(times["simple"]) * 1e3,
        sandbox_ms=statistics.median(times["sandbox"]) * 1e3,
        ratio=statistics.median(ratios),
        ratio_range=(min(ratios), max(ratios)),
        reference_ms=statistics.median(times["reference"]) * 1e3 if times["reference"] else None,
        caller_cpu_ms_per_function=statistics.median(caller_cpu) * 1e3 / functions_per_pass,
        wall_ms_per_function=statistics.median(times["sandbox"]) * 1e3 / functions_per_pass,
        functions_per_s=functions_per_pass / statistics.median(times["sandbox"]),
        agree=agree,
        total=n * (sustained if shape == "dataset" else 1),
    )
    return out


def table_row(cell: dict) -> str:
    regime = "burst" if cell["shape"] == "grpo" else "sustained"
    lo, hi = cell["ratio_range"]
    columns = [
        f"{cell['shape']} ({cell['functions']:,} functions, {cell['checks']:,} checks)",
        str(cell["workers"]),
        f"{cell['simple_ms']:.1f}",
        f"{cell['sandbox_ms']:.1f} ({regime})",
        f"**{cell['ratio']:.2f}** ({lo:.2f}-{hi:.2f})",
        f"{cell['functions_per_s']:,.0f}",
        f"{cell['wall_ms_per_function']:.3f}",
        f"{cell['caller_cpu_ms_per_function']:.3f}",
        f"{cell['agree']}/{cell['total']}",
    ]
    return "| " + " | ".join(columns) + " |"


TABLE_HEAD = (
    "| shape | workers | simple ms | sandbox ms | ratio vs simple, median of pairs (range) | functions/s | "
    "wall ms per function | caller CPU ms per function | answers equal |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def scaling_table(workers=(1, 2, 4, 8), shapes=("grpo", "dataset"), records: int = 2840, repeat: int = 5, **kw):
    """Measures every (shape, workers) cell and prints the markdown table as it goes; returns the cells."""
    functions = rule_functions_from_examples() + TYPICAL_FUNCTIONS
    responses = [
        json.loads(line)["response"]
        for line in (SHARED / "ifeval" / "responses_llama31_8b_instruct.jsonl").read_text().splitlines()
    ]
    print(TABLE_HEAD, flush=True)
    cells = []
    for shape in shapes:
        for count in workers:
            cell = measure(shape, count, functions, responses, records=records, repeat=repeat, **kw)
            cells.append(cell)
            print(table_row(cell), flush=True)
    return cells


def run_shape(args, functions, responses) -> None:
    """The ``--shape grpo|dataset`` run: one cell, printed in full."""
    cell = measure(
        args.shape,
        args.workers,
        functions,
        responses,
        records=args.records,
        repeat=args.repeat,
        spares=args.spares,
        parallel=args.parallel,
        idle=args.idle,
        sustained=max(1, args.sustained),
    )
    print(f"isolation: {cell.pop('isolation')}")
    print(TABLE_HEAD)
    print(table_row(cell))
    if cell["reference_ms"]:
        slower = cell["reference_ms"] / cell["sandbox_ms"]
        print(f"VerIF's own reward path: {cell['reference_ms']:.1f} ms ({slower:.2f}x the sandbox's time)")
    print(f"peak memory of the pool after the run (PSS): {cell['pss_mib']:.0f} MiB")


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
    parser.add_argument("--sustained", type=int, default=3, help="dataset passes back to back per repetition")
    parser.add_argument("--table", action="store_true", help="the scaling table: 1/2/4/8 workers x both shapes")
    args = parser.parse_args()
    if args.table:
        scaling_table(records=args.records, repeat=args.repeat)
        return
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
