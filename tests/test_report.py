"""verif_nb.report: metrics files, run discovery, path resolution, dataset tables, summaries and plots."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from verif_nb.errors import ParamsError
from verif_nb.records import Constraint, LabelledResponse, Record
from verif_nb.report import (
    NotebookJudge,
    ablation_summary,
    accuracy_across_runs,
    constraint_table,
    find_runs,
    mode_measure,
    plots,
    project_path,
    read_metrics,
    read_run_metrics,
    record_table,
    response_table,
    rule_health,
    runs_summary,
    save_metrics,
    summary_table,
    verifier_scoreboard,
)


@pytest.mark.parametrize(
    "obj, name, expected_file, read_back",
    [
        (
            {"a": 1, "b": float("nan"), "c": np.float64(0.5), "d": np.int64(3)},
            "s",
            "s.json",
            {"a": 1, "b": None, "c": 0.5, "d": 3},
        ),
        ([1, 2], "l", "l.json", [1, 2]),
        ({"p": Path("/x")}, "p", "p.json", {"p": "/x"}),
    ],
)
def test_save_metrics_json(tmp_path, obj, name, expected_file, read_back):
    (path,) = save_metrics(obj, name, tmp_path / "m")
    assert path.name == expected_file
    assert json.loads(path.read_text()) == read_back  # NaN becomes null: JSON has no NaN
    assert read_metrics(tmp_path / "m")[name] == read_back


def test_save_metrics_tables(tmp_path):
    frame = pd.DataFrame({"mode": ["rule", "llm"], "f1": [0.9, 0.5]})
    save_metrics(frame, "t", tmp_path)
    pd.testing.assert_frame_equal(read_metrics(tmp_path)["t"], frame)
    indexed = frame.set_index("mode")
    save_metrics(indexed, "i", tmp_path)
    assert list(read_metrics(tmp_path)["i"].columns) == ["mode", "f1"]  # a meaningful index is kept as a column


def _fake_run(root: Path, name: str, status: str, summaries: dict[str, dict]) -> Path:
    run = root / name
    for nb, summary in summaries.items():
        save_metrics(summary, "summary", run / "metrics" / nb)
    (run / "manifest.json").write_text(json.dumps({"run_id": name, "status": status, "params_file": "p.yaml"}))
    return run


def test_runs_discovery_and_summaries(tmp_path):
    a = _fake_run(tmp_path, "20260101-000000-ci", "ok", {"01": {"records": 3, "note": "text"}})
    b = _fake_run(tmp_path, "20260102-000000-ci", "failed", {"01": {"records": 5}, "02": {"rule_f1": 0.8}})
    (tmp_path / "not-a-run").mkdir()
    assert find_runs(tmp_path) == [a, b]
    table = summary_table(b)
    assert sorted(map(tuple, table.values.tolist())) == [("01", "records", 5), ("02", "rule_f1", 0.8)]
    across = runs_summary([a, b])
    assert set(across["metric"]) == {"records", "rule_f1"}  # the text value is left out of the numeric table
    assert across.loc[across.run_id == a.name, "value"].tolist() == [3.0]
    assert set(across["status"]) == {"ok", "failed"}
    assert read_run_metrics(a)["01"]["summary"]["note"] == "text"


def test_project_path(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "x.yaml").write_text("")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where JupyterLab runs a notebook
    assert project_path("params/x.yaml") == tmp_path / "params" / "x.yaml"
    assert project_path("outputs/new") == tmp_path / "outputs" / "new"  # not yet there: from the project root
    assert project_path("/abs/path") == Path("/abs/path")
    (tmp_path / "notebooks" / "local.txt").write_text("")
    assert project_path("local.txt") == Path("local.txt")  # present here: taken from here


CODE_OK = "def check_following(instruction, response):\n    return 'lemon' in response"
CODE_IMPORT = "import os\ndef check_following(instruction, response):\n    return True"
CODE_RAISES = "def check_following(instruction, response):\n    return 1 / 0"


def _records() -> list[Record]:
    return [
        Record(
            "r1",
            "Write about soup.\n\nMention lemon.",
            [
                Constraint("[rule] Keyword_Constraints", "rule", code=CODE_OK),
                Constraint("[llm] Tone", "llm", description="Be warm."),
                Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma"),
            ],
            responses=[
                LabelledResponse("lemon soup", [True, True, True]),
                LabelledResponse("plain soup, hot", [False, True, False]),
            ],
        ),
        Record(
            "r2",
            "Say hi.",
            [
                Constraint("[rule] Length_Constraints", "rule", code=CODE_IMPORT),
                Constraint("[rule] Content", "rule", code=CODE_RAISES),
            ],
            responses=[LabelledResponse("hi", [True, True])],
        ),
    ]


def test_dataset_tables():
    recs = _records()
    rec = record_table(recs)
    assert rec[["id", "n_constraints", "n_rule", "n_llm", "n_responses"]].values.tolist() == [
        ["r1", 3, 2, 1, 2],
        ["r2", 2, 2, 0, 1],
    ]
    cons = constraint_table(recs)
    assert cons["checked_by"].tolist() == ["dataset_code", "judge", "builtin", "dataset_code", "dataset_code"]
    assert cons["group"].tolist()[:3] == ["Keyword_Constraints", "Tone", "punctuation"]
    resp = response_table(recs)
    assert resp["gold_score"].round(3).tolist() == [1.0, 0.333, 1.0]
    assert resp["gold_all"].tolist() == [True, False, True]


def test_rule_health_runs_dataset_code_in_the_sandbox():
    health = rule_health(_records()).set_index("name")
    ok = health.loc["[rule] Keyword_Constraints"]
    assert pd.isna(ok.problem) and (ok.checks, ok.passed, ok.errors) == (2, 1, 0)
    assert ok.ms_per_check >= 0
    rejected = health.loc["[rule] Length_Constraints"]
    assert "os" in rejected.problem and rejected.checks == 0  # refused statically, never run
    raising = health.loc["[rule] Content"]
    assert pd.isna(raising.problem) and raising.errors == 1 and "ZeroDivisionError" in raising.first_error
    assert "punctuation:no_comma" not in health.index  # built-in checkers are ours, not dataset code


def test_notebook_judge_choices():
    assert NotebookJudge.open("none").config is None
    cfg = NotebookJudge.open("url", base_url="http://127.0.0.1:9/v1", model="m", concurrency=3).config
    assert (cfg.base_url, cfg.model, cfg.concurrency) == ("http://127.0.0.1:9/v1", "m", 3)
    with pytest.raises(ParamsError, match="judge_base_url"):
        NotebookJudge.open("url")
    with pytest.raises(ParamsError, match="choose one of"):
        NotebookJudge.open("openai")


def test_plot_helpers_label_and_save(tmp_path):
    df = pd.DataFrame({"mode": ["rule", "hybrid"], "n": [3, 5], "step": [1, 2]})
    fig = plots.bar(df, "mode", "n", title="T", xlabel="mode", ylabel="count")
    ax = fig.axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("T", "mode", "count")
    assert all(float(t).is_integer() for t in ax.get_yticks())  # counts get integer ticks
    fig = plots.bar(df, "mode", "n", title="H", xlabel="mode", ylabel="count", horizontal=True)
    assert (fig.axes[0].get_ylabel(), fig.axes[0].get_xlabel()) == ("mode", "count")
    paths = plots.save_figure(fig, "h", tmp_path)
    assert [p.name for p in paths] == ["h.png", "h.svg"] and all(p.stat().st_size > 1000 for p in paths)
    assert plots.save_figure(plots.lines(df, "step", "n", title="L", xlabel="s", ylabel="n"), "l", tmp_path)
    with pytest.raises(ValueError, match="file name"):
        plots.save_figure(fig, "../escape", tmp_path)
    assert not math.isnan(
        plots.heatmap(pd.DataFrame({"a": [0.5]}, index=["x"]), title="t", xlabel="a", ylabel="b").axes[0].get_xlim()[1]
    )


# --- typed summaries: the <mode>_<measure> contract between notebook 02 and notebook 04 ----------------------


def _ablation_tables():
    cm = pd.DataFrame({"mode": ["rule", "llm_all"], "accuracy": [0.9, 0.6], "f1": [0.8, 0.5]})
    rm = pd.DataFrame({"mode": ["rule", "llm_all"], "accuracy": [0.7, 0.4], "f1": [0.6, 0.3]})
    pw = pd.DataFrame({"mode": ["rule", "llm_all"], "accuracy": [0.5, 0.25], "pairs": [4, 4]})
    hk = pd.DataFrame({"mode": ["rule", "rule", "llm_all"], "probe": ["a", "b", "a"], "mean_reward": [0.0, 0.2, 1.0]})
    cost = pd.DataFrame({"mode": ["rule", "llm_all"], "seconds": [1.5, 900.0]})
    return cm, rm, pw, hk, cost


def test_ablation_summary_flattens_every_mode_and_measure_and_reads_back():
    cm, rm, pw, hk, cost = _ablation_tables()
    s = ablation_summary(
        records=3,
        responses=9,
        judge="stub",
        constraint_metrics=cm,
        response_metrics=rm,
        pairwise=pw,
        hacking=hk,
        cost=cost,
        calibration={"greedy_yes_rate": 0.5, "cases": 8, "calibrated_balanced_accuracy": None},
    )
    flat = s.to_flat()
    assert flat["modes"] == "rule, llm_all" and flat["records"] == 3
    assert flat["rule_max_probe_reward"] == 0.2 and flat["llm_all_seconds_per_1000"] == 900.0
    assert flat["judge_greedy_yes_rate"] == 0.5 and "judge_cases" not in flat  # only the headline calibration keys
    assert "judge_calibrated_balanced_accuracy" not in flat  # None is not a number to report
    parsed = {k: mode_measure(k) for k in flat if mode_measure(k)}
    assert len(parsed) == 2 * 6 and ("llm_all", "pairwise_accuracy") in parsed.values()
    across = pd.DataFrame({"run_id": "r", "metric": list(parsed), "value": [flat[k] for k in parsed]})
    assert set(accuracy_across_runs(across)["metric"]) == {
        "rule_constraint_accuracy",
        "llm_all_constraint_accuracy",
        "rule_pairwise_accuracy",
        "llm_all_pairwise_accuracy",
    }


def test_verifier_scoreboard_has_one_row_per_mode():
    cm, rm, pw, _, _ = _ablation_tables()
    board = verifier_scoreboard(cm, rm, pw)
    assert list(board.columns) == [
        "constraint accuracy",
        "response accuracy",
        "constraint f1",
        "response f1",
        "pairwise",
    ]
    assert board.loc["llm_all"].tolist() == [0.6, 0.4, 0.5, 0.3, 0.25]
