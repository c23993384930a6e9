"""``verif-nb ifbench score`` run in-process through verif_nb.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verif_nb.checkers.cli import RESULT_FILES
from verif_nb.cli import main

# IFBench rows pad every kwarg name with null, as the published test file does
PAD = {"N": None, "small_n": None, "keyword": None, "options": None}
INPUTS = [
    {"key": "1", "prompt": "List multiples of 7.", "instruction_id_list": ["custom:multiples"], "kwargs": [PAD]},
    {
        "key": "2",
        "prompt": "Say it with 3 numbers, no spaces.",
        "instruction_id_list": ["count:numbers", "format:no_whitespace"],
        "kwargs": [{**PAD, "N": 3.0}, PAD],
    },
    {"key": "3", "prompt": "Start with a verb.", "instruction_id_list": ["words:start_verb"], "kwargs": [PAD]},
]
RESPONSES = [
    {"prompt": "List multiples of 7.", "response": "14, 21, 28, 35, 42, 49"},
    {"prompt": "Say it with 3 numbers, no spaces. ", "response": "Sure:\n1a2b3"},  # stripped-prompt match
    {"prompt": "Start with a verb.", "response": "Imagine a world."},
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return _write(tmp_path / "in.jsonl", INPUTS), _write(tmp_path / "resp.jsonl", RESPONSES)


def _run(*argv: str) -> int:
    return main(["ifbench", "score", *argv])


def test_score_writes_reference_format_and_one_json_summary(files, tmp_path, capsys):
    inputs, responses = files
    out = tmp_path / "run"
    assert _run("--inputs", str(inputs), "--responses", str(responses), "--out", str(out)) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    strict, loose = ([json.loads(line) for line in (out / name).read_text().splitlines()] for name in RESULT_FILES)
    keys = {"instruction_id_list", "prompt", "response", "follow_all_instructions", "follow_instruction_list"}
    assert all(set(row) == keys for row in strict + loose)
    assert [r["follow_instruction_list"] for r in strict] == [[True], [True, False], [True]]
    assert [r["follow_instruction_list"] for r in loose] == [[True], [True, True], [True]]
    assert summary["prompt_strict"] == 66.67 and summary["prompt_loose"] == 100.0
    assert summary["num_prompts"] == 3 and summary["num_instructions"] == 4 and summary["num_left_out"] == 0
    assert summary["per_group_strict"] == {"count": 100.0, "custom": 100.0, "format": 0.0, "words": 100.0}
    # the one words:start_verb check rests on the substitute POS model, and the summary says so
    assert summary["approximate_checks"]["words:start_verb"]["checks"] == 1


def test_a_prompt_without_response_is_an_error_naming_it(files, tmp_path, capsys):
    inputs, _ = files
    responses = _write(tmp_path / "some.jsonl", RESPONSES[:1])
    assert _run("--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "in.jsonl:2" in err and "Say it with 3 numbers" in err and "1 more prompts: lines 3" in err
    assert "--only-answered" in err
    assert not (tmp_path / "o" / RESULT_FILES[0]).exists()


def test_only_answered_scores_the_answered_and_says_how_many_were_left_out(files, tmp_path, capsys):
    inputs, _ = files
    responses = _write(tmp_path / "some.jsonl", RESPONSES[:1])
    assert (
        _run("--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "o"), "--only-answered")
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["num_prompts"] == 1 and summary["num_left_out"] == 2 and summary["approximate_checks"] == {}


def test_existing_results_are_kept_unless_forced(files, tmp_path, capsys):
    inputs, responses = files
    out = tmp_path / "run"
    args = ("--inputs", str(inputs), "--responses", str(responses), "--out", str(out))
    assert _run(*args) == 0
    assert _run(*args) == 2 and "--force" in capsys.readouterr().err
    assert _run(*args, "--force") == 0


def test_bad_kwargs_name_the_file_line_and_field(tmp_path, capsys):
    inputs = _write(tmp_path / "in.jsonl", [{**INPUTS[1], "kwargs": [{"N": "three"}, {}]}])
    responses = _write(tmp_path / "r.jsonl", RESPONSES)
    assert _run("--inputs", str(inputs), "--responses", str(responses), "--out", str(tmp_path / "o")) == 2
    err = capsys.readouterr().err
    assert "in.jsonl:1" in err and "kwargs" in err and "must be an integer" in err
