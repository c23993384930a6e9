"""The findings generator on small hand-made metrics, the single-file report and portable run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from verif_nb.evaluation.stats import bootstrap_ci, fisher_exact_p
from verif_nb.report import save_metrics
from verif_nb.report.findings import before_after, judge_vs_chance, mode_ranking, run_findings, training_trend
from verif_nb.report.index import write_index, write_single_file
from verif_nb.report.portable import make_portable, portable_text

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _responses(records: int, rule_right: int, llm_right: int) -> pd.DataFrame:
    """Two responses per record (gold 1 vs 0); rule ranks the first ``rule_right`` records correctly, llm the
    last ``llm_right`` (so the two modes disagree record by record)."""
    rows = []
    for mode, right in (("rule", rule_right), ("llm", llm_right)):
        for i in range(records):
            ok = i < right if mode == "rule" else i >= records - right
            rows += [
                {"mode": mode, "record_id": f"r{i}", "gold_score": 1.0, "reward": 1.0 if ok else 0.0},
                {"mode": mode, "record_id": f"r{i}", "gold_score": 0.0, "reward": 0.0 if ok else 1.0},
            ]
    return pd.DataFrame(rows)


def test_mode_ranking_names_the_best_mode_and_a_ci_that_excludes_zero_for_a_clear_lead():
    out = mode_ranking(_responses(40, rule_right=38, llm_right=20))
    assert out["best"] == "rule" and out["runner_up"] == "llm"
    assert out["accuracy"] == {"rule": 0.95, "llm": 0.5}
    assert out["lead"] == pytest.approx(0.45)
    lo, hi = out["lead_ci"]
    assert 0.2 < lo < 0.45 < hi < 0.7


def test_mode_ranking_ci_includes_zero_when_the_modes_are_close():
    out = mode_ranking(_responses(10, rule_right=6, llm_right=5))
    assert out["lead_ci"][0] < 0 < out["lead_ci"][1]


def test_ties_and_missing_rewards_count_as_wrong():
    frame = pd.DataFrame(
        {
            "mode": ["rule"] * 4,
            "record_id": ["a", "a", "b", "b"],
            "gold_score": [1, 0, 1, 0],
            "reward": [0.5, 0.5, None, 0.0],
        }
    )
    assert mode_ranking(frame)["accuracy"]["rule"] == 0.0


def test_judge_that_always_says_yes_is_not_better_than_chance():
    frame = pd.DataFrame(
        {"record_id": [f"r{i // 2}" for i in range(60)], "gold": [True, False] * 30, "pred": [True] * 60}
    )
    out = judge_vs_chance(frame)
    assert out["balanced_accuracy"] == 0.5 and not out["better_than_chance"] and out["yes_rate"] == 1.0


def test_accurate_judge_is_better_than_chance_and_unverified_verdicts_are_left_out():
    gold = [True, False] * 30
    frame = pd.DataFrame(
        {
            "record_id": [f"r{i // 2}" for i in range(60)],
            "gold": gold,
            "pred": [None] + [g if i % 10 else (not g) for i, g in enumerate(gold)][1:],
        }
    )
    out = judge_vs_chance(frame)
    assert out["better_than_chance"] and out["balanced_accuracy"] > 0.85 and out["unverified"] == 1


def test_training_trend_detects_a_rise_and_not_a_flat_noisy_curve():
    rising = pd.DataFrame({"step": range(1, 31), "reward": [0.2] * 10 + [0.5] * 10 + [0.9] * 10})
    assert training_trend(rising)["p_value"] < 0.001
    flat = pd.DataFrame({"step": range(1, 31), "reward": [0.0, 1.0] * 15})
    out = training_trend(flat)
    assert out["first"] == out["last"] == 0.5 and out["p_value"] > 0.5


def test_before_after_counts_from_rates_and_percentages():
    t = pd.DataFrame({"model": ["before", "after"], "prompts": [20, 20], "prompt_strict": [25.0, 30.0]})
    out = before_after(t, "prompt_strict", "prompts", scale=100)
    assert out["before"] == (5, 20) and out["after"] == (6, 20) and out["p_value"] == pytest.approx(1.0)


def test_fisher_exact_matches_a_hand_computed_table():
    # 1/4 vs 4/4: P = C(5,1)C(3,3)/C(8,4) = 5/70 for the observed and the mirrored table
    assert fisher_exact_p(1, 4, 4, 4) == pytest.approx(2 * 5 / 70 + 0)


def test_bootstrap_ci_is_reproducible_and_empty_input_is_nan():
    def stat(xs):
        return sum(xs) / len(xs)

    assert bootstrap_ci(list(range(10)), stat, seed=1) == bootstrap_ci(list(range(10)), stat, seed=1)
    assert all(x != x for x in bootstrap_ci([], stat))


def test_two_modes_that_rank_every_pair_alike_are_called_the_same(tmp_path):
    both = pd.concat(
        [
            _responses(6, rule_right=4, llm_right=0)[lambda f: f["mode"] == "rule"].assign(mode=m)
            for m in ("rule", "hybrid")
        ]
    )
    save_metrics(both, "response_rewards", tmp_path / "metrics" / "02_verifier_ablation")
    (finding,) = run_findings(tmp_path)
    assert "the same as hybrid, which ranked every pair identically" in finding.text and "CI" in finding.text


def test_a_rule_only_ablation_says_that_no_judge_ran(tmp_path):
    m02 = tmp_path / "metrics" / "02_verifier_ablation"
    save_metrics(
        pd.DataFrame({"mode": ["rule"], "record_id": ["a"], "gold": [True], "pred": [True]}), "constraint_verdicts", m02
    )
    (finding,) = run_findings(tmp_path)
    assert finding.level == "caveat" and "No judge ran" in finding.text


def _manifest(run: Path) -> dict:
    return {
        "run_id": run.name,
        "status": "ok",
        "description": "",
        "params_file": "params/x.yaml",
        "started": "t0",
        "finished": "t1",
        "duration_s": 1.0,
        "git": {"commit": "abc", "dirty": False},
        "ids": {},
        "notebooks": [
            {"name": "02_verifier_ablation", "status": "ok", "duration_s": 1.0},
            {"name": "03_grpo_training", "status": "ok", "duration_s": 1.0},
        ],
    }


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "20260101-000000-test"
    m02, m03 = run / "metrics" / "02_verifier_ablation", run / "metrics" / "03_grpo_training"
    save_metrics(_responses(30, rule_right=27, llm_right=14), "response_rewards", m02)
    verdicts = pd.DataFrame(
        {"mode": "llm", "record_id": [f"r{i // 2}" for i in range(40)], "gold": [True, False] * 20, "pred": [True] * 40}
    )
    save_metrics(verdicts, "constraint_verdicts", m02)
    save_metrics({"records": 30}, "summary", m02)
    save_metrics(pd.DataFrame({"step": range(1, 13), "reward": [0.1] * 4 + [0.5] * 4 + [0.9] * 4}), "train_steps", m03)
    save_metrics(
        pd.DataFrame({"model": ["before", "after"], "records": [6, 6], "all_pass": [0.833, 0.667]}),
        "heldout_before_after",
        m03,
    )
    (run / "figures" / "02_verifier_ablation").mkdir(parents=True)
    (run / "figures" / "02_verifier_ablation" / "pairwise.png").write_bytes(PNG)
    (run / "manifest.json").write_text(json.dumps(_manifest(run)))
    return run


def test_run_findings_state_the_best_mode_the_noise_warning_and_the_training_change(run_dir: Path):
    findings = run_findings(run_dir)
    text = "\n".join(f.text for f in findings)
    assert "rule ranked pairs of responses best (pairwise accuracy 0.90" in text
    assert "+0.43 over llm" in text
    assert any(f.level == "warning" and "noise" in f.text for f in findings)
    assert "NOT better than chance" in text
    assert "mean reward rose from 0.100" in text and "to 0.900" in text
    assert "5 of 6 before and 4 of 6 after" in text and "no change beyond chance" in text


def test_index_opens_with_findings_and_single_file_embeds_figures(run_dir: Path):
    index = write_index(run_dir, _manifest(run_dir)).read_text()
    assert index.index("id='findings'") < index.index("<h2>Notebooks</h2>")
    assert "<img src='figures/02_verifier_ablation/pairwise.png'" in index
    single = write_single_file(run_dir).read_text()
    assert "data:image/png;base64," in single and "src='figures/" not in single
    assert "href='manifest.json'" not in single and "id='findings'" in single


def test_portable_rewrites_machine_paths_and_keeps_other_text(tmp_path: Path):
    run = tmp_path / "proj" / "outputs" / "run1"
    (run / "metrics").mkdir(parents=True)
    (run / "metrics" / "summary.json").write_text(
        json.dumps(
            {
                "training_folder": str(run / "training"),
                "data": str(tmp_path / "proj" / "data" / "x.jsonl"),
                "other": str(tmp_path / "proj" / "outputs" / "run10"),
                "run": str(run),
            }
        )
    )
    adapter = run / "training" / "final"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path / "m")}))
    (adapter / "README.md").write_text(f"---\nbase_model: {run / 'training' / 'base'}\n---\n")
    make_portable(run, tmp_path / "proj")
    assert (adapter / "README.md").read_text() == "---\nbase_model: training/base\n---\n"  # the model card is prose
    # a saved adapter keeps the path its library reads back
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tmp_path / "m")
    out = json.loads((run / "metrics" / "summary.json").read_text())
    assert out == {
        "training_folder": "training",
        "data": "<project>/data/x.jsonl",
        "other": "<project>/outputs/run10",
        "run": ".",
    }
    assert str(tmp_path) not in (run / "metrics" / "summary.json").read_text()
    assert portable_text("see /a/b/c.txt", {"/a/b": "<project>"}) == "see <project>/c.txt"
