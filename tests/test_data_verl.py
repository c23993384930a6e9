"""verl parquet rows (as VerIF's preprocessing writes them): reading, export, round trip, errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from verif_nb.data import export_verl, load_records, write_jsonl
from verif_nb.errors import DataError
from verif_nb.records import Constraint, Record

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "data"
EXAMPLE = ROOT / "../shared/data/verinstruct_format/example.jsonl"
IFEVAL = ROOT / "../shared/data/ifeval/input_data.jsonl"
IFBENCH = ROOT / "../shared/data/ifbench/IFBench_test.jsonl"


def _shape(records):
    return [
        (r.id, r.prompt, [(c.name, c.kind, c.code, c.checker_id, c.kwargs, c.description) for c in r.constraints])
        for r in records
    ]


@pytest.mark.parametrize("source", [EXAMPLE, FIXTURES / "verinstruct_good.jsonl"])
def test_verinstruct_round_trip_through_verl(tmp_path, source):
    original = load_records(source)
    out = export_verl(original.records, tmp_path / "train.parquet", data_source="vi", split="train")
    back = load_records(out)
    assert back.format == "verl"
    assert _shape(back) == _shape(original)
    assert [(r.meta["data_source"], r.meta["split"], r.meta["index"]) for r in back] == [
        ("vi", "train", i) for i in range(len(original))
    ]


def test_exported_rows_have_the_verif_layout(tmp_path):
    original = load_records(EXAMPLE)
    rows = pq.read_table(export_verl(original.records, tmp_path / "t.parquet", split="test")).to_pylist()
    assert len(rows) == len(original)
    src = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    for i, (row, s) in enumerate(zip(rows, src)):
        assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        assert row["data_source"] == "verif_nb" and row["ability"] == "if"
        assert row["prompt"] == [{"role": "user", "content": s["prompt"]}]
        assert row["reward_model"]["style"] == "rule"
        # VerInstruct records carry exactly what VerIF's reward reads.
        assert json.loads(row["reward_model"]["ground_truth"]) == {
            "checkers": s["checkers"],
            "functions": s["functions"],
        }
        assert row["extra_info"] == {"split": "test", "index": i, "id": s["id"], "prompt": s["prompt"]}


def test_ifeval_records_round_trip_with_builtin_checkers(tmp_path):
    original = load_records(IFEVAL)
    back = load_records(export_verl(original.records, tmp_path / "t.parquet"))
    assert _shape(back) == _shape(original)


def test_llm_constraints_without_code_get_verinstruct_code_that_round_trips(tmp_path):
    original = load_records(FIXTURES / "ifeval_mixed.jsonl", unknown_checkers="llm")
    back = load_records(export_verl(original.records, tmp_path / "t.parquet"))
    judged = 0
    for a, b in zip(original.records, back):
        for ca, cb in zip(a.constraints, b.constraints):
            if ca.kind != "llm":
                continue
            judged += 1
            assert (cb.name, cb.kind, cb.checker_id, cb.kwargs, cb.description) == (
                ca.name,
                "llm",
                ca.checker_id,
                ca.kwargs,
                ca.description,
            )
            assert "llm_judge(instruction, response," in cb.code
    assert judged == 2


def test_ifbench_builtin_rule_constraints_round_trip_through_verl(tmp_path):
    original = load_records(IFBENCH)
    back = load_records(export_verl(original.records[:30], tmp_path / "b.parquet"))
    assert _shape(back) == _shape(original.records[:30])


def test_verif_rows_without_record_ids_get_ids_from_split_and_index(tmp_path):
    gt = json.dumps(
        {"checkers": ["[rule] L"], "functions": ["def check_following(instruction, response):\n  return 1"]}
    )
    rows = [
        {
            "data_source": "verinstruct",
            "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Q{i}"}],
            "ability": "if",
            "reward_model": {"style": "rule", "ground_truth": gt},
            "extra_info": {"split": "train", "index": i},
        }
        for i in range(3)
    ]
    import pyarrow as pa

    path = tmp_path / "verif.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    res = load_records(path)
    assert [r.id for r in res] == ["verinstruct-train-0", "verinstruct-train-1", "verinstruct-train-2"]
    assert [r.prompt for r in res] == ["Q0", "Q1", "Q2"]
    assert res[0].meta["messages"][0] == {"role": "system", "content": "Be brief."}


def test_export_refuses_what_a_verl_reward_could_not_run(tmp_path):
    with pytest.raises(DataError):
        export_verl([], tmp_path / "t.parquet")
    bare = Record("x", "p", [Constraint("[rule] Nothing", "rule")])
    with pytest.raises(DataError, match="neither code nor checker_id"):
        export_verl([bare], tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


GOOD_GT = {"checkers": ["[rule] Length"], "functions": ["def check_following(instruction, response):\n    return 1"]}
BASE = {
    "data_source": "d",
    "prompt": [{"role": "user", "content": "Write."}],
    "ability": "if",
    "reward_model": {"style": "rule", "ground_truth": json.dumps(GOOD_GT)},
    "extra_info": {"split": "train", "index": 1},
}
GT = "reward_model.ground_truth"


def _with(path: str, value):
    def mutate(row):
        keys = path.split(".")
        target = row
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        if value is None and isinstance(target, dict):
            del target[keys[-1]]
        else:
            target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = value
        return row

    return mutate


def _gt(**over):
    return json.dumps({**GOOD_GT, **over})


VERL_CASES = [
    ("data_source missing", _with("data_source", None), "data_source"),
    ("prompt not a list", _with("prompt", "Write."), "prompt"),
    ("prompt without user", _with("prompt", [{"role": "system", "content": "x"}]), "prompt"),
    ("message content missing", _with("prompt.0", {"role": "user"}), "prompt[0].content"),
    ("reward_model missing", _with("reward_model", None), "reward_model"),
    ("ground truth malformed", _with("reward_model.ground_truth", "{checkers"), GT),
    ("ground truth not object", _with("reward_model.ground_truth", "[1]"), GT),
    ("checkers missing", _with("reward_model.ground_truth", json.dumps({"functions": []})), f"{GT}.checkers"),
    ("misaligned", _with("reward_model.ground_truth", _gt(functions=[])), f"{GT}.functions"),
    ("untagged", _with("reward_model.ground_truth", _gt(checkers=["Length"])), f"{GT}.checkers[0]"),
    ("extra_info not object", _with("extra_info", "train"), "extra_info"),
    ("duplicate id", _with("extra_info.index", 0), "extra_info.id"),
]


@pytest.mark.parametrize("case, mutate, field", VERL_CASES, ids=[c[0] for c in VERL_CASES])
def test_bad_verl_row_names_file_line_and_field(tmp_path, case, mutate, field):
    first = copy.deepcopy(BASE)
    first["extra_info"]["index"] = 0
    path = write_jsonl(tmp_path / "v.jsonl", [first, mutate(copy.deepcopy(BASE))])
    with pytest.raises(DataError) as info:
        load_records(path, format="verl")
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, field)
    assert f"{path}:2: field '{field}'" in str(info.value)
    res = load_records(path, format="verl", lenient=True)
    assert len(res) == 1 and [e.field for e in res.skipped] == [field]
