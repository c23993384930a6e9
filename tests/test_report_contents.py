"""What a report says, one contradiction of issue 21 at a time: hard/soft colours, the reward curve hidden under a
component, single-step rewards beside the thirds, held-out records in the split vs evaluated, the judge named by a
temporary URL, the record browser's literal \\n and doubled tags, the playground leaving soft constraints out."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verif_nb.data import load_sample
from verif_nb.files import PROJECT_ENV, project_path
from verif_nb.judge import JudgeConfig
from verif_nb.report import NotebookJudge, plots, training_summary
from verif_nb.report.findings import training_trend
from verif_nb.train.run import RunResult
from verif_nb.widgets import Playground, constraint_label, playground_html, record_html, record_text

SAMPLE = load_sample().records
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)


def _bar_colours(fig) -> dict[str, tuple]:
    """Legend label -> colour of its bars."""
    ax = fig.axes[0]
    legend = ax.get_legend()
    return {
        t.get_text(): tuple(np.round(h.get_facecolor()[:3], 3)) for t, h in zip(legend.texts, legend.legend_handles)
    }


@pytest.mark.parametrize("order", [["rule (hard)", "llm (soft)"], ["llm (soft)", "rule (hard)"]])
@pytest.mark.parametrize("horizontal", [False, True])
def test_hard_and_soft_keep_their_colours_whichever_comes_first(order, horizontal):
    df = pd.DataFrame({"x": ["a", "a", "b"], "n": [1, 2, 3], "kind": [order[0], order[1], order[0]]})
    fig = plots.bar(df, "x", "n", hue="kind", horizontal=horizontal, title="t", xlabel="x", ylabel="n")
    colours = _bar_colours(fig)
    assert colours["rule (hard)"] == _bar_colour("rule") and colours["llm (soft)"] == _bar_colour("llm")
    plain = pd.DataFrame({"x": ["a", "b"], "n": [1, 2], "kind": ["llm", "rule"]})  # the other spelling of kinds
    colours = _bar_colours(plots.bar(plain, "x", "n", hue="kind", title="t", xlabel="x", ylabel="n"))
    assert colours["rule"] == _bar_colour("rule") and colours["llm"] == _bar_colour("llm")


def _bar_colour(kind: str) -> tuple:
    """The kind's colour as seaborn paints a bar (its default saturation of 0.75)."""
    import seaborn as sns

    return tuple(np.round(sns.desaturate(plots.KIND_COLORS[kind], 0.75), 3))


@EXAMPLES
@given(
    n=st.integers(1, 8),
    same=st.sets(st.sampled_from(["verif/rule_score", "verif/judge_score"])),
    seed=st.integers(0, 2**16),
)
def test_no_reward_curve_hides_exactly_under_another(n, same, seed):
    rng = np.random.default_rng(seed)
    steps = pd.DataFrame({"step": range(1, n + 1), "reward": rng.random(n)})
    for column in ("verif/rule_score", "verif/judge_score"):
        steps[column] = steps["reward"] if column in same else rng.random(n) + 2  # +2: never equal to the reward
    curves = plots.reward_components(steps)
    series = {name: g.sort_values("step")["value"].round(9).tolist() for name, g in curves.groupby("component")}
    assert len(set(map(tuple, series.values()))) == len(series)  # no two curves draw the same line
    named = " = ".join(series)
    for column in ("reward", "verif/rule_score", "verif/judge_score"):
        assert column in named  # each column is drawn, alone or named together with what it equals
    reward_label = next(k for k in series if k.split(" = ")[0] == "reward")
    assert set(reward_label.split(" = ")[1:]) == same


def test_training_summary_reports_the_thirds_the_findings_test_and_names_both_held_out_counts():
    steps = pd.DataFrame({"step": range(1, 13), "reward": [0.1, 0.9] * 2 + [0.5] * 4 + [0.2, 1.0] * 2})
    heldout = pd.DataFrame({"records": [24, 24], "mean_reward": [0.4, 0.8]}, index=["before", "after"])
    result = RunResult(Path("t"), 12, train_seconds=1.0, heldout_records=30, device="cpu")
    summary = training_summary(result, steps, "training", heldout=heldout)
    trend = training_trend(steps)
    assert (summary["reward_first_third"], summary["reward_last_third"]) == (trend["first"], trend["last"])
    assert summary["reward_trend_p_value"] == trend["p_value"]
    assert not {"first_reward", "last_reward", "heldout_records"} & set(summary)  # gone: one step, or ambiguous
    assert (summary["heldout_records_in_split"], summary["heldout_records_evaluated"]) == (30, 24)
    assert summary["device"] == "cpu"
    few = training_summary(result, steps.head(4), "training")
    assert "reward_first_third" not in few  # too few steps for thirds: no number rather than a noisy one


def test_the_embedded_judge_is_named_by_its_model_file_not_its_temporary_port():
    config = JudgeConfig(base_url="http://127.0.0.1:43210/v1", model="qwen2.5-coder-0.5b-instruct")
    embedded = NotebookJudge("embedded", config=config, embedded_model="qwen2.5-coder-0.5b")
    shown = embedded.describe() + json.dumps(embedded.ids())
    assert "127.0.0.1" not in shown and "43210" not in shown
    assert "qwen2.5-coder-0.5b-instruct-q4.gguf" in shown and "sha256 1d9614638d18024d" in shown
    served = NotebookJudge("url", config=config.replace(base_url="http://gpu:8000/v1"))
    assert served.ids()["judge_served_by"] == "http://gpu:8000/v1"  # a server that outlives the notebook


@pytest.mark.parametrize("record", [r for r in SAMPLE if any(c.code for c in r.constraints)][:6], ids=lambda r: r.id)
def test_record_browser_shows_code_as_code_and_one_tag_per_constraint(record):
    page = html.unescape(record_html(record))
    for c in record.constraints:
        if c.code and "\n" in c.code.strip():
            assert c.code.strip().replace("\n", "\\n") not in page  # no escaped line breaks: code reads as code
        for line in (c.code or "").splitlines():  # each line of the code on a line of its own, indentation kept
            assert line.strip() == "" or f"\n{line}" in page or f">{line}" in page, line
    text = record_text(record)
    assert not re.search(r"\[(rule|llm)\]\s*\[(rule|llm)\]", text, re.IGNORECASE), text
    for c in record.constraints:
        assert text.count(constraint_label(c)) >= 1


def test_playground_without_a_judge_lists_the_soft_constraints_it_could_not_check():
    record = next(r for r in SAMPLE if r.llm_constraints and r.rule_constraints)
    with Playground() as pg:
        page = playground_html(pg.evaluate(record, record.responses[0].text))
    for c in record.constraints:
        assert c.name in page
    assert page.count("not verified here: needs a judge") == len(record.llm_constraints)


def test_project_path_takes_the_pipelines_project_folder_from_the_environment(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "figures").mkdir()
    monkeypatch.chdir(run)  # where a pipeline runs a notebook
    monkeypatch.setenv(PROJECT_ENV, str(tmp_path / "project"))
    assert project_path("params/x.yaml") == tmp_path / "project" / "params" / "x.yaml"
    assert project_path("figures") == Path("figures")  # present in the run folder: relative to it
