"""Typed headline summaries the notebooks save and the report reads back.

The ablation notebook's ``summary.json`` holds one number per (verifier mode, measure), under the key
``<mode>_<measure>``; :class:`AblationSummary` writes those keys and :func:`mode_measure` reads them,
so the notebooks never spell the naming contract by hand.

Example:
    >>> import pandas as pd
    >>> s = ablation_summary(records=2, responses=4, judge="none",
    ...                      constraint_metrics=pd.DataFrame({"mode": ["rule"], "accuracy": [0.9], "f1": [0.8]}))
    >>> s.to_flat()["rule_constraint_accuracy"]
    0.9
    >>> mode_measure("rule_constraint_accuracy")
    ('rule', 'constraint_accuracy')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# The per-mode measures of the ablation, in the order summary.json lists them.
MODE_MEASURES: tuple[str, ...] = (
    "constraint_accuracy",
    "constraint_f1",
    "response_accuracy",
    "pairwise_accuracy",
    "max_probe_reward",
    "seconds_per_1000",
)
# The measures that are accuracies in [0, 1] (compared across runs).
ACCURACY_MEASURES: tuple[str, ...] = ("constraint_accuracy", "pairwise_accuracy")
# Judge calibration numbers carried into the summary (as judge_<name>).
CALIBRATION_KEYS: tuple[str, ...] = ("greedy_balanced_accuracy", "greedy_yes_rate", "calibrated_balanced_accuracy")


@dataclass
class ModeScores:
    """The headline numbers of one verifier mode (None where the notebook did not measure it)."""

    mode: str
    constraint_accuracy: float | None = None
    constraint_f1: float | None = None
    response_accuracy: float | None = None
    pairwise_accuracy: float | None = None
    max_probe_reward: float | None = None
    seconds_per_1000: float | None = None


@dataclass
class AblationSummary:
    """The ablation notebook's headline numbers: data size, judge, per-mode scores, judge calibration.

    Example:
        >>> AblationSummary(records=1, responses=2, judge="none", modes=[ModeScores("rule", 1.0)]).to_flat()
        {'records': 1, 'responses': 2, 'modes': 'rule', 'judge': 'none', 'rule_constraint_accuracy': 1.0}
    """

    records: int
    responses: int
    judge: str
    modes: list[ModeScores] = field(default_factory=list)
    judge_calibration: dict[str, float] = field(default_factory=dict)

    def to_flat(self) -> dict[str, Any]:
        """The flat ``summary.json`` form: ``<mode>_<measure>`` and ``judge_<calibration key>`` entries."""
        flat: dict[str, Any] = {
            "records": self.records,
            "responses": self.responses,
            "modes": ", ".join(m.mode for m in self.modes),
            "judge": self.judge,
        }
        for measure in MODE_MEASURES:
            for scores in self.modes:
                value = getattr(scores, measure)
                if value is not None:
                    flat[f"{scores.mode}_{measure}"] = value
        flat.update({f"judge_{k}": v for k, v in self.judge_calibration.items()})
        return flat


def _by_mode(frame: pd.DataFrame | None, column: str) -> dict[str, float]:
    if frame is None or frame.empty or column not in frame:
        return {}
    return {str(mode): float(value) for mode, value in zip(frame["mode"], frame[column])}


def ablation_summary(
    *,
    records: int,
    responses: int,
    judge: str,
    constraint_metrics: pd.DataFrame | None = None,
    response_metrics: pd.DataFrame | None = None,
    pairwise: pd.DataFrame | None = None,
    hacking: pd.DataFrame | None = None,
    cost: pd.DataFrame | None = None,
    calibration: dict[str, Any] | None = None,
    modes: Iterable[str] | None = None,
) -> AblationSummary:
    """Gather the ablation's tables (one row per mode each) into its typed summary.

    ``hacking`` has one row per (mode, probe); a mode's ``max_probe_reward`` is its worst probe's mean
    reward. ``modes`` fixes the order (default: the order of ``constraint_metrics``).

    Example:
        >>> import pandas as pd
        >>> hk = pd.DataFrame({"mode": ["rule", "rule"], "probe": ["empty", "echo"], "mean_reward": [0.0, 0.5]})
        >>> ablation_summary(records=1, responses=1, judge="none", hacking=hk).modes[0].max_probe_reward
        0.5
    """
    columns = {
        "constraint_accuracy": _by_mode(constraint_metrics, "accuracy"),
        "constraint_f1": _by_mode(constraint_metrics, "f1"),
        "response_accuracy": _by_mode(response_metrics, "accuracy"),
        "pairwise_accuracy": _by_mode(pairwise, "accuracy"),
        "seconds_per_1000": _by_mode(cost, "seconds"),
    }
    if hacking is not None and not hacking.empty:
        columns["max_probe_reward"] = {
            str(m): float(v) for m, v in hacking.groupby("mode")["mean_reward"].max().items()
        }
    order = list(modes) if modes is not None else list(dict.fromkeys(m for values in columns.values() for m in values))
    scores = [ModeScores(mode, **{name: values.get(mode) for name, values in columns.items()}) for mode in order]
    kept = {k: (calibration or {})[k] for k in CALIBRATION_KEYS if (calibration or {}).get(k) is not None}
    return AblationSummary(records=records, responses=responses, judge=judge, modes=scores, judge_calibration=kept)


def mode_measure(key: str) -> tuple[str, str] | None:
    """``(mode, measure)`` of a ``<mode>_<measure>`` summary key, or None for any other key.

    Example:
        >>> mode_measure("llm_all_pairwise_accuracy"), mode_measure("records")
        (('llm_all', 'pairwise_accuracy'), None)
    """
    for measure in MODE_MEASURES:
        if key.endswith("_" + measure) and len(key) > len(measure) + 1:
            return key[: -len(measure) - 1], measure
    return None


def accuracy_across_runs(across: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`~verif_nb.report.runs_summary` that are per-mode accuracies (0-1), for comparing runs.

    Example:
        >>> t = pd.DataFrame({"run_id": ["a", "a"], "metric": ["rule_constraint_accuracy", "records"],
        ...                   "value": [0.9, 12.0]})
        >>> accuracy_across_runs(t)["metric"].tolist()
        ['rule_constraint_accuracy']
    """
    keep = across["metric"].map(lambda k: (mode_measure(k) or ("", ""))[1] in ACCURACY_MEASURES)
    return across[keep]


def verifier_scoreboard(
    constraint_metrics: pd.DataFrame, response_metrics: pd.DataFrame, pairwise: pd.DataFrame
) -> pd.DataFrame:
    """One row per mode: constraint and response accuracy and F1, and pairwise accuracy.

    Example:
        >>> cm = pd.DataFrame({"mode": ["rule"], "accuracy": [0.9], "f1": [0.8]})
        >>> rm = pd.DataFrame({"mode": ["rule"], "accuracy": [0.7], "f1": [0.6]})
        >>> verifier_scoreboard(cm, rm, pd.DataFrame({"mode": ["rule"], "accuracy": [0.5]})).loc["rule"].tolist()
        [0.9, 0.7, 0.8, 0.6, 0.5]
    """
    table = pd.concat([constraint_metrics.assign(level="constraint"), response_metrics.assign(level="response")])
    table = table.pivot(index="mode", columns="level", values=["accuracy", "f1"])
    table.columns = [f"{level} {measure}" for measure, level in table.columns]
    return table.join(pairwise.rename(columns={"accuracy": "pairwise"}).set_index("mode")[["pairwise"]])
