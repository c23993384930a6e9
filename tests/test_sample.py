"""Gold-label checks of the embedded sample dataset, both halves (``verinstruct_sample_{a,b}.jsonl``).

The sample is the gold standard that LLM judges and rule checkers are measured against, so every label
that code can decide is re-derived here: each ``[rule]`` function is executed on every response and must
agree with the stored label, and must be seen to pass one text and fail another, so a function that always
says True (or always False) cannot hide behind lucky labels. Extra texts for that live in
``fixtures/sample_probes.json``, only for rules the responses prove one way only. Soft ``[llm]`` labels are
human judgements and are only checked for shape.

The files are read with plain :mod:`json`, on purpose: this is a check of the data, not of a loader.
Dataset code is exec'd here, which only tests may do (the package runs it in the sandbox).
"""

from __future__ import annotations

import ast
import json
import re
import sys
import types
from pathlib import Path

import pytest

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "verif_nb" / "data" / "sample"
HALVES = ("a", "b")
N_RECORDS = 32
RECORDS = {
    half: [
        json.loads(line)
        for line in (SAMPLE_DIR / f"verinstruct_sample_{half}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for half in HALVES
}
BY_ID = {r["id"]: r for half in HALVES for r in RECORDS[half]}
PROBES = json.loads((Path(__file__).parent / "fixtures" / "sample_probes.json").read_text(encoding="utf-8"))["probes"]

ALLOWED_IMPORTS = {"re", "string", "json", "collections", "math", "itertools", "unicodedata"}
LLM_SOURCE = re.compile(
    r"\Afrom llm_call import llm_judge, llm_extract, llm_score\n"
    r"def check_following\(instruction, response\):\n"
    r'    return llm_judge\(instruction, response, (".*")\)\Z'
)
CHECKER_NAME = re.compile(r"^\[(rule|llm)\] [A-Z][A-Za-z]*(_[A-Z][A-Za-z]*)*$")

# The paper's constraint taxonomy, by checker name (llm Specific_Sentence asks for a given kind of
# sentence, i.e. content; the rule one pins an exact start or end, i.e. format).
TAXONOMY = {
    "[rule] Length_Constraints": "length",
    "[rule] Paragraphs_Constraints": "length",
    "[llm] Length_Constraints": "length",
    "[rule] Keyword_Constraints": "keyword",
    "[rule] Item_Listing_Details": "format",
    "[rule] Special_Output_Format": "format",
    "[rule] Specific_Sentence": "format",
    "[rule] Punctuation": "format",
    "[rule] Case_Conversion": "format",
    "[llm] Content_Constraints": "content",
    "[llm] Specific_Sentence": "content",
    "[llm] Tone": "style",
    "[llm] Target_Audience": "style",
    "[llm] Desired_Writing_Style": "style",
    "[rule] Desired_Writing_Style": "style",
    "[llm] Role_Playing": "style",
}

# Whole-response word limits as the prompts state them; limits on a part of the response (each bullet,
# the explanation after a code block) are not whole-response limits.
WORD_LIMIT = re.compile(r"(between \d+ and \d+|\d+ to \d+|at most \d+|no more than \d+|under \d+|roughly \d+) words")
PART_LIMIT = re.compile(r"\beach\b|explanation|rationale", re.IGNORECASE)
# How many prompts of each half state one (a prompt's limit that the regex stops finding fails the count).
LIMITED_PROMPTS = {"a": 11, "b": 16}


def _compile(source: str):
    namespace: dict = {}
    exec(compile(source, "<check_following>", "exec"), namespace)  # noqa: S102 - tests may exec dataset code
    return namespace["check_following"]


def _judge_text(source: str) -> str:
    """The constraint string an [llm] function hands to llm_judge (the standard VerInstruct template)."""
    match = LLM_SOURCE.match(source)
    assert match, f"not the standard llm_judge template:\n{source}"
    return json.loads(match.group(1))


def _word_limit(prompt: str) -> tuple[str, int, int] | None:
    """(phrase, lower, upper) of the prompt's whole-response word limit, or None."""
    for line in prompt.split("\n\n", 1)[1].splitlines():
        match = WORD_LIMIT.search(line)
        if match and not PART_LIMIT.search(line):
            phrase = match.group(0)
            numbers = [int(n) for n in re.findall(r"\d+", phrase)]
            if len(numbers) == 2:
                return phrase, numbers[0], numbers[1]
            if phrase.startswith("under"):
                return phrase, 0, numbers[0] - 1
            if phrase.startswith("roughly"):
                return phrase, round(numbers[0] * 0.75), round(numbers[0] * 1.25)
            return phrase, 0, numbers[0]  # "at most" / "no more than"
    return None


def _probes_for(record_id: str, index: int) -> list[dict]:
    return [p for p in PROBES if p["record"] == record_id and p["checker"] == index]


ALL_RECORDS = [r for half in HALVES for r in RECORDS[half]]
RULE_CASES = [(r["id"], i) for r in ALL_RECORDS for i, name in enumerate(r["checkers"]) if name.startswith("[rule]")]
by_record = pytest.mark.parametrize("record", ALL_RECORDS, ids=lambda r: r["id"])
by_rule = pytest.mark.parametrize(("record_id", "index"), RULE_CASES, ids=lambda v: str(v))
by_half = pytest.mark.parametrize("half", HALVES)


# ------------------------------------------------------------------------------------------- structure


@by_half
def test_ids_are_the_32_expected_unique_ids(half):
    assert [r["id"] for r in RECORDS[half]] == [f"sample-{half}-{n:03d}" for n in range(1, N_RECORDS + 1)]


@by_record
def test_record_shape(record):
    assert set(record) == {"id", "prompt", "checkers", "functions", "responses"}
    assert 2 <= len(record["checkers"]) <= 8
    assert len(record["functions"]) == len(record["checkers"])
    for name in record["checkers"]:
        assert CHECKER_NAME.match(name), f"untagged or malformed checker name {name!r}"
        assert name in TAXONOMY, f"{name} has no taxonomy class"
    for source in record["functions"]:
        assert "def check_following(instruction, response):" in source
    assert "\n\n" in record["prompt"], "the constraints follow the task after a blank line"


@by_record
def test_responses_are_labelled_and_include_a_chosen_and_a_rejected(record):
    responses = record["responses"]
    assert 2 <= len(responses) <= 4
    assert [x["id"] for x in responses] == [f"r{i}" for i in range(1, len(responses) + 1)]
    for x in responses:
        assert set(x) == {"id", "text", "labels"}
        assert len(x["labels"]) == len(record["checkers"]), f"{x['id']}: labels not aligned with checkers"
        assert all(isinstance(v, bool) for v in x["labels"])
        assert x["text"] == x["text"].strip() and 10 <= len(x["text"].split()) <= 400
    assert any(all(x["labels"]) for x in responses), "no response satisfies every constraint"
    assert any(not all(x["labels"]) for x in responses), "no response violates anything"


@by_half
def test_most_records_mix_hard_and_soft_constraints(half):
    kinds = [{n.split("]")[0] + "]" for n in r["checkers"]} for r in RECORDS[half]]
    assert sum(k == {"[rule]", "[llm]"} for k in kinds) >= N_RECORDS - 4
    # one record of each pure kind exercises scorers where one side of the hybrid reward is empty
    assert sum(k == {"[rule]"} for k in kinds) == 1
    assert sum(k == {"[llm]"} for k in kinds) == 1


def test_taxonomy_is_covered():
    groups = [TAXONOMY[name] for r in ALL_RECORDS for name in r["checkers"]]
    counts = {g: groups.count(g) for g in {"length", "keyword", "format", "content", "style"}}
    assert all(n >= 20 for n in counts.values()), counts


@by_half
def test_two_records_pack_several_soft_constraints_into_one_llm_entry(half):
    # several constraints in one judge text: sentences or semicolon-separated clauses
    packed = [
        r["id"]
        for r in RECORDS[half]
        for name, source in zip(r["checkers"], r["functions"])
        if name.startswith("[llm]") and len(re.findall(r"[.!?;](?:\s|$)", _judge_text(source))) >= 3
    ]
    assert packed == {"a": ["sample-a-008", "sample-a-013"], "b": ["sample-b-008", "sample-b-022"]}[half]


@by_half
def test_some_responses_break_only_soft_constraints(half):
    """Responses a rule-only verifier would wrongly accept; they are what the LLM judge is for."""
    fooled = 0
    for r in RECORDS[half]:
        soft = [n.startswith("[llm]") for n in r["checkers"]]
        for x in r["responses"]:
            hard_ok = all(v for v, s in zip(x["labels"], soft) if not s)
            fooled += hard_ok and not all(x["labels"])
    assert fooled >= 15


# ---------------------------------------------------------------------------------- llm entries


@by_record
def test_llm_functions_ask_the_judge_about_a_constraint_of_the_prompt(record, monkeypatch):
    calls = []
    fake = types.ModuleType("llm_call")
    fake.llm_judge = lambda instruction, response, constraint: calls.append((instruction, response, constraint)) or True
    fake.llm_extract = fake.llm_score = lambda *a, **k: pytest.fail("only llm_judge is expected")
    monkeypatch.setitem(sys.modules, "llm_call", fake)
    prompt = " ".join(record["prompt"].split())
    for name, source in zip(record["checkers"], record["functions"]):
        if not name.startswith("[llm]"):
            continue
        text = _judge_text(source)
        assert " ".join(text.split()) in prompt, f"{name}: judge text {text!r} is not in the prompt"
        calls.clear()
        assert _compile(source)("instruction", "some response") is True
        assert calls == [("instruction", "some response", text)]


# --------------------------------------------------------------------------------- rule functions


@by_rule
def test_rule_function_is_one_plain_stdlib_function(record_id, index):
    source = BY_ID[record_id]["functions"][index]
    tree = ast.parse(source)
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["check_following"]


@by_rule
def test_rule_function_agrees_with_gold_labels_and_is_proven_both_ways(record_id, index):
    record = BY_ID[record_id]
    check = _compile(record["functions"][index])
    for x in record["responses"]:
        # the reference reward code passes the literal "instruction"; the prompt must make no difference
        got = bool(check("instruction", x["text"]))
        assert got == bool(check(record["prompt"], x["text"]))
        assert got == x["labels"][index], f"{x['id']}: rule says {got}, gold label {x['labels'][index]}"
    probes = _probes_for(record_id, index)
    for probe in probes:
        assert bool(check("instruction", probe["text"])) == probe["expected"], probe.get("why", probe["text"][:60])
    outcomes = {x["labels"][index] for x in record["responses"]} | {p["expected"] for p in probes}
    assert outcomes == {True, False}, f"{record['checkers'][index]} #{index} is never seen both passing and failing"


def test_probes_exist_only_where_the_responses_prove_a_rule_one_way():
    keys = [(p["record"], p["checker"], p["text"]) for p in PROBES]
    assert len(keys) == len(set(keys)), "duplicate probe"
    for probe in PROBES:
        assert set(probe) <= {"record", "checker", "text", "expected", "why"}
        record = BY_ID[probe["record"]]
        assert record["checkers"][probe["checker"]].startswith("[rule]")
        labels = {x["labels"][probe["checker"]] for x in record["responses"]}
        assert len(labels) == 1, f"{probe['record']} #{probe['checker']}: responses already prove it both ways"
        assert probe["expected"] not in labels


# ------------------------------------------------------------------------------------ length sanity


@by_half
def test_word_limits_are_found_where_expected(half):
    assert sum(_word_limit(r["prompt"]) is not None for r in RECORDS[half]) == LIMITED_PROMPTS[half]


@pytest.mark.parametrize("record", [r for r in ALL_RECORDS if _word_limit(r["prompt"])], ids=lambda r: r["id"])
def test_response_lengths_fit_the_stated_word_limit(record):
    phrase, lo, hi = _word_limit(record["prompt"])
    for x in record["responses"]:
        n = len(x["text"].split())
        if all(x["labels"]):
            assert lo <= n <= hi, f"{x['id']} is labelled all-true but has {n} words ({phrase} asked)"
        # violators may miss the limit, but stay realistic attempts at the task, not stubs or padding
        assert lo / 3 <= n <= 2 * hi, f"{x['id']}: {n} words is implausible for {phrase}"
