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
from pathlib import Path
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


def _opt_float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def training_summary(
    result: Any,
    steps: pd.DataFrame,
    training_folder: str | Path,
    comparison: pd.DataFrame | None = None,
    heldout: pd.DataFrame | None = None,
    claims: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The training notebook's headline numbers: steps, time, the device, the mean reward of the first and the last
    third of the steps (the numbers the findings test; single steps are too noisy to report), held-out records in the
    split and evaluated, before/after scores per model (``ifeval_<model>_prompt_strict`` ...,
    ``heldout_<model>_mean_reward``), and the three claims' differences and verdicts (``claim_<benchmark>_...``).

    ``result`` is a :class:`~verif_nb.train.RunResult`; ``steps`` its ``metrics_frame()`` with ``step`` a column.

    Example:
        >>> from pathlib import Path
        >>> from verif_nb.train.run import RunResult
        >>> run = RunResult(Path("o"), 6, train_seconds=10.0, reward_seconds=1.0, heldout_records=30)
        >>> s = training_summary(run, pd.DataFrame({"step": range(1, 7), "reward": [0.0, 0.5, 0.5, 0.5, 1.0, 1.0]}),
        ...                      "o", heldout=pd.DataFrame({"records": [24], "mean_reward": [0.5]}, index=["after"]))
        >>> s["reward_first_third"], s["reward_last_third"]
        (0.25, 1.0)
        >>> s["heldout_records_in_split"], s["heldout_records_evaluated"]
        (30, 24)
    """
    from verif_nb.report.findings import training_trend

    summary: dict[str, Any] = {
        "steps": result.global_step,
        "device": result.device or None,
        "train_seconds": round(result.train_seconds, 1),
        "reward_seconds": round(result.reward_seconds, 1),
        "reward_share_of_time": result.reward_seconds / max(result.train_seconds, 1e-9),
        "train_records": result.train_records,
        "heldout_records_in_split": result.heldout_records,
        "training_folder": str(training_folder),
    }
    trend = training_trend(steps)  # the same numbers as the findings' sentence, from the same function
    if trend is not None:
        summary.update(
            reward_first_third=trend["first"],
            reward_last_third=trend["last"],
            steps_per_third=trend["third"],
            reward_trend_p_value=trend["p_value"],
        )
    for model in [] if comparison is None else comparison.index:
        for measure in ("prompt_strict", "instruction_strict"):
            summary[f"ifeval_{model}_{measure}"] = float(comparison.loc[model, measure])
    if heldout is not None and len(heldout) and "records" in heldout:
        summary["heldout_records_evaluated"] = int(heldout["records"].iloc[0])
    for model in [] if heldout is None else heldout.index:
        summary[f"heldout_{model}_mean_reward"] = _opt_float(heldout.loc[model, "mean_reward"])
    for row in [] if claims is None else claims.to_dict("records"):
        summary[f"claim_{row['benchmark']}_difference"] = row["difference"]
        summary[f"claim_{row['benchmark']}_verdict"] = row["verdict"]
    return summary


def dataset_summary(
    records: int,
    rows_skipped: int,
    constraints: pd.DataFrame,
    record_rows: pd.DataFrame,
    responses: pd.DataFrame,
    health: pd.DataFrame,
) -> dict[str, Any]:
    """The dataset notebook's headline numbers, from its tables (:mod:`verif_nb.report.tables`).

    Example:
        >>> cons = pd.DataFrame({"kind": ["rule", "llm", "rule"], "group": ["a", "b", "a"]})
        >>> health = pd.DataFrame({"problem": [None, "bad import"], "errors": [0, 1], "ms_per_check": [2.0, None]})
        >>> s = dataset_summary(2, 1, cons, pd.DataFrame({"n_constraints": [1, 2]}), pd.DataFrame([{}] * 3), health)
        >>> (s["rule_constraints"], s["constraint_groups"], s["rule_functions_rejected"], s["ms_per_check_median"])
        (2, 2, 1, 2.0)
    """
    checked = health["ms_per_check"].notna().any() if len(health) else False
    return {
        "records": records,
        "rows_skipped": rows_skipped,
        "constraints": len(constraints),
        "rule_constraints": int((constraints["kind"] == "rule").sum()) if len(constraints) else 0,
        "llm_constraints": int((constraints["kind"] == "llm").sum()) if len(constraints) else 0,
        "constraints_per_record_mean": float(record_rows["n_constraints"].mean()) if len(record_rows) else None,
        "constraint_groups": int(constraints["group"].nunique()) if len(constraints) else 0,
        "labelled_responses": len(responses),
        "rule_functions": len(health),
        "rule_functions_rejected": int(health["problem"].notna().sum()) if len(health) else 0,
        "rule_check_errors": int(health["errors"].sum()) if len(health) else 0,
        "ms_per_check_median": float(health["ms_per_check"].median()) if checked else None,
    }
