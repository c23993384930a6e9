"""VerInstruct jsonl into Records: fields, errors naming file/line/field, lenient reports, untagged policies."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import pytest

from verif_nb.data import extract_llm_description, load_records, split_tag, write_jsonl
from verif_nb.errors import DataError, ParamsError

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "data"
EXAMPLE = ROOT / "../shared/data/verinstruct_format/example.jsonl"

RULE = "def check_following(instruction, response):\n    return len(response) < 100"
LLM = (
    "from llm_call import llm_judge\ndef check_following(instruction, response):\n"
    "    return llm_judge(instruction, response, 'Be kind.')"
)
BASE = {
    "id": "b1",
    "prompt": "Write kindly, under 100 characters.",
    "checkers": ["[rule] Length", "[llm] Tone"],
    "functions": [RULE, LLM],
    "responses": [
        {"id": "r1", "text": "Hello friend.", "labels": [True, True]},
        {"id": "r2", "text": "Go away.", "labels": [True, False]},
    ],
}


def test_example_file_reads_every_record_with_kinds_and_descriptions():
    res = load_records(EXAMPLE)
    rows = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    assert res.format == "verinstruct"
    assert [r.id for r in res] == [row["id"] for row in rows]
    for rec, row in zip(res, rows):
        assert rec.prompt == row["prompt"]
        assert [c.name for c in rec.constraints] == row["checkers"]
        assert [c.code for c in rec.constraints] == row["functions"]
        assert [c.kind for c in rec.constraints] == [split_tag(n)[0] for n in row["checkers"]]
        for c in rec.llm_constraints:
            # In the example each soft constraint's text is a line of the prompt.
            assert c.description and c.description in rec.prompt
        assert all(c.description is None for c in rec.rule_constraints)
        assert rec.source.endswith(f"example.jsonl:{rows.index(row) + 1}")
    assert res.counts["constraints"] == sum(len(r["checkers"]) for r in rows)
    assert res.counts["rule"] + res.counts["llm"] == res.counts["constraints"]


def test_good_fixture_maps_responses_ids_and_multi_constraint_descriptions():
    res = load_records(FIXTURES / "verinstruct_good.jsonl")
    g1, g2, g3 = res
    assert [(x.id, x.labels) for x in g1.responses] == [("r1", [True, True]), ("r2", [False, None]), (None, None)]
    assert g1.responses[1].gold_score == 0.0
    # One [llm] entry listing several soft constraints keeps the whole string.
    assert g2.llm_constraints[0].description == "1. Be poetic. 2. Avoid cliches. 3. End on a hopeful note."
    assert g3.id == "3"  # integer ids become strings
    assert g3.constraints[0].kind == "llm" and g3.constraints[0].description == "Answer in at most five words."
    assert res.counts["responses"] == 3 and res.skipped == []


@pytest.mark.parametrize(
    "code, expected",
    [
        (
            'from llm_call import llm_judge\ndef check_following(i, r):\n    return llm_judge(i, r, "Be brief.")',
            "Be brief.",
        ),
        (
            "import llm_call\ndef check_following(i, r):\n    return llm_call.llm_score(i, r, question='Is it funny?')",
            "Is it funny?",
        ),
        (
            'C = "Use a formal register."\ndef check_following(i, r):\n    return llm_judge(i, r, C)',
            "Use a formal register.",
        ),
        (
            'def check_following(i, r):\n    c = "Rhymes" + " every line."\n    return llm_judge(i, r, c)',
            "Rhymes every line.",
        ),
        ('def check_following(i, r):\n    return llm_judge(i, r, "A.") and llm_extract(i, r, "B.")', "A.\nB."),
        ('def check_following(i, r):\n    return llm_judge("instruction", r, "Only this.")', "Only this."),
        ('def check_following(i, r):\n    return llm_judge(i, r, f"about {i}")', None),
        ("def check_following(i, r):\n    return len(r) > 3", None),
        ("def check_following(i, r:\n", None),
    ],
)
def test_llm_description_is_read_statically(code, expected):
    assert extract_llm_description(code) == expected


def _write(tmp_path: Path, rows: list, name: str = "d.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _set(path: str, value):
    def mutate(row):
        keys = path.split(".")
        target = row
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        last = keys[-1]
        if value is _DELETE:
            del target[last]
        elif isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return row

    return mutate


_DELETE = object()

# (case id, mutation of BASE, field named in the error, fragment of the message)
ERROR_CASES = [
    ("id missing", _set("id", _DELETE), "id", "missing"),
    ("id wrong type", _set("id", ["x"]), "id", "expected a non-empty string"),
    ("id bool", _set("id", True), "id", "expected a non-empty string"),
    ("prompt missing", _set("prompt", _DELETE), "prompt", "missing"),
    ("prompt wrong type", _set("prompt", 5), "prompt", "expected a string"),
    ("prompt empty", _set("prompt", "  "), "prompt", "empty"),
    ("checkers missing", _set("checkers", _DELETE), "checkers", "missing"),
    ("checkers not list", _set("checkers", "[rule] Length"), "checkers", "expected a list"),
    ("checker not string", _set("checkers.1", 7), "checkers[1]", "expected a string"),
    ("functions not list", _set("functions", {"a": 1}), "functions", "expected a list"),
    ("function not string", _set("functions.0", None), "functions[0]", "expected a string"),
    ("length mismatch", _set("functions", [RULE]), "functions", "has 1 entries but checkers has 2"),
    ("no checkers", lambda r: {**r, "checkers": [], "functions": [], "responses": []}, "checkers", "empty"),
    ("untagged", _set("checkers.0", "Length"), "checkers[0]", "no [rule] or [llm] tag"),
    ("responses not list", _set("responses", "r1"), "responses", "expected a list"),
    ("response not object", _set("responses.0", "text"), "responses[0]", "expected an object"),
    ("response text missing", _set("responses.0.text", _DELETE), "responses[0].text", "missing"),
    ("labels length", _set("responses.1.labels", [True]), "responses[1].labels", "has 1 labels but the record has 2"),
    ("label not bool", _set("responses.0.labels.1", "yes"), "responses[0].labels[1]", "expected true, false or null"),
    ("duplicate response id", _set("responses.1.id", "r1"), "responses[1].id", "duplicate response id"),
    ("duplicate record id", _set("id", "first"), "id", "duplicate id 'first'"),
]


@pytest.mark.parametrize("case, mutate, field, fragment", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_row_error_names_file_line_and_field(tmp_path, case, mutate, field, fragment):
    first = {**copy.deepcopy(BASE), "id": "first"}
    path = _write(tmp_path, [first, mutate(copy.deepcopy(BASE))])
    with pytest.raises(DataError) as info:
        load_records(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), 2, field)
    assert f"{path}:2: field '{field}': " in str(err)
    assert fragment in err.message
    # Lenient: the same row is skipped with the same reason, the good row kept, nothing lost.
    res = load_records(path, lenient=True)
    assert [r.id for r in res] == ["first"]
    assert [(e.line, e.field) for e in res.skipped] == [(2, field)]
    assert res.counts["rows"] == 2 == len(res) + len(res.skipped)


@pytest.mark.parametrize("text", ['{"id": "x", "prompt": ', '["not", "an", "object"]'])
def test_unreadable_line_names_file_and_line(tmp_path, text):
    path = _write(tmp_path, [{**BASE, "id": "first"}, text])
    with pytest.raises(DataError) as info:
        load_records(path, format="verinstruct")
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, None)
    assert str(info.value).startswith(f"{path}:2: ")


def test_lenient_mode_reports_every_bad_row_with_its_reason():
    path = FIXTURES / "verinstruct_mixed_bad.jsonl"
    with pytest.raises(DataError) as info:
        load_records(path)
    assert info.value.line == 2
    res = load_records(path, lenient=True)
    # m8 (a syntax error) and m9 (no check_following) are read: one bad function is one unverifiable
    # constraint (passed=None when verified), not a lost row
    assert [r.id for r in res] == ["m1", "m4", "m8", "m9", "m11"]
    assert res.counts["rule_code_rejected"] == 2
    assert {e.line: e.field for e in res.skipped} == {
        2: None,
        3: "prompt",
        5: "functions",
        6: "id",
        10: "checkers[0]",
    }
    assert all(e.path == str(path) for e in res.skipped)
    non_blank = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert res.counts["rows"] == non_blank == len(res) + len(res.skipped)
    assert res.counts["skipped"] == 5
    summary = res.summary()
    assert "5 records from 10 rows (5 skipped)" in summary
    assert f"{path}:6: field 'id': duplicate id 'm1'" in summary


UNTAGGED = FIXTURES / "verinstruct_untagged.jsonl"


def test_untagged_error_policy_is_the_default_and_names_the_checker():
    with pytest.raises(DataError) as info:
        load_records(UNTAGGED)
    assert (info.value.line, info.value.field) == (1, "checkers[0]")
    assert "'Keyword_Constraints'" in str(info.value) and "untagged=" in str(info.value)
    res = load_records(UNTAGGED, lenient=True)
    assert [r.id for r in res] == ["u3"]
    assert [(e.line, e.field) for e in res.skipped] == [(1, "checkers[0]"), (2, "checkers[0]")]


@pytest.mark.parametrize(
    "policy, ids, u1_kinds, counts",
    [
        ("rule", ["u1", "u2", "u3"], ["rule", "llm"], {"untagged": 2, "untagged_to_rule": 2, "constraints": 4}),
        (
            "llm",
            ["u1", "u2", "u3"],
            ["llm", "llm"],
            {"untagged": 2, "untagged_to_llm": 2, "llm_no_description": 2, "llm": 3, "rule": 1},
        ),
        (
            "drop",
            ["u1", "u3"],
            ["llm"],
            {"untagged": 1, "untagged_dropped": 1, "dropped_by_policy": 1, "constraints": 2},
        ),
    ],
)
def test_untagged_policies_are_applied_and_counted(policy, ids, u1_kinds, counts):
    res = load_records(UNTAGGED, untagged=policy)  # strict: a 'drop' that empties a row is not an error
    assert [r.id for r in res] == ids
    u1 = res[0]
    assert [c.kind for c in u1.constraints] == u1_kinds
    for key, value in counts.items():
        assert res.counts[key] == value, key
    for key in ("untagged_to_rule", "untagged_to_llm", "untagged_dropped"):
        assert res.counts[key] == counts.get(key, 0)
    assert res.counts["rows"] == 3 == len(res) + len(res.skipped)
    assert "untagged checkers:" in res.summary()


def test_dropping_an_untagged_checker_realigns_labels_and_reports_the_empty_row():
    res = load_records(UNTAGGED, untagged="drop")
    u1 = res[0]
    assert [c.name for c in u1.constraints] == ["[llm] Politeness"]
    assert u1.responses[0].labels == [True]  # the label of the dropped checker went with it
    assert u1.meta["dropped_checkers"] == ["Keyword_Constraints"]
    assert [(e.line, e.field) for e in res.skipped] == [(2, "checkers")]
    assert "untagged='drop'" in res.skipped[0].message


def test_untagged_as_llm_keeps_the_code_and_uses_the_name_when_nothing_is_quoted():
    res = load_records(UNTAGGED, untagged="llm")
    c = res[0].constraints[0]
    assert (c.kind, c.name, c.description) == ("llm", "Keyword_Constraints", "Keyword_Constraints")
    assert "bonjour" in c.code


def test_extra_columns_are_kept_in_meta(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{**BASE, "category": "tone", "source": "hand-written"}])
    rec = load_records(path)[0]
    assert rec.meta == {"format": "verinstruct", "category": "tone", "source": "hand-written"}
    assert rec.source == f"{path}:1"  # the extra 'source' column does not replace where the record was read


def test_dataset_code_is_never_executed(tmp_path):
    # Passes the static screen, but would raise at once if anything ran it.
    code = (
        "raise RuntimeError('dataset code ran in the loader')\n"
        "def check_following(instruction, response):\n    return True"
    )
    path = write_jsonl(tmp_path / "d.jsonl", [{**BASE, "functions": [code, LLM]}])
    assert load_records(path)[0].constraints[0].code == code


@pytest.mark.parametrize("kwargs", [{"format": "csv"}, {"untagged": "keep"}, {"unknown_checkers": "rule"}])
def test_unknown_option_values_are_refused(kwargs):
    with pytest.raises(ParamsError):
        load_records(EXAMPLE, **kwargs)


def _sandbox_screen_available() -> bool:
    try:
        return hasattr(importlib.import_module("verif_nb.sandbox"), "validate_code")
    except ImportError:
        return False


@pytest.mark.skipif(not _sandbox_screen_available(), reason="verif_nb.sandbox.validate_code not available yet")
@pytest.mark.parametrize(
    "bad",
    [
        "import subprocess\ndef check_following(instruction, response):\n    return True",
        "def check_following(instruction, response)\n    return 1",
        "return True",
        "def judge(instruction, response):\n    return True",
    ],
    ids=["forbidden import", "syntax error", "return outside def", "no check_following"],
)
def test_code_the_sandbox_would_refuse_is_one_unverifiable_constraint_not_a_lost_row(tmp_path, bad):
    from verif_nb.verifier import Verifier

    path = write_jsonl(tmp_path / "d.jsonl", [BASE, {**BASE, "id": "b2", "functions": [bad, LLM]}])
    loaded = load_records(path)
    assert [r.id for r in loaded] == [BASE["id"], "b2"] and loaded.counts["rule_code_rejected"] == 1
    record = loaded.records[1]
    with Verifier(mode="rule") as verifier, Verifier(mode="rule", on_rule_error="zero") as zero:
        result = verifier.verify(record, "some response")
        assert result.reward is None and result.verdicts[0].passed is None and result.verdicts[0].error
        assert zero.verify(record, "some response").reward == 0.0


def test_llm_call_imports_are_accepted():
    assert len(load_records(EXAMPLE)) == 5  # every [llm] function there imports llm_call
