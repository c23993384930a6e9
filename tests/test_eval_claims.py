"""The three-claims table: verdicts per claim, the paper's figures only for the paper's model family."""

from __future__ import annotations

import pandas as pd
import pytest

from verif_nb.evaluation import (
    PAPER,
    TABLE_COLUMNS,
    claims_figure,
    claims_table,
    ifbench_available,
    paper_figures,
    runnable_benchmarks,
)


def _row(bench, metric, model, score, diff=None, lo=None, hi=None, p=float("nan"), sig=None):
    row = dict.fromkeys(TABLE_COLUMNS)
    row.update(
        benchmark=bench,
        metric=metric,
        model=model,
        baseline="before",
        n=100,
        units=100,
        subset=f"{bench}: 100",
        score=score,
        difference=diff if diff is not None else float("nan"),
        ci_low=lo if lo is not None else float("nan"),
        ci_high=hi if hi is not None else float("nan"),
        p_value=p,
        test="exact McNemar" if metric.startswith("prompt") else "paired bootstrap 95% CI",
        significant=sig,
    )
    return row


def _table(gsm8k_after=40.0, gsm8k_ci=(-5.0, 3.0), gsm8k_sig=False):
    return pd.DataFrame(
        [
            _row("ifeval", "prompt_strict", "before", 30.0),
            _row("ifeval", "prompt_strict", "after", 45.0, 15.0, 8.0, 22.0, 0.001, True),
            _row("ifeval", "instruction_strict", "after", 50.0, 9.0, 1.0, 17.0, sig=True),
            _row("ifbench", "prompt_strict", "before", 10.0),
            _row("ifbench", "prompt_strict", "after", 12.0, 2.0, -3.0, 7.0, 0.4, False),
            _row("gsm8k", "accuracy", "before", 41.0),
            _row("gsm8k", "accuracy", "after", gsm8k_after, gsm8k_after - 41.0, *gsm8k_ci, sig=gsm8k_sig),
        ]
    )


@pytest.mark.parametrize(
    "source, afters",
    [
        ("allenai/Llama-3.1-Tulu-3-8B-SFT", [84.5, 74.7, 76.2]),
        ("/models/llama-3.1-tulu-3-8b-sft", [84.5, 74.7, 76.2]),
        ("pypi:qwen2.5-coder-0.5b", []),
        ("tiny", []),
        (None, []),
    ],
)
def test_paper_figures_only_for_the_paper_family(source, afters):
    figures = paper_figures(source)
    assert [f["after"] for f in figures] == afters
    assert all(f["before"] == 68.4 and f["source"] == PAPER and f["metric"] == "prompt_strict" for f in figures)


def test_claims_table_verdicts_and_paper_columns():
    claims = claims_table(_table(), model_source="allenai/Llama-3.1-Tulu-3-8B-SFT").set_index("claim")
    gain = claims.loc["IF gain"]
    assert (gain["before"], gain["after"], gain["difference"], gain["p_value"]) == (30.0, 45.0, 15.0, 0.001)
    assert gain["verdict"] == "significantly higher (as claimed)"
    assert (gain["paper_before"], gain["paper_after"], gain["paper_difference"]) == (68.4, 84.5, 16.1)
    transfer = claims.loc["transfer to unseen constraints"]
    assert transfer["verdict"] == "no significant change (gain not shown)"
    assert transfer["paper_source"] == "not given" and pd.isna(transfer["paper_after"])
    general = claims.loc["general ability unchanged"]
    assert general["verdict"] == "no significant change (as claimed)" and general["paper_source"] == "not given"


def test_claims_table_reports_a_significant_drop_and_other_families():
    claims = claims_table(_table(30.0, (-15.0, -6.0), True), model_source="tiny").set_index("claim")
    assert claims.loc["general ability unchanged", "verdict"] == "significantly lower (against the claim)"
    assert claims["paper_source"].eq("no published figure for this model family").all()


def test_claims_table_names_what_was_not_measured():
    table = _table()
    claims = claims_table(table[table.benchmark != "ifbench"], skipped={"ifbench": "no scorer"}).set_index("claim")
    assert claims.loc["transfer to unseen constraints", "verdict"] == "not measured: no scorer"
    assert pd.isna(claims.loc["transfer to unseen constraints", "before"])


def test_runnable_benchmarks_skips_ifbench_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("VERIF_NB_IFBENCH_INPUTS", raising=False)
    run, skipped = runnable_benchmarks(["ifeval", "ifbench", "gsm8k"], {"ifbench": str(tmp_path / "none.jsonl")})
    assert run[0] == "ifeval" and run[-1] == "gsm8k"
    ok, why = ifbench_available()
    if ok:
        assert skipped == {"ifbench": f"{tmp_path / 'none.jsonl'} not found"}
    else:
        assert run == ["ifeval", "gsm8k"] and skipped == {"ifbench": why}


def test_claims_figure_draws_intervals_and_the_paper_point():
    claims = claims_table(_table(), model_source="allenai/Llama-3.1-Tulu-3-8B-SFT")
    fig = claims_figure(claims)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("IF gain\nsignificantly higher")
    assert {"measured (95% CI)", "paper (Peng et al. 2025)"} <= set(ax.get_legend_handles_labels()[1])
