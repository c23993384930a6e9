"""Gold-label checks for half A of the embedded sample dataset (``verinstruct_sample_a.jsonl``).

The sample is the gold standard that LLM judges and rule checkers are measured against, so its labels
must be right. Here every ``[rule]`` function is compiled and run on every candidate response and must
agree with the hand-written label; each one must also be seen to pass one text and fail another, so a
function that always says True (or always False) cannot hide behind lucky labels. Extra texts for that
live in ``fixtures/sample_a_probes.json``, only for rules the responses prove one way only.

The file is read with :mod:`json` directly, on purpose: this is a check of the data, not of a loader.
Dataset code is exec'd here, which only tests may do (the package runs it in the sandbox).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
PROBES_FILE = Path(__file__).parent / "fixtures" / "sample_a_probes.json"

RECORDS = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
BY_ID = {r["id"]: r for r in RECORDS}
PROBES = json.loads(PROBES_FILE.read_text(encoding="utf-8"))

LLM_HEADER = ("from llm_call import llm_judge, llm_extract, llm_score\n"
              "def check_following(instruction, response):\n")
CHECKER_NAME = re.compile(r"^\[(rule|llm)\] [A-Z][A-Za-z]*(_[A-Z][A-Za-z]*)*$")
STDLIB_ALLOWED = {"re", "string", "json", "collections", "math", "itertools", "unicodedata"}

# The paper's constraint taxonomy, by checker name (llm Specific_Sentence asks for a given kind of
# sentence, i.e. content; the rule one pins an exact start or end, i.e. format).
TAXONOMY = {
    "[rule] Length_Constraints": "length",
    "[rule] Paragraphs_Constraints": "length",
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
    "[llm] Role_Playing": "style",
}

# Word limits as the prompts state them: (pattern, lower bound group, upper bound group).
WORD_LIMITS = [
    (re.compile(r"between (\d+) and (\d+) words"), 1, 2),
    (re.compile(r"(\d+) to (\d+) words"), 1, 2),
    (re.compile(r"(?:under|at most|no more than) (\d+) words"), None, 1),
]


def _rule_cases() -> list[tuple[str, int]]:
    return [(r["id"], i) for r in RECORDS for i, name in enumerate(r["checkers"]) if name.startswith("[rule]")]


def _compile(source: str):
    namespace: dict = {}
    exec(compile(source, "<check_following>", "exec"), namespace)  # noqa: S102 - tests may exec dataset code
    return namespace["check_following"]


def _probes_for(record_id: str, index: int) -> list[dict]:
    return [p for p in PROBES.get(record_id, []) if p["index"] == index]


def _judge_text(source: str) -> str:
    """The constraint string an [llm] function hands to llm_judge."""
    calls = [n for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "llm_judge"]
    assert len(calls) == 1, "expected exactly one llm_judge call"
    arg = calls[0].args[2]
    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    return arg.value


def _words(text: str) -> int:
    return len(text.split())


# ------------------------------------------------------------------------------------------- structure

def test_ids_are_the_32_expected_unique_ids():
    assert [r["id"] for r in RECORDS] == [f"sample-a-{n:03d}" for n in range(1, 33)]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_record_shape(record):
    assert set(record) == {"id", "prompt", "checkers", "functions", "responses"}
    assert 2 <= len(record["checkers"]) <= 8
    assert len(record["functions"]) == len(record["checkers"])
    for name in record["checkers"]:
        assert CHECKER_NAME.match(name), f"untagged or malformed checker name {name!r}"
    for source in record["functions"]:
        assert "def check_following(instruction, response):" in source
    assert "\n\n" in record["prompt"], "the constraints follow the task after a blank line"


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_responses_are_labelled_and_include_a_chosen_and_a_rejected(record):
    responses = record["responses"]
    assert 2 <= len(responses) <= 4
    assert [x["id"] for x in responses] == [f"r{i}" for i in range(1, len(responses) + 1)]
    for x in responses:
        assert set(x) == {"id", "text", "labels"}
        assert len(x["labels"]) == len(record["checkers"]), f"{x['id']}: labels not aligned with checkers"
        assert all(isinstance(v, bool) for v in x["labels"])
        assert x["text"] == x["text"].strip() and _words(x["text"]) >= 10
    assert any(all(x["labels"]) for x in responses), "no response satisfies every constraint"
    assert any(not all(x["labels"]) for x in responses), "no response violates anything"


def test_most_records_mix_hard_and_soft_constraints():
    kinds = [{n.split("]")[0] + "]" for n in r["checkers"]} for r in RECORDS]
    mixed = sum(k == {"[rule]", "[llm]"} for k in kinds)
    assert mixed >= 28
    # one record of each pure kind exercises scorers where one side of the hybrid reward is empty
    assert sum(k == {"[rule]"} for k in kinds) == 1
    assert sum(k == {"[llm]"} for k in kinds) == 1


def test_taxonomy_is_covered():
    groups = [TAXONOMY[name] for r in RECORDS for name in r["checkers"]]
    counts = {g: groups.count(g) for g in {"length", "keyword", "format", "content", "style"}}
    assert all(n >= 10 for n in counts.values()), counts
    assert len(groups) == sum(len(r["checkers"]) for r in RECORDS), "a checker name is missing from TAXONOMY"


def test_two_records_pack_several_soft_constraints_into_one_llm_entry():
    packed = set()
    for r in RECORDS:
        for name, source in zip(r["checkers"], r["functions"]):
            if name.startswith("[llm]") and len(re.findall(r"[.!?](?:\s|$)", _judge_text(source))) >= 2:
                packed.add(r["id"])
    assert packed == {"sample-a-008", "sample-a-013"}


def test_some_responses_break_only_soft_constraints():
    """Responses a rule-only verifier would wrongly accept; they are what the LLM judge is for."""
    fooled = 0
    for r in RECORDS:
        soft = [n.startswith("[llm]") for n in r["checkers"]]
        for x in r["responses"]:
            hard_ok = all(v for v, s in zip(x["labels"], soft) if not s)
            soft_bad = any(not v for v, s in zip(x["labels"], soft) if s)
            fooled += hard_ok and soft_bad
    assert fooled >= 15


# ---------------------------------------------------------------------------------- llm entries

@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_llm_functions_ask_the_judge_about_a_constraint_of_the_prompt(record):
    prompt = " ".join(record["prompt"].split())
    for name, source in zip(record["checkers"], record["functions"]):
        if not name.startswith("[llm]"):
            continue
        assert source.startswith(LLM_HEADER)
        text = _judge_text(source)
        assert " ".join(text.split()) in prompt, f"{name}: judge text {text!r} is not in the prompt"


# --------------------------------------------------------------------------------- rule functions

@pytest.mark.parametrize("record_id,index", _rule_cases(), ids=lambda v: str(v))
def test_rule_function_uses_only_allowed_stdlib_modules(record_id, index):
    tree = ast.parse(BY_ID[record_id]["functions"][index])
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= STDLIB_ALLOWED, imported - STDLIB_ALLOWED


@pytest.mark.parametrize("record_id,index", _rule_cases(), ids=lambda v: str(v))
def test_rule_function_agrees_with_gold_labels(record_id, index):
    record = BY_ID[record_id]
    check = _compile(record["functions"][index])
    for x in record["responses"]:
        # the reference reward code passes the literal "instruction"; the prompt must make no difference
        got = bool(check("instruction", x["text"]))
        assert got == bool(check(record["prompt"], x["text"]))
        assert got == x["labels"][index], f"{x['id']}: rule says {got}, gold label {x['labels'][index]}"
    for probe in _probes_for(record_id, index):
        assert bool(check("instruction", probe["text"])) == probe["expected"], probe["text"][:60]


@pytest.mark.parametrize("record_id,index", _rule_cases(), ids=lambda v: str(v))
def test_rule_function_is_proven_both_ways(record_id, index):
    record = BY_ID[record_id]
    outcomes = {x["labels"][index] for x in record["responses"]}
    outcomes |= {p["expected"] for p in _probes_for(record_id, index)}
    assert outcomes == {True, False}


def test_probes_exist_only_where_the_responses_prove_a_rule_one_way():
    assert set(PROBES) <= set(BY_ID)
    for record_id, probes in PROBES.items():
        record = BY_ID[record_id]
        for probe in probes:
            assert record["checkers"][probe["index"]].startswith("[rule]")
            labels = {x["labels"][probe["index"]] for x in record["responses"]}
            assert len(labels) == 1, f"{record_id} #{probe['index']}: responses already prove it both ways"
            assert probe["expected"] not in labels


# ------------------------------------------------------------------------------------ length sanity

@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r["id"])
def test_response_lengths_fit_the_stated_word_limit(record):
    limits = None
    for pattern, lo_group, hi_group in WORD_LIMITS:
        m = pattern.search(record["prompt"])
        if m:
            limits = (int(m.group(lo_group)) if lo_group else 0, int(m.group(hi_group)))
            break
    if limits is None:
        pytest.skip("no word limit in this prompt")
    lo, hi = limits
    for x in record["responses"]:
        n = _words(x["text"])
        # violators may miss the limit, but stay realistic texts of roughly the requested size
        assert 0.4 * lo <= n <= 2 * hi, f"{x['id']}: {n} words for a {lo}-{hi} word task"
        if all(x["labels"]):
            assert lo <= n <= hi, f"{x['id']} is labelled all-true but has {n} words ({lo}-{hi} asked)"


def test_word_limits_are_found_where_expected():
    with_limits = {r["id"] for r in RECORDS if any(p.search(r["prompt"]) for p, _, _ in WORD_LIMITS)}
    assert len(with_limits) == 11
