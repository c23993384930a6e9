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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="sandbox pool size")
    parser.add_argument("--responses", type=int, default=200, help="responses per function")
    parser.add_argument("--batch", type=int, default=512, help="tasks per check_batch call")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best and median reported)")
    args = parser.parse_args()

    functions = rule_functions_from_examples() + TYPICAL_FUNCTIONS
    responses = [json.loads(line)["response"] for line in
                 (SHARED / "ifeval" / "responses_llama31_8b_instruct.jsonl").read_text().splitlines()]
    responses = responses[:args.responses]
    # Interleaved like a GRPO step: each response meets several functions, functions repeat across responses.
    pairs = [(code, response) for response in responses for code in functions]
    tasks = [CheckTask(code, "instruction", response) for code, response in pairs]
    print(f"{len(functions)} functions x {len(responses)} responses = {len(pairs)} checks "
          f"(mean response {statistics.mean(len(r) for r in responses):.0f} chars)")

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
                sandboxed += pool.check_batch(tasks[i:i + args.batch])
            sandbox_times.append(time.perf_counter() - start)
        rss = pool.rss_bytes()
        pids = pool.pids()

    mismatches = sum(b != s.passed for b, s in zip(baseline, sandboxed))
    errors = sum(s.passed is None for s in sandboxed)
    n = len(pairs)
    base_rate = n / min(baseline_times)
    box_rate = n / min(sandbox_times)
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(f"baseline (VerIF-style exec per call, in-process, 1 core): best {base_rate:,.0f} checks/s, "
          f"median {n / statistics.median(baseline_times):,.0f}")
    print(f"sandbox ({args.workers} workers, batches of {args.batch}): best {box_rate:,.0f} checks/s, "
          f"median {n / statistics.median(sandbox_times):,.0f}")
    ratios = [b / s for b, s in zip(baseline_times, sandbox_times)]
    print(f"ratio sandbox / baseline: best-to-best {box_rate / base_rate:.2f}, median of paired runs "
          f"{statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f})")
    print(f"pool start-up + first compile: {startup:.2f} s; resident memory of {len(pids)} workers: "
          f"{rss / 2**20:.0f} MiB")
    print(f"answers differing from the baseline: {mismatches}; sandbox errors: {errors}")


if __name__ == "__main__":
    main()
