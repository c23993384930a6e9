"""The interactive views without a browser: the library functions, the ipywidgets wiring, and notebook 01
and 04 in both forms (live-kernel widgets, static views in a papermill run)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tests.stub_judge_server import StubJudgeServer
from verif_nb.data import load_sample
from verif_nb.judge import JudgeConfig
from verif_nb.records import Constraint, Record
from verif_nb.report import save_metrics
from verif_nb.widgets import (
    COMBINES,
    Playground,
    compare_runs,
    comparison_html,
    constraints_frame,
    gold_frame,
    playground,
    record_browser,
    record_html,
    run_choices,
    run_comparison,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = load_sample().records


def test_record_view_shows_prompt_constraints_with_rule_code_and_gold_labels():
    record = SAMPLE[0]
    cons = constraints_frame(record)
    assert list(cons["kind"]) == [c.kind for c in record.constraints]
    assert (cons.loc[cons.kind == "rule", "checked by"] == "dataset code (sandbox)").all()
    assert cons.loc[0, "rule"].startswith(record.constraints[0].code[:20])
    gold = gold_frame(record)
    assert len(gold) == len(record.responses)
    assert list(gold[record.constraints[0].name]) == [r.labels[0] for r in record.responses]
    page = record_html(record)
    assert record.prompt[:40] in page.replace("&#x27;", "'") and "def check_following" in page


def test_playground_rule_verdicts_follow_the_response_through_the_sandbox():
    record = SAMPLE[0]  # dataset-code rule constraints (length, keywords): run in the sandbox
    with Playground() as pg:
        good = pg.evaluate(record, record.responses[0].text)
        short = pg.evaluate(record, "hi")
    assert set(good.skipped) == {"llm", "llm_all", "hybrid"}
    assert "needs a judge" in good.skipped["llm"]
    assert list(good.verdicts["mode"].unique()) == ["rule"]
    before = good.verdicts.set_index("constraint")["verdict"]
    after = short.verdicts.set_index("constraint")["verdict"]
    assert (before != after).any()
    assert all(short.verdicts["reason"].str.len() > 0)
    assert short.rewards.set_index("mode").loc["rule", "reward"] < good.rewards.set_index("mode").loc["rule", "reward"]


def test_playground_with_a_judge_gives_every_mode_and_combination_and_uses_the_cache(tmp_path):
    record = Record(
        "a",
        "Write calmly without commas.",
        [
            Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma"),
            Constraint("tone", "llm", description="a calm tone"),
        ],
    )
    with StubJudgeServer(answer="[[1]] fine") as stub:
        judge = JudgeConfig(base_url=stub.url, model="stub", cache_dir=str(tmp_path / "cache"), max_retries=0)
        with Playground(judge=judge) as pg:
            out = pg.evaluate(record, "calm words, with a comma")
            calls = stub.calls
            again = pg.evaluate(record, "calm words, with a comma")
            assert stub.calls == calls  # the same question again: answered from the cache
    rewards = out.rewards
    assert sorted(rewards.loc[rewards["mode"] == "hybrid", "combine"]) == sorted(COMBINES)
    assert set(rewards["mode"]) == {"rule", "llm", "llm_all", "hybrid"} and not out.skipped
    hybrid = rewards[rewards["mode"] == "hybrid"].set_index("combine")["reward"]
    assert hybrid["product"] == 0.0 and hybrid["mean"] == 0.5 and hybrid["min"] == 0.0
    verdicts = out.verdicts.set_index(["mode", "constraint"])["verdict"]
    assert verdicts[("rule", "punctuation:no_comma")] == "fail" and verdicts[("llm", "tone")] == "pass"
    assert again.rewards.equals(out.rewards)


def test_playground_widget_recomputes_verdicts_as_the_text_changes():
    box = playground(SAMPLE[:2])
    try:
        picker, editor, out = box.children
        assert editor.value == SAMPLE[0].responses[0].text
        first = out.value
        editor.value = "hi"
        assert out.value != first and "fail" in out.value
        picker.value = 1
        assert editor.value == SAMPLE[1].responses[0].text and SAMPLE[1].constraints[0].name in out.value
    finally:
        box.playground.close()


def test_record_browser_widget_shows_the_picked_record():
    box = record_browser(SAMPLE[:3])
    picker, page = box.children
    assert SAMPLE[0].id in page.value
    picker.value = 2
    assert SAMPLE[2].id in page.value and SAMPLE[0].id not in page.value


def _fake_run(root: Path, name: str, accuracy: float) -> Path:
    run = root / name
    save_metrics(
        {"rule_pairwise_accuracy": accuracy, "judge": "none"}, "summary", run / "metrics" / "02_verifier_ablation"
    )
    (run / "manifest.json").write_text(json.dumps({"run_id": name, "status": "ok"}))
    fig = run / "figures" / "02_verifier_ablation"
    fig.mkdir(parents=True)
    (fig / "pairwise_accuracy.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(name, "ascii"))
    return run


def test_run_comparison_puts_numbers_and_figures_side_by_side(tmp_path):
    a = _fake_run(tmp_path, "20260101-000000-a", 0.5)
    b = _fake_run(tmp_path, "20260102-000000-b", 0.75)
    table = compare_runs(a, b)
    row = table.set_index("metric").loc["rule_pairwise_accuracy"]
    assert (row["a"], row["b"], row["b - a"]) == (0.5, 0.75, 0.25)
    assert "judge" not in set(table["metric"])  # text values are not compared
    assert [label.split()[0] for label, _ in run_choices(tmp_path)] == [b.name, a.name]
    page = comparison_html(a, b)
    assert page.count("data:image/png;base64,") == 2 and "02_verifier_ablation/pairwise_accuracy" in page
    box = run_comparison(tmp_path)
    (pick_a, pick_b), out = box.children[0].children, box.children[1]
    assert (pick_a.value, pick_b.value) == (str(a), str(b)) and "0.25" in out.value


# --- the notebooks, both ways --------------------------------------------------------------------------------


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.mark.slow
@pytest.mark.parametrize("interactive", [True, False], ids=["live-kernel", "papermill-static"])
def test_notebook_01_shows_widgets_live_and_static_views_in_batch(tmp_path, interactive):
    import papermill as pm

    from verif_nb.pipeline import private_kernel

    out = tmp_path / "01.ipynb"
    with private_kernel() as kernel:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "01_dataset_inspection.ipynb"),
            str(out),
            kernel_name=kernel,
            parameters={
                "interactive": interactive,
                "check_rule_functions": False,
                "figures_dir": str(tmp_path / "f"),
                "metrics_dir": str(tmp_path / "m"),
            },
            progress_bar=False,
            cwd=str(ROOT),
        )
    outputs = _outputs(nbformat.read(out, as_version=4))
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    if interactive:
        assert len(widget_views) >= 2  # record browser and playground
    else:
        assert not widget_views
        assert "Gold labels of the candidate responses" in html and "Reward per mode and combination" in html
        assert "vnb-verdict" in html and "needs a judge" in html


@pytest.mark.slow
@pytest.mark.parametrize("interactive", [True, False], ids=["live-kernel", "papermill-static"])
def test_notebook_04_compares_two_runs_live_and_static(tmp_path, interactive):
    import papermill as pm

    from verif_nb.pipeline import private_kernel

    runs = tmp_path / "outputs"
    a, b = _fake_run(runs, "20260101-000000-a", 0.5), _fake_run(runs, "20260102-000000-b", 0.75)
    for run in (a, b):
        (run / "manifest.json").write_text(
            json.dumps(
                {
                    "run_id": run.name,
                    "status": "ok",
                    "notebooks": [{"name": "02_verifier_ablation", "status": "ok", "duration_s": 1.0}],
                }
            )
        )
    out = tmp_path / "04.ipynb"
    with private_kernel() as kernel:
        pm.execute_notebook(
            str(ROOT / "notebooks" / "04_results_report.ipynb"),
            str(out),
            kernel_name=kernel,
            parameters={
                "interactive": interactive,
                "run_dir": str(b),
                "outputs_root": str(runs),
                "figures_dir": str(tmp_path / "f"),
                "metrics_dir": str(tmp_path / "m"),
            },
            progress_bar=False,
            cwd=str(ROOT),
        )
    outputs = _outputs(nbformat.read(out, as_version=4))
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    if interactive:
        assert len(widget_views) == 1
    else:
        assert not widget_views and "Headline numbers" in html and a.name in html and b.name in html
