"""GSM8K: answer extraction and normalisation as tables, the packaged subset rebuilt from the source file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import tomllib

from verif_nb.errors import DataError
from verif_nb.evaluation import (
    PACKAGED_GSM8K,
    build_gsm8k_subset,
    extract_last_number,
    gsm8k_accuracy,
    gsm8k_gold,
    gsm8k_problems,
    load_benchmark,
    normalize_number,
    score_gsm8k_answer,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VERIF_NB_SHARED_DIR", ROOT.parent / "shared"))
GSM8K_TEST = SHARED / "data" / "gsm8k" / "test.jsonl"
needs_source = pytest.mark.skipif(not GSM8K_TEST.is_file(), reason=f"{GSM8K_TEST} not present")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("18", "18"),
        ("$18", "18"),
        ("$1,234", "1234"),
        ("1,234,567", "1234567"),
        ("18.0", "18"),
        ("18.00", "18"),
        ("18.", "18"),
        ("0.50", "0.5"),
        ("-3", "-3"),
        ("-0.0", "0"),
        ("25%", "25"),
        ("$ 5", "5"),
        (".5", "0.5"),
        ("1e3", "1000"),  # Decimal reads exponents; no GSM8K gold uses one, a model might
        ("", None),
        ("abc", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_normalize_number(text, expected):
    assert normalize_number(text) == expected


@pytest.mark.parametrize(
    "response, expected",
    [
        ("The answer is 18.", "18"),
        ("She makes $18 every day.", "18"),
        ("9 * 2 = 18\nSo the answer is 18 dollars.", "18"),
        ("Total: $1,234.50", "1234.5"),
        ("It costs 1,000 dollars, 5 times.", "5"),  # the last number, not the largest
        ("Lists like 1,2,3 are three numbers", "3"),
        ("12,34", "34"),  # not a thousands group: two numbers
        ("The temperature fell to -10 degrees.", "-10"),
        ("5-3=2", "2"),
        ("a 2-year loan", "2"),  # a hyphen inside a word is not a minus sign
        ("from 3-5 apples", "5"),
        ("Final answer: 42\n", "42"),
        ("#### 72", "72"),
        ("\\boxed{120}", "120"),
        ("It is 0.25 of the total.", "0.25"),
        ("version v2 of abc123", None),  # digits glued to letters are not answers
        ("I cannot tell.", None),
        ("", None),
    ],
)
def test_extract_last_number(response, expected):
    assert extract_last_number(response) == expected


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
        ("... #### 1,000", "1000"),
        ("#### -3", "-3"),
        ("a #### b #### 7", "7"),  # the last marker
    ],
)
def test_gsm8k_gold(answer, expected):
    assert gsm8k_gold(answer) == expected


@pytest.mark.parametrize("answer", ["no marker 18", "#### ", "#### eighteen"])
def test_gsm8k_gold_needs_a_number_after_the_marker(answer):
    with pytest.raises(ValueError, match="no number"):
        gsm8k_gold(answer)


@pytest.mark.parametrize(
    "response, reference, correct, reason",
    [
        ("So she earns $18.00.", "#### 18", True, "answer 18 equals the gold 18"),
        ("1,200 in total", "#### 1200", True, "answer 1200 equals the gold 1200"),
        ("18 or 19? I say 19", "#### 18", False, "answer 19 differs from the gold 18"),
        ("No idea", "#### 18", False, "no number in the answer; gold 18"),
        ("0.5", "#### .5", True, "answer 0.5 equals the gold 0.5"),
    ],
)
def test_score_gsm8k_answer(response, reference, correct, reason):
    verdict = score_gsm8k_answer(response, reference)
    assert (verdict.correct, verdict.reason) == (correct, reason)


def test_accuracy_and_length_check():
    acc, verdicts = gsm8k_accuracy(["7", "x", "3"], [{"answer": "#### 7"}, {"answer": "#### 1"}, {"answer": "#### 3"}])
    assert acc == 66.67 and [v.correct for v in verdicts] == [True, False, True]
    with pytest.raises(ValueError, match="2 responses for 3 problems"):
        gsm8k_accuracy(["7", "x"], [{"answer": "#### 7"}] * 3)


def test_packaged_subset_is_200_documented_problems_with_the_licence():
    rows = gsm8k_problems()
    assert len(rows) == 200
    indices = [r["index"] for r in rows]
    assert indices == sorted(set(indices)) and 0 <= indices[0] and indices[-1] < 1319
    folder = PACKAGED_GSM8K.parent
    assert "MIT License" in (folder / "LICENSE").read_text() and "OpenAI" in (folder / "LICENSE").read_text()
    assert "random.Random(0)" in (folder / "README.md").read_text()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = package_data["verif_nb"]
    assert {"data/gsm8k/*.jsonl", "data/gsm8k/LICENSE", "data/gsm8k/README.md"} <= set(shipped)


@needs_source
def test_packaged_subset_is_rebuilt_exactly_from_the_source(tmp_path):
    rebuilt = build_gsm8k_subset(GSM8K_TEST, tmp_path / "subset.jsonl", size=200, seed=0)
    assert rebuilt.read_bytes() == PACKAGED_GSM8K.read_bytes()
    source = [json.loads(line) for line in GSM8K_TEST.read_text(encoding="utf-8").splitlines()]
    for row in gsm8k_problems():
        assert source[row["index"]] == {"question": row["question"], "answer": row["answer"]}


@needs_source
def test_reference_solutions_score_correct_on_every_test_problem():
    # The reference solution's own "#### N" line must read back as the gold: extraction and gold agree.
    rows = gsm8k_problems(GSM8K_TEST)
    assert len(rows) == 1319
    assert all(score_gsm8k_answer(r["answer"], r["answer"]).correct for r in rows)


def test_malformed_file_names_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "#### 1"}\n{"question": "q", "answer": "no marker"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'answer'"):
        gsm8k_problems(bad)
    bad.write_text('{"answer": "#### 1"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'question'"):
        gsm8k_problems(bad)


def test_limit_is_a_seeded_sample_in_file_order():
    a = load_benchmark("gsm8k", limit=20, seed=0)
    b = load_benchmark("gsm8k", limit=20, seed=0)
    c = load_benchmark("gsm8k", limit=20, seed=1)
    assert a.indices == b.indices and a.prompts == b.prompts and a.indices != c.indices
    assert a.indices == sorted(a.indices) and a.indices != list(range(20))  # a sample, not the first 20
    assert a.subset == "gsm8k-200 (packaged): 20 of 200, seed 0"
    assert load_benchmark("gsm8k").subset == "gsm8k-200 (packaged): all 200"
    assert a.prompts[0].startswith(a.rows[0]["question"]) and "final answer" in a.prompts[0]
