"""``verif-nb verify --mode hybrid`` end to end against the real embedded judge (llama.cpp + the PyPI 0.5B GGUF).

The server is started once for the module with ``verif-nb judge serve`` on a free port and stopped with
``verif-nb judge stop``. Skipped, with the reason, when llama-cpp-python or the model's chunk packages
are not installed. The 0.5B judge is weak, so this checks the plumbing — well-formed rows, verdicts
parsed or recorded as errors, one judge call per response, the cache — not the judge's opinions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stub_judge_server import closed_port
from verif_nb.cli import main
from verif_nb.data import load_records, write_jsonl
from verif_nb.errors import JudgeError
from verif_nb.gguf import MODELS, find_parts
from verif_nb.judge.server import LLAMA_INSTALL_HINT, llama_available, server_status

pytestmark = [pytest.mark.llama, pytest.mark.slow]

SAMPLE = Path(__file__).resolve().parents[1] / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
# Three records with both hard and soft constraints and short texts (9 responses), to keep CPU time low.
RECORD_IDS = ["sample-a-029", "sample-a-006", "sample-a-016"]
MODEL = "qwen2.5-coder-0.5b"


def _skip_reason() -> str | None:
    if not llama_available():
        return f"llama-cpp-python's server is not installed ({LLAMA_INSTALL_HINT})"
    try:
        find_parts(MODELS[MODEL])
    except JudgeError as err:
        return f"the judge model's PyPI chunk packages are missing: {err}"
    return None


@pytest.fixture(scope="module")
def judge_url():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    port = closed_port()
    assert (
        main(
            [
                "judge",
                "serve",
                "--model",
                MODEL,
                "--port",
                str(port),
                "--threads",
                "2",
                "--ctx",
                "2048",
                "--no-logprobs",
            ]
        )
        == 0
    )
    try:
        status = server_status(port)
        assert status["running"] and status["healthy"]
        yield status["base_url"]
    finally:
        main(["judge", "stop", "--port", str(port)])
        assert not server_status(port)["running"]


def _verify(tmp_path: Path, capsys, url: str, responses: Path, out: Path) -> tuple[list[dict], dict]:
    code = main(
        [
            "verify",
            "--data",
            str(SAMPLE),
            "--responses",
            str(responses),
            "--out",
            str(out),
            "--mode",
            "hybrid",
            "--judge-base-url",
            url,
            "--judge-model",
            MODELS[MODEL].served_name,
            "--judge-max-tokens",
            "32",
            "--judge-concurrency",
            "1",
            "--judge-cache",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return [json.loads(line) for line in out.read_text().splitlines()], summary


def test_hybrid_verify_with_the_real_judge_then_a_warm_rerun(judge_url, tmp_path, capsys):
    records = {r.id: r for r in load_records(SAMPLE).records}
    items = [(rid, resp) for rid in RECORD_IDS for resp in records[rid].responses]
    responses = write_jsonl(tmp_path / "responses.jsonl", [{"id": rid, "response": r.text} for rid, r in items])

    rows, summary = _verify(tmp_path, capsys, judge_url, responses, tmp_path / "cold.jsonl")
    assert len(rows) == len(items) == summary["responses"]
    assert summary["judge"]["calls"] == len(items)  # VerIF: one judge call per response, not per constraint
    assert summary["judge"]["prompt_tokens"] > 100 * len(items) and summary["judge"]["completion_tokens"] > 0
    unverified = 0
    for (rid, resp), row in zip(items, rows):
        record = records[rid]
        assert row["id"] == rid and [v["name"] for v in row["constraints"]] == [
            c.name for c in record.rule_constraints
        ] + [c.name for c in record.llm_constraints]
        rule_labels = [resp.labels[i] for i, c in enumerate(record.constraints) if c.kind == "rule"]
        # the code half is exact: it agrees with the gold labels
        assert [v["passed"] for v in row["constraints"] if v["kind"] == "rule"] == rule_labels
        for v in row["constraints"]:
            assert {"name", "kind", "passed", "error", "reason"} <= set(v) and v["reason"]
            if v["kind"] == "llm":
                assert v["raw"] is not None  # the judge did answer
                assert v["passed"] in (True, False) or (v["passed"] is None and v["error"])
        judge = [v for v in row["constraints"] if v["kind"] == "llm"]
        if judge[0]["passed"] is None:
            unverified += 1
            assert row["reward"] is None and row["error"]
        else:
            assert row["reward"] == pytest.approx(row["rule_score"] * float(judge[0]["passed"]))
    assert summary["rewards_none"] == unverified == summary["judge"]["failed"]

    warm_rows, warm = _verify(tmp_path, capsys, judge_url, responses, tmp_path / "warm.jsonl")
    assert warm["judge"]["calls"] == 0 and warm["judge"]["cache_hits"] == len(items)
    assert [r["reward"] for r in warm_rows] == [r["reward"] for r in rows]
