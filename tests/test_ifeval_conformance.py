"""Conformance with the reference IFEval implementation on the 541 IFEval prompts.

The reference verdicts (``../shared/data/ifeval/reference_eval_{strict,loose}.jsonl``) are matched
boolean for boolean, with one kind of exception: verdicts the reference itself draws at random.
The reference (a) replaces a non-letter ``letter`` kwarg (IFEval asks for '#' and '!') with a
random letter, and (b) calls langdetect unseeded, so on texts where langdetect's answer depends
on its seed the reference verdict is a coin toss (running lm-eval 0.4.13 twice gives different
booleans; see benchmarks/RESULTS.md). verif-nb counts the character asked for and seeds langdetect
with 0. Each disagreement must be *shown* to be such a draw: some letter, or some langdetect seed,
reproduces the reference's boolean; every other boolean must be equal.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

from verif_nb.checkers import check_loose, get_checker, score_ifeval
from verif_nb.checkers import text as _text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ifeval"

pytestmark = pytest.mark.skipif(
    not (DATA / "input_data.jsonl").is_file(), reason=f"IFEval reference data not found at {DATA}"
)

LANGDETECT_IDS = {"language:response_language", "change_case:english_capital", "change_case:english_lowercase"}
MODES = ("strict", "loose")


def _jsonl(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="module")
def scored():
    return score_ifeval(DATA / "input_data.jsonl", DATA / "responses_llama31_8b_instruct.jsonl")


@pytest.fixture(scope="module")
def reference():
    return {mode: {r["prompt"]: r for r in _jsonl(f"reference_eval_{mode}.jsonl")} for mode in MODES}


def _verdict(checker, response: str, mode: str) -> bool:
    return bool((checker.check(response) if mode == "strict" else check_loose(checker, response)).passed)


def _reference_draw_explains(checker_id: str, kwargs: dict, response: str, mode: str, wanted: bool) -> bool:
    """True if a random draw the reference makes for this check can give the boolean ``wanted``."""
    if checker_id == "keywords:letter_frequency" and not ("a" <= kwargs["letter"].lower() <= "z"):
        return any(
            _verdict(get_checker(checker_id, {**kwargs, "letter": c}), response, mode) == wanted
            for c in string.ascii_lowercase
        )
    if checker_id in LANGDETECT_IDS:
        factory = _text._language_factory()
        try:
            for seed in range(1, 30):
                factory.seed = seed
                if _verdict(get_checker(checker_id, kwargs), response, mode) == wanted:
                    return True
        finally:
            factory.seed = 0
    return False


def test_rows_are_in_reference_format(scored, reference):
    inputs = _jsonl("input_data.jsonl")
    for mode, rows in (("strict", scored.strict_rows), ("loose", scored.loose_rows)):
        assert len(rows) == len(inputs) == 541
        for row, inp in zip(rows, inputs):
            ref = reference[mode][inp["prompt"]]
            assert set(row) == set(ref)
            assert (row["prompt"], row["instruction_id_list"], row["response"]) == (
                ref["prompt"],
                ref["instruction_id_list"],
                ref["response"],
            )
            assert row["follow_all_instructions"] == all(row["follow_instruction_list"])


def test_every_reference_boolean_is_reproduced_or_a_proven_reference_draw(scored, reference):
    inputs = _jsonl("input_data.jsonl")
    checked = 0
    drawn = []
    for mode, rows in (("strict", scored.strict_rows), ("loose", scored.loose_rows)):
        for row, inp in zip(rows, inputs):
            ref_flags = reference[mode][inp["prompt"]]["follow_instruction_list"]
            for i, (mine, ref) in enumerate(zip(row["follow_instruction_list"], ref_flags)):
                checked += 1
                if mine == ref:
                    continue
                cid, kwargs = inp["instruction_id_list"][i], inp["kwargs"][i]
                explained = _reference_draw_explains(cid, kwargs, row["response"], mode, ref)
                assert explained, (
                    f"{mode} key={inp['key']} {cid}: verif-nb says {mine}, the reference {ref}, "
                    "and no random draw of the reference gives that"
                )
                drawn.append((mode, inp["key"], cid))
    assert checked == 2 * 834
    # Today: key 1122's '#' letter (strict), langdetect coin tosses for keys 1813, 279 (strict), 1813, 3617 (loose).
    assert len(drawn) <= 6, drawn


def test_prompt_level_agrees_wherever_no_draw_is_involved(scored, reference):
    inputs = _jsonl("input_data.jsonl")
    for mode, rows in (("strict", scored.strict_rows), ("loose", scored.loose_rows)):
        same = sum(
            r["follow_all_instructions"] == reference[mode][i["prompt"]]["follow_all_instructions"]
            for r, i in zip(rows, inputs)
        )
        assert same >= 538, (mode, same)


def test_aggregates_are_close_to_the_published_ones(scored):
    # README: strict 71.16 / 79.50, loose 75.23 / 83.21; the few reference coin tosses move these
    # by at most a few tenths of a point.
    summary = scored.summary()
    for key, published in (
        ("prompt_strict", 71.16),
        ("instruction_strict", 79.50),
        ("prompt_loose", 75.23),
        ("instruction_loose", 83.21),
    ):
        assert abs(summary[key] - published) <= 0.6, (key, summary[key])
    assert summary["num_prompts"] == 541 and summary["num_instructions"] == 834
    assert set(summary["per_group_strict"]) == {
        "change_case",
        "combination",
        "detectable_content",
        "detectable_format",
        "keywords",
        "language",
        "length_constraints",
        "punctuation",
        "startend",
    }


def test_repeated_ids_in_one_prompt_are_each_checked(scored):
    inputs = _jsonl("input_data.jsonl")
    row = next(r for r, i in zip(scored.strict_rows, inputs) if i["key"] == 19)
    assert row["instruction_id_list"] == ["length_constraints:number_words"] * 2
    verdicts = scored.strict_verdicts[inputs.index(next(i for i in inputs if i["key"] == 19))]
    assert "needs at least 600" in verdicts[0].reason and "needs less than 701" in verdicts[1].reason
