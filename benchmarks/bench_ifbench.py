"""IFBench scoring: agreement with AI2's reference code and speed against it, side by side in one run.

Work: the 300 IFBench prompts (344 instructions) with each of the 8 generated response files in
``tests/fixtures/ifbench/`` (2 400 prompt-response pairs), strict + loose. Baseline: the reference
``evaluation_lib`` (``../shared/reference/ifbench``) loaded offline as the tests load it
(``tests/ifbench_reference.py``: nltk's downloader off, the same Punkt model, stop word list and
part-of-speech weights fed in), in this process. Each round times verif-nb then the reference on
every file, caches cleared first, so load drift hits both; imports and model loading are not timed.

Usage:
    PYTHONPATH=. .venv/bin/python benchmarks/bench_ifbench.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ifbench" / "IFBench_test.jsonl"
FIXTURES = ROOT / "tests" / "fixtures" / "ifbench"
sys.path.insert(0, str(ROOT / "tests"))


def _clear_caches() -> None:
    from verif_nb.checkers import text as _text
    from verif_nb.checkers.text import clear_caches

    clear_caches()
    _text.count_syllables.cache_clear()


def verif_nb_run(files: list[Path]) -> tuple[float, list[dict]]:
    from verif_nb.checkers import score_ifbench

    _clear_caches()
    t0 = time.perf_counter()
    runs = [score_ifbench(DATA, f) for f in files]
    seconds = time.perf_counter() - t0
    return seconds, [
        {
            "strict": [r["follow_instruction_list"] for r in s.strict_rows],
            "loose": [r["follow_instruction_list"] for r in s.loose_rows],
        }
        for s in runs
    ]


def reference_run(files: list[Path]) -> tuple[float, list[dict]]:
    from ifbench_reference import load_reference

    _, evaluation = load_reference()
    _clear_caches()
    out = []
    t0 = time.perf_counter()
    for f in files:
        inputs = evaluation.read_prompt_list(str(DATA))
        responses = evaluation.read_prompt_to_response_dict(str(f))
        strict = [evaluation.test_instruction_following_strict(i, responses) for i in inputs]
        loose = [evaluation.test_instruction_following_loose(i, responses) for i in inputs]
        out.append(
            {"strict": [o.follow_instruction_list for o in strict], "loose": [o.follow_instruction_list for o in loose]}
        )
    return time.perf_counter() - t0, out


def agreement(ours: list[dict], theirs: list[dict]) -> dict[str, str]:
    res = {}
    for mode in ("strict", "loose"):
        same = total = prompts_same = prompts = 0
        for a, b in zip(ours, theirs):
            for x, y in zip(a[mode], b[mode]):
                prompts += 1
                prompts_same += x == y
                total += len(y)
                same += sum(p == q for p, q in zip(x, y))
        res[mode] = f"{same}/{total} booleans ({prompts_same}/{prompts} prompt rows)"
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (each: verif-nb, then the reference)")
    args = parser.parse_args()

    files = sorted(FIXTURES.glob("responses_*.jsonl"))
    verif_nb_run(files[:1])  # load the POS model, emoji tables and syllable data before timing
    reference_run(files[:1])
    ours, theirs = [], []
    flags_ours = flags_ref = None
    for _ in range(args.rounds):
        seconds, flags_ours = verif_nb_run(files)
        ours.append(seconds)
        seconds, flags_ref = reference_run(files)
        theirs.append(seconds)
    from verif_nb.checkers import text as _text

    pairs = 300 * len(files)
    verdicts = 2 * 344 * len(files)
    tagger_checks = sum(
        cid == "words:start_verb"
        for line in DATA.read_text().splitlines()
        for cid in json.loads(line)["instruction_id_list"]
    )
    result = {
        "files": len(files),
        "prompt_response_pairs": pairs,
        "verdicts_strict_plus_loose": verdicts,
        "rounds": args.rounds,
        "verif_nb": {
            "seconds_median": round(statistics.median(ours), 3),
            "seconds_best": round(min(ours), 3),
            "verdicts_per_second_median": round(verdicts / statistics.median(ours)),
        },
        "reference": {
            "seconds_median": round(statistics.median(theirs), 3),
            "seconds_best": round(min(theirs), 3),
            "verdicts_per_second_median": round(verdicts / statistics.median(theirs)),
        },
        "speedup_median": round(statistics.median(theirs) / statistics.median(ours), 2),
        "agreement": agreement(flags_ours, flags_ref),
        "pos_model": _text.tagger_source(),
        "checks_resting_on_pos_model_per_file": tagger_checks,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
