"""Judge calibration on hard constraints: ask the judge questions whose exact answers code knows.

IFEval's checkers give exact verdicts, so a judge's accuracy per constraint group is measured, not
guessed (the paper: LLM judges are weakest on length and keyword constraints). Where the server
returns token log-probabilities the judge's P(yes) is recorded and a threshold is fitted on one half
of the cases and tested on the other, to see whether a calibrated judge beats the greedy one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from verif_nb.checkers import describe
from verif_nb.files import read_jsonl


@dataclass
class CalibrationCase:
    """One (prompt, response, built-in constraint) with its exact code verdict as gold."""

    prompt: str
    response: str
    checker_id: str
    kwargs: dict
    gold: bool

    @property
    def group(self) -> str:
        return self.checker_id.split(":")[0]


def load_calibration_cases(
    path: str | Path | None = None, limit: int | None = None, seed: int = 0
) -> list[CalibrationCase]:
    """The hard-constraint calibration set: by default the package's 120 IFEval cases (half satisfied,
    half violated, gold = the reference implementation's strict verdict). ``limit`` keeps a balanced subset.

    Example:
        >>> cases = load_calibration_cases(limit=10)
        >>> len(cases), sum(c.gold for c in cases)
        (10, 5)
    """
    with resources.as_file(resources.files("verif_nb.data") / "calibration" / "ifeval_hard_120.jsonl") as default:
        cases = [CalibrationCase(**row) for row in read_jsonl(path or default, "calibration")]
    if limit is not None and limit < len(cases):
        rng = random.Random(seed)
        pos = [c for c in cases if c.gold]
        neg = [c for c in cases if not c.gold]
        rng.shuffle(pos)
        rng.shuffle(neg)
        cases = pos[: (limit + 1) // 2] + neg[: limit // 2]
    return cases


def build_calibration_cases(
    inputs: Sequence[dict], responses: dict[str, str], n: int = 120, seed: int = 0
) -> list[CalibrationCase]:
    """Draw ``n`` balanced single-constraint cases from IFEval-format inputs and responses (by prompt),
    with gold verdicts from verif-nb's reference-exact strict checkers.

    Example:
        >>> row = {"prompt": "Say hi without commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
        >>> [c.gold for c in build_calibration_cases([row, row], {"Say hi without commas.": "hi"}, n=1)]
        [True]
    """
    from verif_nb.checkers import check_constraint

    pos, neg = [], []
    for row in inputs:
        response = responses.get(row["prompt"])
        if response is None:
            continue
        for cid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            kw = {k: v for k, v in (kw or {}).items() if v is not None}
            verdict = check_constraint(cid, kw, response, prompt=row["prompt"])
            case = CalibrationCase(row["prompt"], response, cid, kw, bool(verdict.passed))
            (pos if verdict.passed else neg).append(case)
    rng = random.Random(seed)
    rng.shuffle(pos)
    rng.shuffle(neg)
    return pos[: (n + 1) // 2] + neg[: n // 2]


def judge_calibration(cases: Sequence[CalibrationCase], judge, progress: bool = True) -> pd.DataFrame:
    """Ask ``judge`` (a JudgeClient) one yes/no question per case; one row per case with the judge's
    verdict, P(yes) where available, latency and the gold verdict.
    """
    from verif_nb.judge import JudgeRequest

    requests = [JudgeRequest.judge(c.prompt, c.response, describe(c.checker_id, c.kwargs, c.prompt)) for c in cases]
    outcomes = judge.run_many(requests, progress=progress)
    return pd.DataFrame(
        [
            {
                "checker_id": c.checker_id,
                "group": c.group,
                "gold": c.gold,
                "pred": o.passed,
                "p_yes": o.p_yes,
                "error": o.error,
                "latency_s": o.latency_s,
            }
            for c, o in zip(cases, outcomes)
        ]
    )


def _balanced_accuracy(gold: pd.Series, pred: pd.Series) -> float:
    pos, neg = gold, ~gold
    tpr = (pred & pos).sum() / pos.sum() if pos.sum() else float("nan")
    tnr = (~pred & neg).sum() / neg.sum() if neg.sum() else float("nan")
    return float((tpr + tnr) / 2)


def calibration_summary(frame: pd.DataFrame, seed: int = 0) -> dict:
    """Greedy vs. calibrated judge on a :func:`judge_calibration` frame.

    Greedy: the judge's parsed yes/no (unparseable answers count as wrong). Calibrated: ``P(yes) >= t``
    with ``t`` fitted for balanced accuracy on a random half and scored on the other half (only when
    every case has a P(yes)).

    Example:
        >>> f = pd.DataFrame({"gold": [True, False, True, False], "pred": [True, True, True, True],
        ...                   "p_yes": [None] * 4, "group": ["a"] * 4})
        >>> calibration_summary(f)["greedy_yes_rate"]
        1.0
    """
    gold = frame["gold"].astype(bool)
    verified = frame["pred"].notna()
    pred = frame["pred"].fillna(False).astype(bool) & verified
    out = {
        "cases": len(frame),
        "unverified": int((~verified).sum()),
        "greedy_accuracy": float((pred == gold).where(verified, False).mean()),
        "greedy_balanced_accuracy": _balanced_accuracy(gold, pred),
        "greedy_yes_rate": float(pred[verified].mean()) if verified.any() else float("nan"),
        "calibrated_threshold": None,
        "calibrated_balanced_accuracy": None,
    }
    if frame["p_yes"].notna().all() and len(frame) >= 4:
        idx = list(range(len(frame)))
        random.Random(seed).shuffle(idx)
        fit, test = idx[: len(idx) // 2], idx[len(idx) // 2 :]
        p = frame["p_yes"].astype(float)
        candidates = sorted(set(p.iloc[fit])) or [0.5]
        best = max(candidates, key=lambda t: _balanced_accuracy(gold.iloc[fit], p.iloc[fit] >= t))
        out["calibrated_threshold"] = float(best)
        out["calibrated_balanced_accuracy"] = _balanced_accuracy(
            gold.iloc[test].reset_index(drop=True), (p.iloc[test] >= best).reset_index(drop=True)
        )
        out["greedy_balanced_accuracy_test_half"] = _balanced_accuracy(
            gold.iloc[test].reset_index(drop=True), pred.iloc[test].reset_index(drop=True)
        )
        out["calibrated_beats_greedy"] = out["calibrated_balanced_accuracy"] > out["greedy_balanced_accuracy_test_half"]
    return out


def calibration_by_group(frame: pd.DataFrame) -> pd.DataFrame:
    """Judge accuracy, balanced accuracy and yes-rate per constraint group (unverified counts as wrong)."""
    rows = []
    for group, g in frame.groupby("group"):
        gold = g["gold"].astype(bool)
        verified = g["pred"].notna()
        pred = g["pred"].fillna(False).astype(bool) & verified
        rows.append(
            {
                "group": group,
                "n": len(g),
                "accuracy": float(((pred == gold) & verified).mean()),
                "balanced_accuracy": _balanced_accuracy(gold, pred),
                "yes_rate": float(pred[verified].mean()) if verified.any() else float("nan"),
                "unverified": int((~verified).sum()),
            }
        )
    return pd.DataFrame(rows).sort_values("accuracy").reset_index(drop=True)
