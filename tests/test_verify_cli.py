"""``verif-nb verify`` end to end, in process: every mode on the sample data, judge modes against the
fault-injecting stub server, and the failure policy (a dead judge gives counted None rewards, never 0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.stub_judge_server import StubJudgeServer, closed_port
from verif_nb.cli import main
from verif_nb.data import load_records, write_jsonl

SAMPLE = Path(__file__).resolve().parents[1] / "verif_nb" / "data" / "sample" / "verinstruct_sample_a.jsonl"
RECORDS = {r.id: r for r in load_records(SAMPLE).records}
VERDICT_KEYS = {"name", "kind", "passed", "error", "reason"}


def labelled_items(ids: list[str] | None = None) -> list[tuple[str, object]]:
    """(record id, LabelledResponse) for every labelled response of the chosen records (all by default)."""
    chosen = ids or list(RECORDS)
    return [(rid, resp) for rid in chosen for resp in RECORDS[rid].responses]


def write_responses(tmp_path: Path, items) -> Path:
    return write_jsonl(tmp_path / "responses.jsonl", [{"id": rid, "response": resp.text} for rid, resp in items])


def verify(tmp_path: Path, capsys, responses: Path, *extra: str) -> tuple[int, list[dict], dict | None, str]:
    """Run the command; returns exit code, output rows, the parsed summary line and stderr."""
    out = tmp_path / "out.jsonl"
    out.unlink(missing_ok=True)
    code = main(["verify", "--data", str(SAMPLE), "--responses", str(responses), "--out", str(out), *extra])
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    lines = captured.out.strip().splitlines()
    summary = json.loads(lines[-1]) if code == 0 else None
    return code, rows, summary, captured.err


def judge_args(url: str, *extra: str) -> list[str]:
    # retries still happen; their sleeps are cut to keep the tests fast
    return [
        "--judge-base-url",
        url,
        "--judge-model",
        "stub-judge",
        "--judge-backoff",
        "0",
        "--judge-timeout",
        "10",
        *extra,
    ]


# Records with both kinds, one without soft constraints (023) and one without rule constraints (014).
MIXED = ["sample-a-001", "sample-a-002", "sample-a-014", "sample-a-023"]


def test_rule_mode_on_the_sample_matches_the_gold_labels(tmp_path, capsys):
    items = labelled_items()
    code, rows, summary, _ = verify(tmp_path, capsys, write_responses(tmp_path, items), "--mode", "rule")
    assert code == 0 and len(rows) == len(items) == summary["responses"]
    assert summary["mode"] == "rule" and summary["records"] == len(RECORDS) and summary["judge"] is None
    nones = 0
    for (rid, resp), row in zip(items, rows):
        record = RECORDS[rid]
        assert row["id"] == rid
        rule_idx = [i for i, c in enumerate(record.constraints) if c.kind == "rule"]
        assert [v["name"] for v in row["constraints"]] == [record.constraints[i].name for i in rule_idx]
        for verdict, i in zip(row["constraints"], rule_idx):
            assert set(verdict) >= VERDICT_KEYS and verdict["kind"] == "rule" and verdict["reason"]
            assert verdict["error"] is None and verdict["passed"] == resp.labels[i]  # code agrees with gold
        if rule_idx:
            assert row["reward"] == pytest.approx(sum(resp.labels[i] for i in rule_idx) / len(rule_idx))
        else:  # rule mode has nothing to check on a soft-only record: None with a reason, never 0
            nones += 1
            assert row["reward"] is None and "no rule constraints" in row["error"]
    assert summary["rewards_none"] == nones == len(RECORDS["sample-a-014"].responses)


@pytest.mark.parametrize(
    "row, field, words",
    [
        ({"id": "no-such-record", "response": "hi"}, "id", "no record 'no-such-record'"),
        ({"id": "sample-a-001"}, "response", "missing"),
        ({"response": "hi"}, "id", "missing"),
        ({"id": "sample-a-001", "response": 7}, "response", "expected a string"),
    ],
)
def test_bad_response_rows_exit_2_naming_file_line_and_field(tmp_path, capsys, row, field, words):
    good = {"id": "sample-a-001", "response": "fine"}
    responses = write_jsonl(tmp_path / "responses.jsonl", [good, row])
    code, rows, _, err = verify(tmp_path, capsys, responses, "--mode", "rule")
    assert code == 2 and rows == []
    assert f"{responses}:2: field '{field}'" in err and words in err


def test_hybrid_product_and_mean_against_the_stub(tmp_path, capsys):
    items = labelled_items(MIXED)
    responses = write_responses(tmp_path, items)
    judged = [rid for rid, _ in items if RECORDS[rid].llm_constraints]
    with StubJudgeServer(answer="[[0]] The tone is wrong.") as stub:
        code, product, summary, _ = verify(tmp_path, capsys, responses, "--mode", "hybrid", *judge_args(stub.url))
        assert code == 0 and stub.calls == len(judged)  # one judge call per response with soft constraints
        assert summary["judge"]["calls"] == len(judged) and summary["judge"]["failed"] == 0
        stub.reset()
        _, mean, _, _ = verify(
            tmp_path, capsys, responses, "--mode", "hybrid", "--combine", "mean", *judge_args(stub.url)
        )
    for (rid, resp), p, m in zip(items, product, mean):
        record = RECORDS[rid]
        rule = [resp.labels[i] for i, c in enumerate(record.constraints) if c.kind == "rule"]
        rule_score = sum(rule) / len(rule) if rule else None
        kinds = [v["kind"] for v in p["constraints"]]
        assert kinds == ["rule"] * len(rule) + ["llm"] * len(record.llm_constraints)
        for v in p["constraints"]:
            assert set(v) >= VERDICT_KEYS and v["reason"]
            if v["kind"] == "llm":
                assert v["passed"] is False and v["raw"].startswith("[[0]]")
        if not record.llm_constraints:  # rule-only record: the rule score alone
            assert p["reward"] == m["reward"] == pytest.approx(rule_score) and p["judge_score"] is None
        elif rule_score is None:  # soft-only record: the judge alone
            assert p["reward"] == m["reward"] == 0.0
        else:
            assert p["reward"] == 0.0 and m["reward"] == pytest.approx(rule_score / 2)
            assert p["rule_score"] == pytest.approx(rule_score) and p["judge_score"] == 0.0


@pytest.mark.parametrize(
    "combine, expected",
    [
        ("product", lambda r: r),
        ("mean", lambda r: (r + 1) / 2),
        ("min", lambda r: r),
        ("weighted", lambda r: 0.25 * r + 0.75),
    ],
)
def test_combinations_with_a_yes_judge(tmp_path, capsys, combine, expected):
    items = labelled_items(["sample-a-001", "sample-a-002"])
    with StubJudgeServer(answer="[[1]] fine") as stub:
        code, rows, _, _ = verify(
            tmp_path,
            capsys,
            write_responses(tmp_path, items),
            "--mode",
            "hybrid",
            "--combine",
            combine,
            "--rule-weight",
            "0.25",
            *judge_args(stub.url),
        )
    assert code == 0
    for row in rows:
        assert row["reward"] == pytest.approx(expected(row["rule_score"]))


def test_llm_mode_judges_soft_constraints_only(tmp_path, capsys):
    items = labelled_items(MIXED)
    with StubJudgeServer(answer="[[1]] ok") as stub:
        code, rows, summary, _ = verify(
            tmp_path, capsys, write_responses(tmp_path, items), "--mode", "llm", *judge_args(stub.url)
        )
        prompts = [r["messages"][-1]["content"] for r in stub.requests]
    assert code == 0 and stub.calls == sum(1 for rid, _ in items if RECORDS[rid].llm_constraints)
    for (rid, _), row in zip(items, rows):
        record = RECORDS[rid]
        if record.llm_constraints:
            assert row["reward"] == 1.0 and row["rule_score"] is None
            assert {v["kind"] for v in row["constraints"]} == {"llm"}
            assert len(row["constraints"]) == len(record.llm_constraints)
        else:
            assert row["reward"] is None and "no soft" in row["error"] and row["constraints"] == []
    assert summary["rewards_none"] == len(RECORDS["sample-a-023"].responses)
    tone = RECORDS["sample-a-001"].llm_constraints[0].description
    assert any(tone in p for p in prompts)


def test_llm_all_judges_every_constraint_in_one_call_per_response(tmp_path, capsys):
    items = labelled_items(MIXED)
    with StubJudgeServer(answer="[[1]] ok") as stub:
        code, rows, summary, _ = verify(
            tmp_path, capsys, write_responses(tmp_path, items), "--mode", "llm_all", *judge_args(stub.url)
        )
    assert code == 0 and stub.calls == len(items) and summary["rewards_none"] == 0
    for (rid, _), row in zip(items, rows):
        record = RECORDS[rid]
        assert [v["name"] for v in row["constraints"]] == [c.name for c in record.constraints]
        assert all(v["passed"] is True for v in row["constraints"]) and row["reward"] == 1.0


@pytest.mark.parametrize("mode", ["llm", "llm_all", "hybrid"])
@pytest.mark.parametrize("fault", ["closed_port", "500_storm", "garbage"])
def test_a_failing_judge_gives_counted_none_rewards_never_zero(tmp_path, capsys, mode, fault):
    items = labelled_items(["sample-a-001", "sample-a-023"])  # 023 has no soft constraints
    responses = write_responses(tmp_path, items)
    if fault == "closed_port":
        code, rows, summary, _ = verify(
            tmp_path, capsys, responses, "--mode", mode, *judge_args(f"http://127.0.0.1:{closed_port()}/v1")
        )
    else:
        with StubJudgeServer(fault=fault) as stub:
            code, rows, summary, _ = verify(tmp_path, capsys, responses, "--mode", mode, *judge_args(stub.url))
    assert code == 0
    judged = [row for (rid, _), row in zip(items, rows) if mode == "llm_all" or RECORDS[rid].llm_constraints]
    for row in judged:
        assert row["reward"] is None and "judge could not verify" in row["error"]
        llm = [v for v in row["constraints"] if v["kind"] == "llm" or mode == "llm_all"]
        assert llm and all(v["passed"] is None and v["error"] for v in llm)
    for (rid, _), row in zip(items, rows):
        assert row["reward"] != 0  # never a made-up 0
        if mode == "hybrid" and not RECORDS[rid].llm_constraints:
            assert row["reward"] is not None  # rule-only records do not depend on the judge
    kind = {"closed_port": "connect", "500_storm": "http_5xx", "garbage": "unparseable"}[fault]
    assert summary["judge"]["failures"] == {kind: len(judged)} and summary["judge"]["failed"] == len(judged)
    assert summary["metrics"]["judge_errors"] == len(judged)
    assert summary["rewards_none"] == sum(row["reward"] is None for row in rows) >= len(judged)


def test_on_judge_error_zero_is_an_explicit_counted_policy(tmp_path, capsys):
    items = labelled_items(["sample-a-001"])
    code, rows, summary, _ = verify(
        tmp_path,
        capsys,
        write_responses(tmp_path, items),
        "--mode",
        "hybrid",
        "--on-judge-error",
        "zero",
        *judge_args(f"http://127.0.0.1:{closed_port()}/v1"),
    )
    assert code == 0 and summary["rewards_none"] == 0
    assert summary["metrics"]["judge_error_policy_applied"] == len(items)
    for row in rows:
        assert row["reward"] == 0.0 and "on_judge_error=zero" in row["policy"]


def test_on_judge_error_raise_exits_2(tmp_path, capsys):
    items = labelled_items(["sample-a-001"])
    code, rows, _, err = verify(
        tmp_path,
        capsys,
        write_responses(tmp_path, items),
        "--mode",
        "hybrid",
        "--on-judge-error",
        "raise",
        *judge_args(f"http://127.0.0.1:{closed_port()}/v1"),
    )
    assert code == 2 and rows == [] and "sample-a-001" in err and "judge failed" in err


def test_warm_rerun_with_the_judge_cache_makes_no_calls(tmp_path, capsys):
    items = labelled_items(["sample-a-001", "sample-a-002"])
    responses = write_responses(tmp_path, items)
    cache = ["--judge-cache", str(tmp_path / "cache")]
    with StubJudgeServer(answer="[[1]] ok") as stub:
        _, cold, first, _ = verify(tmp_path, capsys, responses, "--mode", "hybrid", *judge_args(stub.url), *cache)
        _, warm, second, _ = verify(tmp_path, capsys, responses, "--mode", "hybrid", *judge_args(stub.url), *cache)
    assert stub.calls == first["judge"]["calls"] == len(items)
    assert second["judge"]["calls"] == 0 and second["judge"]["cache_hits"] == len(items)
    assert [r["reward"] for r in warm] == [r["reward"] for r in cold]
