"""`verif-nb data inspect` and `verif-nb export verl`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from verif_nb import cli as top_cli
from verif_nb.data import cli as data_cli
from verif_nb.data import load_records
from verif_nb.errors import VerifNbError

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "data"
EXAMPLE = ROOT / "../shared/data/verinstruct_format/example.jsonl"


def run(argv: list[str]) -> int:
    # Only this module's commands, so the test does not depend on every other command module importing.
    parser = argparse.ArgumentParser(prog="verif-nb")
    data_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VerifNbError as err:  # what verif_nb.cli.main does
        print(f"verif-nb: error: {err}")
        return 2


def test_data_cli_is_registered():
    assert "verif_nb.data.cli" in top_cli.COMMAND_MODULES


def test_inspect_prints_one_json_line(capsys):
    assert run(["data", "inspect", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    summary = json.loads(out[0])
    expected = load_records(EXAMPLE)
    assert {k: summary[k] for k in ("records", "constraints", "rule", "llm", "skipped")} == {
        k: expected.counts[k] for k in ("records", "constraints", "rule", "llm", "skipped")
    }
    assert summary["groups"] == expected.groups() and sum(summary["groups"].values()) == summary["constraints"]


def test_inspect_counts_bad_rows_unless_strict(capsys):
    bad = str(FIXTURES / "verinstruct_mixed_bad.jsonl")
    assert run(["data", "inspect", bad]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["records"], summary["skipped"], summary["rows"]) == (5, 5, 10)
    assert summary["first_errors"][0].endswith("each line must be one JSON object")
    assert run(["data", "inspect", bad, "--strict"]) == 2
    assert "verinstruct_mixed_bad.jsonl:2" in capsys.readouterr().out


def test_inspect_shows_policies(capsys):
    assert run(["data", "inspect", str(FIXTURES / "verinstruct_untagged.jsonl"), "--untagged", "rule"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["policies"] == {"untagged": 2, "untagged_to_rule": 2}


def test_export_verl_writes_parquet_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "train.parquet"
    args = [
        "export",
        "verl",
        "--data",
        str(FIXTURES / "verinstruct_untagged.jsonl"),
        "--out",
        str(out),
        "--untagged",
        "drop",
    ]
    assert run(args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"out": str(out), "rows": 2, "skipped": 1}
    assert [r.id for r in load_records(out)] == ["u1", "u3"]
    assert run(args) == 2 and "--force" in capsys.readouterr().err
    assert run(args + ["--force", "--untagged", "rule"]) == 0
    assert len(load_records(out)) == 3


def test_export_verl_strict_by_default_and_lenient_on_request(tmp_path, capsys):
    out = tmp_path / "t.parquet"
    bad = str(FIXTURES / "verinstruct_mixed_bad.jsonl")
    assert run(["export", "verl", "--data", bad, "--out", str(out)]) == 2
    assert not out.exists()
    assert run(["export", "verl", "--data", bad, "--out", str(out), "--lenient"]) == 0
    assert len(load_records(out)) == 5  # m8 and m9 keep their unverifiable function
    assert "skipped" in capsys.readouterr().err
