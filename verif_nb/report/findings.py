"""What a run found, in sentences: the findings section that opens a run's ``index.html``.

Everything is computed from the metric files the notebooks wrote (``metrics/<notebook>/``), so a
report can be regenerated from a run folder alone (``verif-nb report RUN``):

- which verifier mode ranked pairs of responses best, and by how much over the runner-up, with a 95%
  bootstrap interval over records (``02_verifier_ablation/response_rewards.csv``);
- whether the judge beats chance: balanced accuracy of its verdicts against gold labels with a 95%
  bootstrap interval, and a plain warning when it does not;
- whether training moved the reward (first vs last third of the steps, permutation test) and what the
  held-out and IFEval before/after changes amount to (Fisher's exact test on the pass counts);
- one sentence per caveat.

The statistics come from :mod:`verif_nb.evaluation.stats`; the index template renders the findings.

Example:
    >>> steps = pd.DataFrame({"step": range(1, 13), "reward": [0] * 4 + [.5] * 4 + [1] * 4})
    >>> trend = training_trend(steps)
    >>> (trend["first"], trend["last"], bool(trend["p_value"] < 0.05))
    (0.0, 1.0, True)
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from verif_nb.evaluation.stats import balanced_accuracy, bootstrap_ci, fisher_exact_p, permutation_p
from verif_nb.report.layout import (
    ABLATION,
    CONSTRAINT_VERDICTS,
    HELDOUT_BEFORE_AFTER,
    IFEVAL_BEFORE_AFTER,
    JUDGE_CALIBRATION_CASES,
    RESPONSE_REWARDS,
    TRAIN_STEPS,
    MetricFile,
    RunLayout,
    read_manifest,
    summary_file,
)

log = logging.getLogger(__name__)

JUDGE_MODES = ("llm", "llm_all")
"""Modes whose verdicts all come from the judge (hybrid mixes in code verdicts)."""

ALPHA = 0.05


@dataclass
class Finding:
    """One sentence of the findings section; ``level`` is ``finding``, ``warning`` or ``caveat``; ``source`` names
    the files its numbers were computed from (the page shows it)."""

    topic: str
    text: str
    level: str = "finding"
    numbers: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _from(*files: Any) -> str:
    """``metrics/<notebook>/<file>`` of each metric file (or a plain path), as the page names them."""
    here = RunLayout(".")
    return ", ".join(here.metric(f).as_posix() if isinstance(f, MetricFile) else str(f) for f in files)


def _pair_outcomes(responses: pd.DataFrame) -> pd.DataFrame:
    """One row per (mode, record, pair with different gold scores): 1 if the better one got more reward."""
    rows = []
    for (mode, record), group in responses.groupby(["mode", "record_id"], sort=False):
        for a, b in itertools.combinations(group.itertuples(index=False), 2):
            if pd.isna(a.gold_score) or pd.isna(b.gold_score) or a.gold_score == b.gold_score:
                continue
            better, worse = (a, b) if a.gold_score > b.gold_score else (b, a)
            ok = not pd.isna(better.reward) and not pd.isna(worse.reward) and better.reward > worse.reward
            rows.append({"mode": mode, "record_id": record, "correct": int(ok)})
    return pd.DataFrame(rows, columns=["mode", "record_id", "correct"])


def mode_ranking(responses: pd.DataFrame, seed: int = 0) -> dict[str, Any] | None:
    """Pairwise accuracy per mode, the best mode, and its lead over the runner-up with a 95% CI.

    ``responses`` has a row per (mode, record_id, response) with ``gold_score`` and ``reward`` (what
    notebook 02 saves as ``response_rewards.csv``). The interval comes from resampling records, the
    unit whose responses share a prompt. Ties and unverified rewards count as wrong, as in the paper.

    Example:
        >>> r = pd.DataFrame({"mode": ["rule"] * 4 + ["llm"] * 4, "record_id": ["a", "a", "b", "b"] * 2,
        ...                   "gold_score": [1, 0, 1, 0] * 2, "reward": [1, 0, 1, 0, 0, 0, 1, 0]})
        >>> out = mode_ranking(r)
        >>> (out["best"], out["accuracy"]["rule"], out["accuracy"]["llm"])
        ('rule', 1.0, 0.5)
    """
    pairs = _pair_outcomes(responses)
    if pairs.empty:
        return None
    per_record = pairs.groupby(["record_id", "mode"])["correct"].agg(["sum", "count"]).unstack("mode")
    modes = list(dict.fromkeys(pairs["mode"]))
    accuracy = {m: float(pairs[pairs["mode"] == m]["correct"].mean()) for m in modes}
    ranked = sorted(modes, key=lambda m: -accuracy[m])
    out: dict[str, Any] = {
        "accuracy": accuracy,
        "best": ranked[0],
        "pairs": int((pairs["mode"] == ranked[0]).sum()),
        "records": int(per_record.shape[0]),
    }
    sums = {m: per_record[("sum", m)].fillna(0).to_numpy(float) for m in modes}
    counts = {m: per_record[("count", m)].fillna(0).to_numpy(float) for m in modes}
    records = list(range(per_record.shape[0]))

    def acc(mode: str) -> Callable[[list[Any]], float]:
        def stat(sample: list[Any]) -> float:
            n = counts[mode][sample].sum()
            return float(sums[mode][sample].sum() / n) if n else math.nan

        return stat

    out["best_ci"] = bootstrap_ci(records, acc(ranked[0]), seed=seed)
    if len(ranked) > 1:
        best, second = ranked[0], ranked[1]
        out["runner_up"] = second
        out["lead"] = accuracy[best] - accuracy[second]
        out["lead_ci"] = bootstrap_ci(records, lambda s: acc(best)(s) - acc(second)(s), seed=seed)
    return out


def judge_vs_chance(verdicts: pd.DataFrame, unit: str = "record_id", seed: int = 0) -> dict[str, Any] | None:
    """Balanced accuracy of judge verdicts (``gold``, ``pred``) with a 95% bootstrap CI over ``unit``.

    Unverified verdicts (``pred`` missing) are left out and counted in ``unverified``.

    Example:
        >>> v = pd.DataFrame({"record_id": list("aabbccdd") * 3, "gold": [True, False] * 12, "pred": [True] * 24})
        >>> out = judge_vs_chance(v)
        >>> (out["balanced_accuracy"], out["better_than_chance"])
        (0.5, False)
    """
    frame = verdicts.dropna(subset=["pred"])
    if frame.empty or frame["gold"].astype(bool).nunique() < 2:
        return None
    gold, pred = frame["gold"].astype(bool), frame["pred"].astype(bool)
    # per unit: true positives, positives, true negatives, negatives; a resample sums rows
    per_unit = (
        frame.assign(tp=gold & pred, pos=gold, tn=~gold & ~pred, neg=~gold)
        .groupby(unit)[["tp", "pos", "tn", "neg"]]
        .sum()
        .to_numpy(float)
    )
    units = list(range(len(per_unit)))

    def stat(sample: list[Any]) -> float:
        tp, pos, tn, neg = per_unit[sample].sum(axis=0)
        return (tp / pos + tn / neg) / 2 if pos and neg else math.nan

    ci = bootstrap_ci(units, stat, seed=seed)
    return {
        "balanced_accuracy": balanced_accuracy(gold, pred),
        "ci": ci,
        "n": len(frame),
        "unverified": int(len(verdicts) - len(frame)),
        "yes_rate": float(pred.mean()),
        "better_than_chance": bool(ci[0] > 0.5),
    }


def training_trend(steps: pd.DataFrame, column: str = "reward", seed: int = 0) -> dict[str, Any] | None:
    """Mean ``column`` in the first vs the last third of the training steps, with a permutation p-value.

    Steps are the units: the completions of one step share a prompt, so they are not independent.

    Example:
        >>> training_trend(pd.DataFrame({"step": [1, 2], "reward": [0.0, 1.0]})) is None
        True
    """
    if column not in steps:
        return None
    values = (
        steps.sort_values("step")[column].dropna().to_numpy(float)
        if "step" in steps
        else steps[column].dropna().to_numpy(float)
    )
    third = len(values) // 3
    if third < 2:
        return None
    first, last = values[:third], values[-third:]
    return {
        "steps": len(values),
        "third": third,
        "first": float(first.mean()),
        "last": float(last.mean()),
        "p_value": permutation_p(first, last, seed=seed),
    }


def before_after(table: pd.DataFrame, rate: str, count: str, scale: float = 1.0) -> dict[str, Any] | None:
    """Pass counts before and after training from a before/after table, with Fisher's exact p-value.

    ``rate`` is a pass rate column (divided by ``scale``: 100 for percentages), ``count`` the number of
    prompts it is a rate of. The test is unpaired, so it is conservative for the same prompts answered twice.

    Example:
        >>> t = pd.DataFrame({"model": ["before", "after"], "records": [10, 10], "all_pass": [0.2, 0.9]})
        >>> out = before_after(t, "all_pass", "records")
        >>> (out["before"], out["after"], out["p_value"] < 0.01)
        ((2, 10), (9, 10), True)
    """
    frame = table.set_index("model") if "model" in table else table
    if not {"before", "after"} <= set(frame.index) or rate not in frame or count not in frame:
        return None
    counts = {}
    for model in ("before", "after"):
        n = int(frame.loc[model, count])
        value = frame.loc[model, rate]
        if pd.isna(value) or n <= 0:
            return None
        counts[model] = (int(round(float(value) / scale * n)), n)
    (sa, na), (sb, nb) = counts["before"], counts["after"]
    return {"before": counts["before"], "after": counts["after"], "p_value": fisher_exact_p(sa, na, sb, nb)}


def _ci(ci: tuple[float, float], pct: bool = True) -> str:
    if any(math.isnan(x) for x in ci):
        return "CI not computable"
    return f"95% CI {ci[0]:+.2f} to {ci[1]:+.2f}" if not pct else f"95% CI {ci[0]:.2f}–{ci[1]:.2f}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ablation_findings(run: RunLayout) -> list[Finding]:
    out: list[Finding] = []
    responses = run.read(RESPONSE_REWARDS)
    if responses is not None:
        ranking = mode_ranking(responses)
        if ranking:
            best, acc = ranking["best"], ranking["accuracy"]
            text = (
                f"Verifier modes: {best} ranked pairs of responses best (pairwise accuracy {acc[best]:.2f}, "
                f"{_ci(ranking['best_ci'])}, {ranking['pairs']} pairs from {ranking['records']} records)"
            )
            if "runner_up" in ranking and ranking["lead"] == 0 and ranking["lead_ci"] == (0.0, 0.0):
                text += f", the same as {ranking['runner_up']}, which ranked every pair identically"
            elif "runner_up" in ranking:
                lead_ci = ranking["lead_ci"]
                clear = not math.isnan(lead_ci[0]) and lead_ci[0] > 0
                text += (
                    f", {ranking['lead']:+.2f} over {ranking['runner_up']} ({acc[ranking['runner_up']]:.2f}; "
                    f"difference {_ci(lead_ci, pct=False)}"
                    + ("" if clear else "; the interval includes 0, so the ranking of these two is not settled")
                    + ")"
                )
            out.append(Finding("verifier", text + ".", numbers=ranking, source=_from(RESPONSE_REWARDS)))
    verdicts = run.read(CONSTRAINT_VERDICTS)
    judged = verdicts[verdicts["mode"].isin(JUDGE_MODES)] if verdicts is not None else None
    sources = []
    if judged is not None and len(judged):
        for mode, frame in judged.groupby("mode"):
            sources.append((f"{mode} mode on the gold-labelled constraints", frame, CONSTRAINT_VERDICTS))
    cases = run.read(JUDGE_CALIBRATION_CASES)
    if cases is not None and len(cases):
        sources.append(
            (
                "IFEval hard constraints (exact code verdicts as gold)",
                cases.assign(case=range(len(cases))),
                JUDGE_CALIBRATION_CASES,
            )
        )
    if verdicts is not None and not sources:
        out.append(
            Finding(
                "caveat",
                "No judge ran in this run, so nothing here measures the soft (llm) constraints "
                "or the judge-based modes.",
                level="caveat",
                source=_from(CONSTRAINT_VERDICTS),
            )
        )
    noise = []
    for label, frame, metric in sources:
        result = judge_vs_chance(frame, unit="record_id" if "record_id" in frame else "case")
        if result is None:
            continue
        verdict = "better than chance" if result["better_than_chance"] else "NOT better than chance"
        out.append(
            Finding(
                "judge",
                f"Judge, {label}: balanced accuracy {result['balanced_accuracy']:.2f} "
                f"({_ci(result['ci'])}; 0.50 = chance) on {result['n']} verdicts, "
                f"says yes {result['yes_rate']:.0%} of the time: {verdict}.",
                numbers=result,
                source=_from(metric),
            )
        )
        if not result["better_than_chance"]:
            noise.append(label)
    if noise:
        out.append(
            Finding(
                "judge",
                "The judge's verdicts are indistinguishable from chance here, so every "
                "judge-based column in this report (llm, llm_all and the soft half of hybrid) "
                "is noise, not a measurement of those modes.",
                level="warning",
                source=_from(*dict.fromkeys(m for _, _, m in sources)),
            )
        )
    summary = run.read(summary_file(ABLATION)) or {}
    if summary.get("records") is not None and summary["records"] < 20:
        out.append(
            Finding(
                "caveat",
                f"The ablation used {summary['records']} records, so its intervals are wide.",
                level="caveat",
                source=_from(summary_file(ABLATION)),
            )
        )
    return out


def _training_findings(run: RunLayout) -> list[Finding]:
    out: list[Finding] = []
    steps = run.read(TRAIN_STEPS)
    if steps is not None:
        trend = training_trend(steps)
        if trend is None:
            out.append(
                Finding(
                    "training",
                    f"Training ran {len(steps)} steps: too few to compare the first and last thirds.",
                    level="caveat",
                    source=_from(TRAIN_STEPS),
                )
            )
        else:
            moved = trend["p_value"] < ALPHA
            direction = "rose" if trend["last"] > trend["first"] else "fell"
            text = (
                f"Training: the mean reward {direction if moved else 'did not move measurably'} from "
                f"{trend['first']:.3f} (first {trend['third']} steps) to {trend['last']:.3f} "
                f"(last {trend['third']}), {_p(trend['p_value'])} (permutation test over steps)."
            )
            out.append(Finding("training", text, numbers=trend, source=_from(TRAIN_STEPS)))
            if not moved:
                out.append(
                    Finding(
                        "caveat",
                        "This run is too short or its constraints too easy or too hard for the "
                        "policy to show learning; benchmarks/RESULTS.md ('GRPO learning "
                        "evidence', run 3) shows a CPU run where the reward rises significantly.",
                        level="caveat",
                        source=_from(TRAIN_STEPS),
                    )
                )
    heldout = run.read(HELDOUT_BEFORE_AFTER)
    if heldout is not None:
        change = before_after(heldout, "all_pass", "records")
        if change:
            (sa, n), (sb, m) = change["before"], change["after"]
            out.append(
                Finding(
                    "training",
                    f"Held-out prompts: every constraint passed in {sa} of {n} before and "
                    f"{sb} of {m} after training ({_p(change['p_value'])}, Fisher's exact "
                    "test)" + ("." if change["p_value"] < ALPHA else ": no change beyond chance."),
                    numbers=change,
                    source=_from(HELDOUT_BEFORE_AFTER),
                )
            )
    ifeval = run.read(IFEVAL_BEFORE_AFTER)
    if ifeval is not None:
        change = before_after(ifeval, "prompt_strict", "prompts", scale=100)
        if change:
            (sa, n), (sb, m) = change["before"], change["after"]
            out.append(
                Finding(
                    "training",
                    f"IFEval (prompt-level, strict): {sa} of {n} prompts before, {sb} of {m} "
                    f"after ({_p(change['p_value'])}, Fisher's exact test)"
                    + ("." if change["p_value"] < ALPHA else ": no change beyond chance."),
                    numbers=change,
                    source=_from(IFEVAL_BEFORE_AFTER),
                )
            )
            if n < 50:
                out.append(
                    Finding(
                        "caveat",
                        f"IFEval was scored on {n} prompts, too few to detect a change of a few points.",
                        level="caveat",
                        source=_from(IFEVAL_BEFORE_AFTER),
                    )
                )
    return out


def run_findings(run_dir: str | Path) -> list[Finding]:
    """The findings of a run, from its metric files (empty when no notebook produced any), warnings first and
    caveats last.

    Example:
        >>> run_findings("/nonexistent")
        []
    """
    run = RunLayout(run_dir)
    if not (run.root / "metrics").is_dir():
        return []
    findings = _ablation_findings(run) + _training_findings(run)
    if read_manifest(run.root).get("git", {}).get("dirty"):
        findings.append(
            Finding(
                "caveat",
                "The code had uncommitted changes when this ran, so the commit alone does not reproduce it.",
                level="caveat",
                source="manifest.json (git)",
            )
        )
    order = {"warning": 0, "finding": 1, "caveat": 2}
    return sorted(findings, key=lambda f: order.get(f.level, 1))
