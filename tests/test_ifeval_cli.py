"""``verif-nb ifeval score`` run in-process through verif_nb.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verif_nb.checkers.cli import RESULT_FILES
from verif_nb.cli import main

INPUTS = [
    {"key": 1, "prompt": "Write a haiku. No commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {
        "key": 2,
        "prompt": "Quote it and write at least 3 words.",
        "instruction_id_list": ["startend:quotation", "length_constraints:number_words"],
        "kwargs": [{"num_words": None}, {"relation": "at least", "num_words": 3, "keywords": None}],
    },
]
RESPONSES = [
    {"prompt": "Quote it and write at least 3 words.", "response": 'Sure:\n"one two three"'},
    {"prompt": "Write a haiku. No commas.", "response": "Old pond, a frog jumps"},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path / "in.jsonl", INPUTS), _write(tmp_path / "resp.jsonl", RESPONSES)


def test_score_writes_reference_format_and_prints_one_json_line(files, tmp_path, capsys):
    inputs, responses = files
    out = tmp_path / "run"
    assert main(["ifeval", "score", "--inputs", str(inputs), "--responses", str(responses), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    # strict: prompt 1 fails (commas), prompt 2 fails the quotation (preamble line) -> 0/2 prompts, 1/3 checks
    assert (summary["prompt_strict"], summary["instruction_strict"]) == (0.0, 33.33)
    # loose: dropping the first line wraps prompt 2 in quotes; commas stay
    assert (summary["prompt_loose"], summary["instruction_loose"]) == (50.0, 66.67)
    assert summary["per_group_loose"] == {"length_constraints": 100.0, "punctuation": 0.0, "startend": 100.0}
    strict = [json.loads(x) for x in (out / RESULT_FILES[0]).read_text().splitlines()]
    loose = [json.loads(x) for x in (out / RESULT_FILES[1]).read_text().splitlines()]
    assert list(strict[1]) == [
        "instruction_id_list",
        "prompt",
        "response",
        "follow_all_instructions",
        "follow_instruction_list",
    ]
    assert strict[1]["follow_instruction_list"] == [False, True]
    assert loose[1]["follow_instruction_list"] == [True, True] and loose[1]["follow_all_instructions"] is True
    assert strict[0]["response"] == "Old pond, a frog jumps"


def test_refuses_to_overwrite_results_without_force(files, tmp_path, capsys):
    inputs, responses = files
    argv = ["ifeval", "score", "--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "r")]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "exists; choose another --out or pass --force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0


def test_missing_response_names_the_input_line(files, tmp_path, capsys):
    inputs, _ = files
    responses = _write(tmp_path / "partial.jsonl", RESPONSES[:1])
    code = main(
        ["ifeval", "score", "--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "r")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert f"{inputs}:1: field 'prompt': no response in {responses}" in err


def test_bad_kwargs_name_the_input_line(tmp_path, capsys):
    bad = [{**INPUTS[0], "kwargs": [{"num_words": 5}]}]
    inputs = _write(tmp_path / "bad.jsonl", bad)
    responses = _write(tmp_path / "resp.jsonl", RESPONSES)
    code = main(
        ["ifeval", "score", "--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "r")]
    )
    assert code == 2
    assert (
        f"{inputs}:1: field 'kwargs': punctuation:no_comma: does not take kwarg(s) ['num_words']"
        in capsys.readouterr().err
    )
