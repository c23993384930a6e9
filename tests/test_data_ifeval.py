"""IFEval / IFBench jsonl into Records of built-in checkers; unknown-checker policies; kwargs validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verif_nb.data import load_records, write_jsonl
from verif_nb.errors import DataError

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "data"
IFEVAL = ROOT / "../shared/data/ifeval/input_data.jsonl"
IFBENCH = ROOT / "../shared/data/ifbench/IFBench_test.jsonl"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_ifeval_input_file_loads_all_541_records():
    res = load_records(IFEVAL)
    rows = _rows(IFEVAL)
    assert len(rows) == 541
    assert len(res) == 541 and res.skipped == [] and res.format == "ifeval"
    for rec, row in zip(res, rows):
        assert rec.id == str(row["key"]) and rec.prompt == row["prompt"]
        assert [c.checker_id for c in rec.constraints] == row["instruction_id_list"]
        assert [c.name for c in rec.constraints] == row["instruction_id_list"]
        assert [c.kwargs for c in rec.constraints] == [
            {k: v for k, v in kw.items() if v is not None} for kw in row["kwargs"]
        ]
        assert all(c.kind == "rule" and c.code is None for c in rec.constraints)
    assert res.counts["rule"] == sum(len(r["instruction_id_list"]) for r in rows) == res.counts["constraints"]
    assert set(res.groups()) == {cid.split(":")[0] for r in rows for cid in r["instruction_id_list"]}


def test_ifeval_input_file_is_fully_validated():
    res = load_records(IFEVAL)
    assert res.counts["unknown_checkers"] == 0 and res.counts["constraints"] == res.counts["rule"] > 0


def test_ifbench_loads_as_validated_rule_constraints_by_default():
    rows = _rows(IFBENCH)
    res = load_records(IFBENCH)
    n_ids = sum(len(r["instruction_id_list"]) for r in rows)
    assert len(res) == 300 and res.skipped == []
    assert res.counts["rule"] == n_ids and res.counts["unknown_checkers"] == 0
    first = res[0].constraints[0]
    assert (first.kind, first.checker_id, first.code) == ("rule", "count:keywords_multiple", None)
    # The hub copy pads every kwarg with null; only the given ones are kept.
    assert first.kwargs == {
        "keyword1": "kaleidoscope",
        "keyword2": "nebula",
        "keyword3": "whisper",
        "keyword4": "labyrinth",
        "keyword5": "paradox",
    }
    assert len(res.groups()) == len({cid.split(":")[0] for r in rows for cid in r["instruction_id_list"]})


def test_ifbench_kwargs_are_validated_naming_the_row_and_field(tmp_path):
    row = {"key": "9", "prompt": "p", "instruction_id_list": ["count:numbers"], "kwargs": [{"N": "three"}]}
    path = write_jsonl(tmp_path / "bad.jsonl", [row])
    with pytest.raises(DataError) as info:
        load_records(path, format="ifbench")
    assert (info.value.line, info.value.field) == (1, "kwargs[0]") and "must be an integer" in info.value.message


@pytest.mark.parametrize(
    "policy, ids, key3_kinds, counts",
    [
        ("llm", ["1", "2", "3", "4"], ["llm", "rule"], {"unknown_checkers": 2, "unknown_to_llm": 2, "llm": 2}),
        ("drop", ["1", "2", "3"], ["rule"], {"unknown_checkers": 1, "unknown_dropped": 1, "dropped_by_policy": 1}),
    ],
)
def test_unknown_checker_policies_on_a_mixed_file(policy, ids, key3_kinds, counts):
    path = FIXTURES / "ifeval_mixed.jsonl"
    with pytest.raises(DataError) as info:
        load_records(path)
    assert (info.value.line, info.value.field) == (3, "instruction_id_list[0]")
    res = load_records(path, unknown_checkers=policy)
    assert [r.id for r in res] == ids
    assert [c.kind for c in res[2].constraints] == key3_kinds
    for key, value in counts.items():
        assert res.counts[key] == value, key
    assert res.counts["rows"] == 4 == len(res) + len(res.skipped)
    assert res[1].constraints[0].kwargs == {"relation": "at least", "num_words": 300}


def _ifeval_row(**over):
    row = {
        "key": 7,
        "prompt": "Write 300+ words.",
        "instruction_id_list": ["length_constraints:number_words"],
        "kwargs": [{"relation": "at least", "num_words": 300}],
    }
    row.update(over)
    return row


# (case, row, field); structure is checked whether or not the built-in registry is there.
STRUCTURE_CASES = [
    ("key missing", {k: v for k, v in _ifeval_row().items() if k != "key"}, "key"),
    ("key wrong type", _ifeval_row(key=[7]), "key"),
    ("prompt missing", {k: v for k, v in _ifeval_row().items() if k != "prompt"}, "prompt"),
    ("ids not a list", _ifeval_row(instruction_id_list="punctuation:no_comma"), "instruction_id_list"),
    ("id not a string", _ifeval_row(instruction_id_list=[3]), "instruction_id_list[0]"),
    ("kwargs missing", {k: v for k, v in _ifeval_row().items() if k != "kwargs"}, "kwargs"),
    ("kwargs not a list", _ifeval_row(kwargs={"num_words": 3}), "kwargs"),
    ("kwargs misaligned", _ifeval_row(kwargs=[{}, {}]), "kwargs"),
    ("kwargs entry not object", _ifeval_row(kwargs=["at least"]), "kwargs[0]"),
    ("no ids", _ifeval_row(instruction_id_list=[], kwargs=[]), "instruction_id_list"),
    ("duplicate key", _ifeval_row(key=1), "key"),
]


@pytest.mark.parametrize("case, row, field", STRUCTURE_CASES, ids=[c[0] for c in STRUCTURE_CASES])
def test_bad_ifeval_row_names_file_line_and_field(tmp_path, case, row, field):
    path = write_jsonl(tmp_path / "d.jsonl", [_ifeval_row(key=1), row])
    with pytest.raises(DataError) as info:
        load_records(path, format="ifeval")
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, field)
    assert f"{path}:2: field '{field}'" in str(info.value)


KWARGS_CASES = [
    ("bad relation", [{"relation": "about", "num_words": 300}]),
    ("wrong type", [{"relation": "at least", "num_words": "many"}]),
    ("unknown kwarg", [{"relation": "at least", "num_words": 300, "colour": "red"}]),
    ("missing kwarg", [{"relation": "at least"}]),
]


@pytest.mark.parametrize("case, kwargs", KWARGS_CASES, ids=[c[0] for c in KWARGS_CASES])
def test_wrong_kwargs_are_errors_naming_the_kwargs_entry(tmp_path, case, kwargs):
    path = write_jsonl(tmp_path / "d.jsonl", [_ifeval_row(kwargs=kwargs)])
    with pytest.raises(DataError) as info:
        load_records(path, unknown_checkers="llm")  # wrong kwargs of a known id are never turned into llm
    assert (info.value.line, info.value.field) == (1, "kwargs[0]")
    assert "length_constraints:number_words" in info.value.message
    res = load_records(path, lenient=True)
    assert len(res) == 0 and [e.field for e in res.skipped] == ["kwargs[0]"]
