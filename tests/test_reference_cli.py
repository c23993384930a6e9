"""``verif-nb verify --profile reference`` end to end: a stub OpenAI-compatible judge, the original's rewards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from stub_judge_server import StubJudgeServer
from test_reference_profile import CASES, FAIL, LLM_CALL, REFERENCE, Table, oracle, original_reward  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not LLM_CALL.exists(), reason="../shared/reference/verif_reward is not beside the project"
)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verif_nb.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_verify_cli_reference_profile_gives_the_original_rewards(oracle, tmp_path):  # noqa: F811
    # One judge answer for the whole file, so a stub with a fixed answer is the same table on both sides.
    cases = [c for c in CASES[:80] if c["judge"] == "[[1]]" and c["extract"] is not FAIL][:12]
    assert len(cases) >= 5
    data, responses, out = tmp_path / "data.jsonl", tmp_path / "resp.jsonl", tmp_path / "out.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"id": c["id"], "prompt": c["instruction"], "checkers": c["checkers"], "functions": c["functions"]}
            )
            + "\n"
            for c in cases
        )
    )
    responses.write_text("".join(json.dumps({"id": c["id"], "response": c["response"]}) + "\n" for c in cases))
    with StubJudgeServer(answer=lambda body: "[[1]]" if body.get("max_tokens") == 4096 else "Short title") as stub:
        done = run_cli(
            "verify",
            "--profile",
            "reference",
            "--judge-template-file",
            str(LLM_CALL),
            "--judge-base-url",
            stub.url,
            "--judge-model",
            "stub-judge",
            "--mode",
            "hybrid",
            "--data",
            str(data),
            "--responses",
            str(responses),
            "--out",
            str(out),
        )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["profile"] == "reference" and summary["responses"] == len(cases)
    got = [json.loads(line)["reward"] for line in out.read_text().splitlines()]
    expected = [original_reward(oracle, {**c, "extract": "Short title"})[0] for c in cases]
    assert got == pytest.approx(expected, abs=1e-9)


def test_reference_profile_without_the_original_prompt_refuses_and_says_where_to_point(tmp_path):
    data, responses = tmp_path / "d.jsonl", tmp_path / "r.jsonl"
    data.write_text(json.dumps({"id": "a", "prompt": "p", "checkers": ["[llm] Tone"], "functions": ["x = 1"]}) + "\n")
    responses.write_text(json.dumps({"id": "a", "response": "hi"}) + "\n")
    done = run_cli(
        "verify",
        "--profile",
        "reference",
        "--mode",
        "hybrid",
        "--data",
        str(data),
        "--responses",
        str(responses),
        "--out",
        str(tmp_path / "o.jsonl"),
    )
    assert done.returncode != 0
    assert "--judge-template-file" in done.stderr and "llm_call.py" in done.stderr
    assert "Traceback" not in done.stderr


def test_lenient_verify_writes_a_row_for_every_response_line(tmp_path):
    data, responses, out = tmp_path / "d.jsonl", tmp_path / "r.jsonl", tmp_path / "o.jsonl"
    good = {
        "id": "a",
        "prompt": "p",
        "checkers": ["[rule] Short"],
        "functions": ["def check_following(instruction, response):\n    return len(response) < 5\n"],
    }
    bad = {"id": "b", "prompt": "p", "checkers": ["[rule] X"], "functions": []}  # misaligned: unreadable
    data.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    responses.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "response": "ok"}),
                json.dumps({"id": "b", "response": "x"}),
                json.dumps({"id": "a"}),
                "{not json",
                json.dumps({"id": "zzz", "response": "y"}),
            ]
        )
        + "\n"
    )
    done = run_cli("verify", "--lenient", "--data", str(data), "--responses", str(responses), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["reward"] for r in rows] == [1.0, None, None, None, None]
    assert f"{data}:2" in rows[1]["error"] and "could not be read" in rows[1]["error"]
    assert f"{responses}:3" in rows[2]["error"] and "response" in rows[2]["error"]
    assert f"{responses}:4" in rows[3]["error"]
    assert "no record 'zzz'" in rows[4]["error"]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["responses"] == 5 and summary["rewards_none"] == 4 and summary["unreadable_responses"] == 4
