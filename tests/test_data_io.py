"""Sources (jsonl, json, parquet, folders, saved and hub datasets), jsonl helpers, responses files, the sample."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import verif_nb.data._load as load_module
from verif_nb.data import LoadResult, load_records, load_sample, read_jsonl, read_responses, write_jsonl
from verif_nb.errors import DataError

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "data"
EXAMPLE = ROOT / "../shared/data/verinstruct_format/example.jsonl"
EXAMPLE_ROWS = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]


def _shape(res: LoadResult):
    return [(r.id, r.prompt, [(c.name, c.kind, c.code, c.description) for c in r.constraints]) for r in res]


def test_parquet_and_json_array_read_like_jsonl(tmp_path):
    expected = _shape(load_records(EXAMPLE))
    parquet = tmp_path / "vi.parquet"
    pq.write_table(pa.Table.from_pylist(EXAMPLE_ROWS), parquet)
    res = load_records(parquet)
    assert _shape(res) == expected and res.format == "verinstruct"
    assert res[2].source == f"{parquet}:3"  # row numbers stand in for lines
    array = tmp_path / "vi.json"
    array.write_text(json.dumps(EXAMPLE_ROWS))
    assert _shape(load_records(array)) == expected


def test_parquet_errors_name_the_row(tmp_path):
    rows = [dict(r) for r in EXAMPLE_ROWS]
    rows[3] = {**rows[3], "functions": rows[3]["functions"][:1]}
    path = tmp_path / "vi.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(DataError) as info:
        load_records(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 4, "functions")


def test_dataset_saved_with_datasets_loads_with_its_split(tmp_path):
    datasets = pytest.importorskip("datasets")
    expected = _shape(load_records(EXAMPLE))
    single = tmp_path / "single"
    datasets.Dataset.from_list(EXAMPLE_ROWS).save_to_disk(str(single))
    assert _shape(load_records(single)) == expected
    both = tmp_path / "dict"
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_list(EXAMPLE_ROWS[:3]), "test": datasets.Dataset.from_list(EXAMPLE_ROWS[3:])}
    ).save_to_disk(str(both))
    assert [r.id for r in load_records(both)] == [r["id"] for r in EXAMPLE_ROWS[:3]]
    assert [r.id for r in load_records(both, split="test")] == [r["id"] for r in EXAMPLE_ROWS[3:]]
    with pytest.raises(DataError, match=r"split 'dev' not found.*\['train', 'test'\]|split 'dev' not found"):
        load_records(both, split="dev")


def test_hub_ids_go_through_load_dataset_with_the_split(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(name, split=None, **kw):
        calls.append((name, split))
        return datasets.Dataset.from_list(EXAMPLE_ROWS)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    res = load_records("THU-KEG/VerInstruct", split="train")
    assert calls == [("THU-KEG/VerInstruct", "train")]
    assert len(res) == len(EXAMPLE_ROWS) and res[0].source == "THU-KEG/VerInstruct[train]:1"


def test_hub_failure_is_a_data_error_that_says_what_to_do(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(name, split=None, **kw):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError, match="could not load it as a Hugging Face dataset.*local"):
        load_records("org/missing")


def test_folder_reads_its_files_in_name_order_and_ids_are_unique_across_them(tmp_path):
    write_jsonl(tmp_path / "b.jsonl", EXAMPLE_ROWS[2:])
    write_jsonl(tmp_path / "a.jsonl", EXAMPLE_ROWS[:2])
    (tmp_path / "notes.txt").write_text("not data")
    assert [r.id for r in load_records(tmp_path)] == [r["id"] for r in EXAMPLE_ROWS]
    write_jsonl(tmp_path / "c.jsonl", EXAMPLE_ROWS[:1])
    with pytest.raises(DataError) as info:
        load_records(tmp_path)
    assert (info.value.path, info.value.line, info.value.field) == (str(tmp_path / "c.jsonl"), 1, "id")
    assert "a.jsonl:1" in info.value.message


def test_mixed_formats_in_a_folder_are_detected_per_file(tmp_path):
    write_jsonl(tmp_path / "1.jsonl", EXAMPLE_ROWS[:1])
    write_jsonl(
        tmp_path / "2.jsonl",
        [{"key": 9, "prompt": "No commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}],
    )
    res = load_records(tmp_path)
    assert res.format == "verinstruct+ifeval" and len(res) == 2


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "missing.jsonl", "file not found"),
        (lambda d: (d / "x.csv").write_text("a,b") and d / "x.csv", "unsupported file type"),
        (lambda d: (d / "empty").mkdir() or d / "empty", "folder holds no"),
        (lambda d: (d / "bad.parquet").write_text("nope") and d / "bad.parquet", "not a readable parquet"),
        (lambda d: (d / "bad.json").write_text("{") and d / "bad.json", "malformed JSON"),
    ],
)
def test_unreadable_sources_are_data_errors(tmp_path, make, fragment):
    with pytest.raises(DataError, match=fragment):
        load_records(make(tmp_path))


def test_rows_of_no_known_format_are_reported(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "a"}] + EXAMPLE_ROWS[:1])
    with pytest.raises(DataError) as info:
        load_records(path)
    assert (info.value.line, info.value.field) == (1, None) and "cannot tell the format" in info.value.message
    res = load_records(path, lenient=True)
    assert len(res) == 1 and len(res.skipped) == 1


@pytest.mark.parametrize(
    "path, kwargs",
    [
        (FIXTURES / "verinstruct_good.jsonl", {}),
        (FIXTURES / "verinstruct_mixed_bad.jsonl", {}),
        (FIXTURES / "verinstruct_untagged.jsonl", {}),
        (FIXTURES / "verinstruct_untagged.jsonl", {"untagged": "drop"}),
        (FIXTURES / "ifeval_mixed.jsonl", {}),
        (FIXTURES / "ifeval_mixed.jsonl", {"unknown_checkers": "drop"}),
        (ROOT / "../shared/data/ifbench/IFBench_test.jsonl", {"unknown_checkers": "llm"}),
    ],
)
def test_nothing_is_lost_records_plus_skipped_equals_rows(path, kwargs):
    res = load_records(path, lenient=True, **kwargs)
    rows = sum(1 for line in path.read_text().splitlines() if line.strip())
    assert len(res) + len(res.skipped) == rows == res.counts["rows"]
    assert res.counts["records"] == len(res) and res.counts["skipped"] == len(res.skipped)


def test_jsonl_helpers_round_trip_and_report_bad_lines(tmp_path):
    rows = [{"id": "a", "text": "naïve — ok"}, {"id": "b", "n": [1, 2]}]
    path = write_jsonl(tmp_path / "sub" / "r.jsonl", rows)
    assert read_jsonl(path) == rows
    assert "naïve" in path.read_text(encoding="utf-8")  # written as UTF-8, not escaped
    path.write_text('{"id": "a"}\n\n{"id": \n')
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    assert (info.value.path, info.value.line) == (str(path), 3)


def test_a_byte_order_mark_and_crlf_line_ends_are_tolerated(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(json.dumps(r) for r in EXAMPLE_ROWS).encode() + b"\r\n")
    assert [r.id for r in load_records(path)] == [r["id"] for r in EXAMPLE_ROWS]


def test_a_line_that_is_not_utf8_is_that_lines_error(tmp_path):
    path = tmp_path / "latin1.jsonl"
    lines = [json.dumps(r).encode() for r in EXAMPLE_ROWS[:2]]
    lines.insert(1, '{"id": "café"}'.encode("latin-1"))
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError) as info:
        load_records(path)
    assert (info.value.line, info.value.field) == (2, None) and "UTF-8" in info.value.message
    res = load_records(path, lenient=True)
    assert len(res) == 2 and [e.line for e in res.skipped] == [2]


def test_responses_file_allows_several_rows_per_id(tmp_path):
    path = write_jsonl(
        tmp_path / "resp.jsonl",
        [{"id": "a", "response": "one"}, {"id": 2, "response": ""}, {"id": "a", "response": "two"}],
    )
    assert read_responses(path) == [("a", "one"), ("2", ""), ("a", "two")]


@pytest.mark.parametrize(
    "row, field, fragment",
    [
        ({"response": "x"}, "id", "missing"),
        ({"prompt": "p", "response": "x"}, "id", "key rows by prompt"),
        ({"id": ["a"], "response": "x"}, "id", "expected a non-empty string"),
        ({"id": "a"}, "response", "missing"),
        ({"id": "a", "response": 3}, "response", "expected a string"),
        ("[1, 2]", None, "expected a JSON object"),
        ('{"id": ', None, "malformed JSON"),
    ],
)
def test_bad_response_rows_name_file_line_and_field(tmp_path, row, field, fragment):
    path = tmp_path / "resp.jsonl"
    path.write_text(
        json.dumps({"id": "ok", "response": "fine"}) + "\n" + (row if isinstance(row, str) else json.dumps(row)) + "\n"
    )
    with pytest.raises(DataError) as info:
        read_responses(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 2, field)
    assert fragment in info.value.message


def test_load_sample_reads_every_jsonl_in_name_order(tmp_path, monkeypatch):
    rows = [json.loads(line) for line in (FIXTURES / "verinstruct_good.jsonl").read_text().splitlines()]
    write_jsonl(tmp_path / "b_second.jsonl", rows[1:])
    write_jsonl(tmp_path / "a_first.jsonl", rows[:1])
    (tmp_path / "README.md").write_text("ignored")
    monkeypatch.setattr(load_module, "SAMPLE_DIR", tmp_path)
    res = load_sample()
    assert [r.id for r in res] == ["g1", "g2", "3"]
    assert res[0].source.endswith("a_first.jsonl:1") and res.counts["responses"] == 3


def test_load_sample_says_clearly_when_the_sample_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(load_module, "SAMPLE_DIR", tmp_path / "sample")
    with pytest.raises(DataError, match="embedded sample dataset is missing"):
        load_sample()


def test_the_embedded_sample_loads_when_present():
    res = load_sample()
    assert len(res) > 0 and res.skipped == []
    assert res.counts["responses"] > 0
    for rec in res:
        for resp in rec.responses:
            assert resp.labels is None or len(resp.labels) == len(rec.constraints)
