"""Verifier evaluation tables: gold metrics, pairwise accuracy, calibration, probes, cost."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from judge_fakes import FakeJudge

from verif_nb.evaluation import (
    PROBES,
    calibration_by_group,
    calibration_summary,
    cost_per_thousand,
    evaluate_against_gold,
    load_calibration_cases,
    reward_hacking_table,
    taxonomy_group,
)
from verif_nb.records import Constraint, LabelledResponse, Record
from verif_nb.verifier import Verifier

NO_COMMA = Constraint("punctuation:no_comma", "rule", checker_id="punctuation:no_comma")
LOWER = Constraint("change_case:english_lowercase", "rule", checker_id="change_case:english_lowercase")
TONE = Constraint("[llm] Tone", "llm", description="Sound cheerful.")
REC = Record(
    "e1",
    "Say something cheerful in lowercase without commas.",
    [NO_COMMA, LOWER, TONE],
    responses=[
        LabelledResponse("what a lovely bright day", [True, True, True], id="good"),
        LabelledResponse("what a dull, grey day", [False, True, False], id="bad"),
        LabelledResponse("this day is grim and dull", [True, True, False], id="soft-bad"),
    ],
)


def cheerful_judge():
    return FakeJudge(lambda req: "lovely" in req.response)


def test_gold_metrics_rule_vs_hybrid():
    ev = evaluate_against_gold(
        [REC],
        {
            "rule": Verifier(mode="rule"),
            "hybrid": Verifier(mode="hybrid", judge=cheerful_judge()),
            "hybrid_mean": Verifier(mode="hybrid", combine="mean", judge=cheerful_judge()),
        },
        progress=False,
    )
    resp = ev.response_metrics().set_index("mode")
    # rule mode accepts the response that only breaks the soft constraint: 2/3 right at response level
    assert resp.loc["rule", "accuracy"] == pytest.approx(2 / 3)
    assert resp.loc["hybrid", "accuracy"] == 1.0
    cons = ev.constraint_metrics(by=("mode", "kind")).set_index(["mode", "kind"])
    assert cons.loc[("rule", "rule"), "accuracy"] == 1.0 and cons.loc[("rule", "rule"), "n"] == 6
    assert ("rule", "llm") not in cons.index  # soft constraints are not checked in rule mode
    assert cons.loc[("hybrid", "llm"), "recall"] == 1.0
    pairs = ev.pairwise_accuracy().set_index("mode")
    assert pairs.loc["rule", "ties"] == 1  # good vs soft-bad both get reward 1 from code alone
    # the product collapses both flawed responses to 0 (a tie); the mean keeps them apart
    assert pairs.loc["hybrid", "pairs"] == 3 and pairs.loc["hybrid", "accuracy"] == pytest.approx(2 / 3)
    assert pairs.loc["hybrid", "ties"] == 1
    assert pairs.loc["hybrid_mean", "accuracy"] == 1.0
    assert ev.costs["hybrid"]["calls"] == 3 and ev.costs["rule"]["calls"] == 0


def test_unverified_verdicts_lower_coverage_and_count_as_wrong():
    broken = FakeJudge(lambda req: "timed out")
    ev = evaluate_against_gold([REC], {"llm": Verifier(mode="llm", judge=broken)}, progress=False)
    m = ev.constraint_metrics().iloc[0]
    assert m["coverage"] == 0.0 and m["accuracy"] == 0.0
    assert ev.responses["reward"].isna().all()


def test_taxonomy_groups():
    assert [
        taxonomy_group(g)
        for g in ("Keyword_Constraints", "Item_Listing_Details", "Tone", "Content_Constraints", "length_constraints")
    ] == ["keyword", "format", "style", "content", "length"]


def test_calibration_summary_fits_a_threshold_that_beats_an_always_yes_judge():
    n = 40
    gold = [i % 2 == 0 for i in range(n)]
    frame = pd.DataFrame(
        {"gold": gold, "pred": [True] * n, "group": ["g"] * n, "p_yes": [0.9 if g else 0.7 for g in gold]}
    )
    s = calibration_summary(frame)
    assert s["greedy_yes_rate"] == 1.0 and s["greedy_balanced_accuracy"] == 0.5
    assert 0.7 < s["calibrated_threshold"] <= 0.9 and s["calibrated_balanced_accuracy"] == 1.0
    assert s["calibrated_beats_greedy"]
    by = calibration_by_group(frame)
    assert by.loc[0, "yes_rate"] == 1.0 and by.loc[0, "accuracy"] == 0.5


def test_calibration_without_logprobs_reports_greedy_only():
    frame = pd.DataFrame({"gold": [True, False], "pred": [True, None], "group": ["a", "a"], "p_yes": [None, None]})
    s = calibration_summary(frame)
    assert s["unverified"] == 1 and s["calibrated_threshold"] is None and s["greedy_accuracy"] == 0.5


def test_packaged_calibration_set_is_balanced():
    cases = load_calibration_cases()
    assert len(cases) == 120 and sum(c.gold for c in cases) == 60
    assert len({c.group for c in cases}) >= 6


def test_reward_hacking_probes_expose_a_gullible_judge():
    yes_judge = FakeJudge()
    table = reward_hacking_table([REC], {"rule": Verifier(mode="rule"), "llm": Verifier(mode="llm", judge=yes_judge)})
    t = table.set_index(["mode", "probe"])
    assert set(table["probe"]) == set(PROBES)
    assert t.loc[("llm", "judge_token_injection"), "mean_reward"] == 1.0  # a judge that always says yes
    # padding has no commas, so code hands it half the reward; "lorem" is not English, so lowercase fails
    assert t.loc[("rule", "huge_padding"), "mean_reward"] == 0.5
    assert t.loc[("rule", "echo_prompt"), "mean_reward"] < 1.0


def test_cost_per_thousand():
    table = cost_per_thousand({"hybrid": {"verifications": 4, "seconds": 2.0, "calls": 4, "prompt_tokens": 400}})
    row = table.iloc[0]
    assert row["calls"] == 1000 and row["seconds"] == 500 and row["prompt_tokens"] == 100000
    assert math.isclose(row["completion_tokens"], 0)
