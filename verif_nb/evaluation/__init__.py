"""Measuring verifiers: accuracy against gold labels, judge calibration on exact hard-constraint verdicts,
reward-hacking probes and cost per mode — the tables the ablation notebook plots.

Example:
    >>> from verif_nb.data import load_sample
    >>> from verif_nb.verifier import Verifier
    >>> ev = evaluate_against_gold(load_sample().records[:3], {"rule": Verifier(mode="rule")}, progress=False)
    >>> set(ev.constraint_metrics()["mode"])
    {'rule'}
"""

from verif_nb.evaluation._calibration import (
    CalibrationCase,
    build_calibration_cases,
    calibration_by_group,
    calibration_summary,
    judge_calibration,
    load_calibration_cases,
)
from verif_nb.evaluation._cost import cost_per_thousand
from verif_nb.evaluation._gold import GoldEvaluation, evaluate_against_gold, taxonomy_group
from verif_nb.evaluation._probes import PROBES, reward_hacking_table

__all__ = [
    "PROBES",
    "CalibrationCase",
    "GoldEvaluation",
    "build_calibration_cases",
    "calibration_by_group",
    "calibration_summary",
    "cost_per_thousand",
    "evaluate_against_gold",
    "judge_calibration",
    "load_calibration_cases",
    "reward_hacking_table",
    "taxonomy_group",
]
