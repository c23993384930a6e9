"""Checks of the embedded sample set ``verinstruct_sample_b.jsonl`` (32 VerInstruct records).

The file is gold data for measuring verifiers, so every label that code can decide is re-derived
here: each ``[rule]`` function is executed on every response (tests are allowed to exec dataset
code; the package itself never does outside its sandbox) and must agree with the stored label.
Soft ``[llm]`` labels are human judgements and are only checked for shape.

The file is read with plain ``json`` so this test does not depend on any loader in the package.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "verif_nb" / "data" / "sample" / "verinstruct_sample_b.jsonl"
PROBES = Path(__file__).resolve().parent / "fixtures" / "sample_b_probes.json"

N_RECORDS = 32
ALLOWED_IMPORTS = {"re", "string", "json", "collections", "math"}
LLM_SOURCE = re.compile(
    r'\Afrom llm_call import llm_judge, llm_extract, llm_score\n'
    r'def check_following\(instruction, response\):\n'
    r'    return llm_judge\(instruction, response, (".*")\)\Z'
)

# Whole-response word limits stated in the prompts: id -> phrase that must occur in the prompt.
# The bounds are parsed from the phrase, so the table cannot drift from the prompt text.
STATED_WORDS = {
    "sample-b-001": "between 80 and 120 words",
    "sample-b-005": "at most 150 words",
    "sample-b-008": "between 100 and 150 words",
    "sample-b-011": "between 120 and 180 words",
    "sample-b-012": "between 90 and 140 words",
    "sample-b-014": "between 45 and 60 words",
    "sample-b-015": "under 200 words",
    "sample-b-019": "under 130 words",
    "sample-b-020": "between 100 and 150 words",
    "sample-b-023": "at most 60 words",
    "sample-b-024": "between 150 and 220 words",
    "sample-b-025": "no more than 100 words",
    "sample-b-027": "roughly 80 words",
    "sample-b-028": "between 60 and 120 words",
    "sample-b-029": "between 80 and 130 words",
    "sample-b-032": "at most 80 words",
}


def _load_records() -> list[dict]:
    with DATA.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


RECORDS = _load_records()
BY_ID = {r["id"]: r for r in RECORDS}
PROBE_LIST = json.loads(PROBES.read_text(encoding="utf-8"))["probes"]


def _rule_fn(source: str):
    namespace: dict = {}
    exec(compile(source, "<check_following>", "exec"), namespace)  # noqa: S102 - tests may exec
    return namespace["check_following"]


def _rule_indices(record: dict) -> list[int]:
    return [i for i, c in enumerate(record["checkers"]) if c.startswith("[rule]")]


def _llm_text(source: str) -> str:
    match = LLM_SOURCE.match(source)
    assert match, f"not the standard llm_judge template:\n{source}"
    return json.loads(match.group(1))


def _bounds(phrase: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", phrase)]
    if phrase.startswith("between"):
        return numbers[0], numbers[1]
    if phrase.startswith("under"):
        return 0, numbers[0] - 1
    if phrase.startswith("roughly"):
        return round(numbers[0] * 0.75), round(numbers[0] * 1.25)
    return 0, numbers[0]  # "at most" / "no more than"


RULE_CASES = [(r["id"], i) for r in RECORDS for i in _rule_indices(r)]


# ------------------------------------------------------------------------------------ structure
def test_ids_are_the_expected_unique_sequence():
    assert [r["id"] for r in RECORDS] == [f"sample-b-{i:03d}" for i in range(1, N_RECORDS + 1)]


@pytest.mark.parametrize("rid", list(BY_ID))
def test_record_shape(rid):
    r = BY_ID[rid]
    assert set(r) == {"id", "prompt", "checkers", "functions", "responses"}
    assert 2 <= len(r["checkers"]) <= 8
    assert len(r["functions"]) == len(r["checkers"])
    for name in r["checkers"]:
        assert re.fullmatch(r"\[(rule|llm)\] [A-Z][A-Za-z_]+", name), f"untagged or odd checker {name!r}"
    # the constraints are written into the prompt after a blank line, as in VerInstruct
    assert "\n\n" in r["prompt"]

    responses = r["responses"]
    assert 2 <= len(responses) <= 4
    assert len({x["id"] for x in responses}) == len(responses)
    for x in responses:
        assert set(x) == {"id", "text", "labels"}
        assert x["text"].strip() == x["text"] and x["text"]
        assert len(x["labels"]) == len(r["checkers"])
        assert all(isinstance(v, bool) for v in x["labels"])
    assert any(all(x["labels"]) for x in responses), "needs a response that satisfies every constraint"
    assert any(not all(x["labels"]) for x in responses), "needs a response that violates something"


def test_most_records_mix_hard_and_soft_and_extremes_exist():
    kinds = [{c.split("]")[0][1:] for c in r["checkers"]} for r in RECORDS]
    assert sum(k == {"rule", "llm"} for k in kinds) >= N_RECORDS - 4
    # one all-rule and one all-llm record exercise the edges of mean(rules) x llm_score
    assert {"rule"} in kinds and {"llm"} in kinds


def test_soft_only_violations_fool_rule_only_verifiers():
    """Enough responses pass every [rule] check yet fail a soft constraint."""
    fooled = 0
    for r in RECORDS:
        rules = _rule_indices(r)
        for x in r["responses"]:
            if all(x["labels"][i] for i in rules) and not all(x["labels"]):
                fooled += 1
    assert fooled >= 15


def test_exactly_two_records_pack_several_soft_constraints_into_one_llm_entry():
    packed = []
    for r in RECORDS:
        for name, source in zip(r["checkers"], r["functions"]):
            if name.startswith("[llm]") and _llm_text(source).count(";") >= 2:
                packed.append(r["id"])
    assert packed == ["sample-b-008", "sample-b-022"]
    for rid in packed:
        assert sum(c.startswith("[llm]") for c in BY_ID[rid]["checkers"]) == 1


# ------------------------------------------------------------------------------- llm functions
@pytest.mark.parametrize("rid", list(BY_ID))
def test_llm_functions_judge_text_taken_from_the_prompt(rid, monkeypatch):
    r = BY_ID[rid]
    calls = []
    fake = types.ModuleType("llm_call")
    fake.llm_judge = lambda instruction, response, constraint: calls.append((instruction, response, constraint)) or True
    fake.llm_extract = fake.llm_score = lambda *a, **k: pytest.fail("only llm_judge is expected")
    monkeypatch.setitem(sys.modules, "llm_call", fake)
    for name, source in zip(r["checkers"], r["functions"]):
        if not name.startswith("[llm]"):
            continue
        text = _llm_text(source)
        assert text in r["prompt"], f"{name}: judged text is not in the prompt: {text!r}"
        calls.clear()
        assert _rule_fn(source)("instruction", "some response") is True
        assert calls == [("instruction", "some response", text)]


# ------------------------------------------------------------------------------ rule functions
@pytest.mark.parametrize("rid,index", RULE_CASES)
def test_rule_function_source_is_plain_stdlib(rid, index):
    source = BY_ID[rid]["functions"][index]
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= ALLOWED_IMPORTS
    defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert defs == ["check_following"]
    assert "llm_call" not in source


@pytest.mark.parametrize("rid,index", RULE_CASES)
def test_rule_function_agrees_with_every_gold_label(rid, index):
    r = BY_ID[rid]
    check = _rule_fn(r["functions"][index])
    for x in r["responses"]:
        # the reference reward passes the literal string "instruction"; the prompt must not matter
        got = bool(check("instruction", x["text"]))
        assert got == x["labels"][index], f"{rid} {r['checkers'][index]} #{index} on {x['id']}: rule says {got}"
        assert bool(check(r["prompt"], x["text"])) == got


@pytest.mark.parametrize("rid,index", RULE_CASES)
def test_rule_function_is_proven_both_ways(rid, index):
    r = BY_ID[rid]
    check = _rule_fn(r["functions"][index])
    outcomes = {x["labels"][index] for x in r["responses"]}
    for probe in PROBE_LIST:
        if probe["record"] == rid and probe["checker"] == index:
            assert bool(check("instruction", probe["text"])) == probe["expected"], probe["why"]
            outcomes.add(probe["expected"])
    assert outcomes == {True, False}, f"{rid} {r['checkers'][index]} #{index} is never seen both passing and failing"


def test_probes_are_only_used_where_responses_do_not_suffice():
    seen = set()
    for probe in PROBE_LIST:
        key = (probe["record"], probe["checker"])
        assert key not in seen, f"duplicate probe for {key}"
        seen.add(key)
        r = BY_ID[probe["record"]]
        assert r["checkers"][probe["checker"]].startswith("[rule]")
        labels = {x["labels"][probe["checker"]] for x in r["responses"]}
        assert len(labels) == 1 and probe["expected"] not in labels, f"probe {key} is not needed"


# ------------------------------------------------------------------------------- response length
@pytest.mark.parametrize("rid,phrase", sorted(STATED_WORDS.items()))
def test_response_lengths_match_the_stated_word_limit(rid, phrase):
    r = BY_ID[rid]
    assert phrase in r["prompt"]
    lo, hi = _bounds(phrase)
    for x in r["responses"]:
        n = len(x["text"].split())
        if all(x["labels"]):
            assert lo <= n <= hi, f"{x['id']} satisfies everything but has {n} words, prompt says {phrase}"
        # violating texts are still realistic attempts at the task, not stubs or padding
        assert lo / 3 <= n <= 2 * hi, f"{x['id']}: {n} words is implausible for {phrase}"


def test_every_whole_response_word_limit_is_in_the_table():
    pattern = re.compile(r"(between \d+ and \d+|at most \d+|no more than \d+|under \d+|roughly \d+) words")
    for r in RECORDS:
        for line in r["prompt"].split("\n\n", 1)[1].splitlines():
            if re.search(r"\beach\b|explanation|rationale", line, re.IGNORECASE):
                continue  # limits on a part: each bullet/answer, the text after a code block, a JSON field
            match = pattern.search(line)
            if match:
                assert STATED_WORDS.get(r["id"]) == match.group(0), r["id"]


@pytest.mark.parametrize("rid", list(BY_ID))
def test_responses_are_complete_texts(rid):
    for x in BY_ID[rid]["responses"]:
        assert 15 <= len(x["text"].split()) <= 400
