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

``verif-nb report RUN --single-file`` also writes ``report.html``: the index with every figure embedded,
one file to send.

Example:
    >>> steps = pd.DataFrame({"step": range(1, 13), "reward": [0] * 4 + [.5] * 4 + [1] * 4})
    >>> trend = training_trend(steps)
    >>> (trend["first"], trend["last"], bool(trend["p_value"] < 0.05))
    (0.0, 1.0, True)
"""

from __future__ import annotations

import argparse
import base64
import html
import itertools
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

JUDGE_MODES = ("llm", "llm_all")
"""Modes whose verdicts all come from the judge (hybrid mixes in code verdicts)."""

ALPHA = 0.05


@dataclass
class Finding:
    """One sentence of the findings section; ``level`` is ``finding``, ``warning`` or ``caveat``."""

    topic: str
    text: str
    level: str = "finding"
    numbers: dict[str, Any] = field(default_factory=dict)


def bootstrap_ci(
    units: Sequence[Any],
    statistic: Callable[[list[Any]], float],
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``units`` (with replacement).

    Resampling whole units (records, steps) keeps what belongs together together. Resamples where the
    statistic is undefined (NaN) are dropped.

    Example:
        >>> lo, hi = bootstrap_ci([0, 1] * 20, lambda xs: float(np.mean(xs)))
        >>> 0.3 < lo < 0.5 < hi < 0.7
        True
    """
    units = list(units)
    if not units:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        sample = [units[i] for i in rng.integers(0, len(units), len(units))]
        value = statistic(sample)
        if value is not None and not math.isnan(value):
            values.append(value)
    if not values:
        return (math.nan, math.nan)
    tail = (1 - level) / 2
    return (float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail)))


def permutation_p(a: Sequence[float], b: Sequence[float], n_perm: int = 10000, seed: int = 0) -> float:
    """Two-sided permutation test of a difference in means between ``a`` and ``b``.

    Example:
        >>> permutation_p([0, 0, 0, 0, 0], [1, 1, 1, 1, 1]) < 0.01
        True
        >>> permutation_p([0, 1, 0, 1], [1, 0, 1, 0])
        1.0
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    observed = abs(b.mean() - a.mean())
    pooled = np.concatenate([a, b])
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        rng.shuffle(pooled)
        hits += abs(pooled[len(a) :].mean() - pooled[: len(a)].mean()) >= observed - 1e-12
    return float(min(1.0, (hits + 1) / (n_perm + 1)))


def fisher_exact_p(success_a: int, n_a: int, success_b: int, n_b: int) -> float:
    """Two-sided Fisher's exact test of two pass rates (``success_a / n_a`` vs ``success_b / n_b``).

    Example:
        >>> round(fisher_exact_p(0, 10, 10, 10), 5)
        1e-05
        >>> fisher_exact_p(3, 6, 3, 6)
        1.0
    """
    total_success, total = success_a + success_b, n_a + n_b

    def prob(k: int) -> float:
        return math.comb(total_success, k) * math.comb(total - total_success, n_a - k) / math.comb(total, n_a)

    observed = prob(success_a)
    lo, hi = max(0, total_success - n_b), min(total_success, n_a)
    return min(1.0, sum(p for p in map(prob, range(lo, hi + 1)) if p <= observed * (1 + 1e-9)))


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


def balanced_accuracy(gold: Sequence[bool], pred: Sequence[bool]) -> float:
    """Mean of the true-positive and true-negative rates (0.5 = chance, whatever the base rate).

    Example:
        >>> balanced_accuracy([True, True, True, False], [True, True, True, True])
        0.5
    """
    gold, pred = np.asarray(gold, bool), np.asarray(pred, bool)
    if gold.all() or not gold.any():
        return math.nan
    return float(((pred & gold).sum() / gold.sum() + (~pred & ~gold).sum() / (~gold).sum()) / 2)


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


def _read(run_dir: Path, notebook: str, name: str) -> Any:
    path = run_dir / "metrics" / notebook / name
    if not path.is_file():
        return None
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return json.loads(path.read_text(encoding="utf-8"))


def _ci(ci: tuple[float, float], pct: bool = True) -> str:
    if any(math.isnan(x) for x in ci):
        return "CI not computable"
    return f"95% CI {ci[0]:+.2f} to {ci[1]:+.2f}" if not pct else f"95% CI {ci[0]:.2f}–{ci[1]:.2f}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ablation_findings(run_dir: Path) -> list[Finding]:
    out: list[Finding] = []
    responses = _read(run_dir, "02_verifier_ablation", "response_rewards.csv")
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
            out.append(Finding("verifier", text + ".", numbers=ranking))
    verdicts = _read(run_dir, "02_verifier_ablation", "constraint_verdicts.csv")
    judged = verdicts[verdicts["mode"].isin(JUDGE_MODES)] if verdicts is not None else None
    sources = []
    if judged is not None and len(judged):
        for mode, frame in judged.groupby("mode"):
            sources.append((f"{mode} mode on the gold-labelled constraints", frame))
    cases = _read(run_dir, "02_verifier_ablation", "judge_calibration_cases.csv")
    if cases is not None and len(cases):
        sources.append(("IFEval hard constraints (exact code verdicts as gold)", cases.assign(case=range(len(cases)))))
    if verdicts is not None and not sources:
        out.append(
            Finding(
                "caveat",
                "No judge ran in this run, so nothing here measures the soft (llm) constraints "
                "or the judge-based modes.",
                level="caveat",
            )
        )
    noise = []
    for label, frame in sources:
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
            )
        )
    summary = _read(run_dir, "02_verifier_ablation", "summary.json") or {}
    if summary.get("records") is not None and summary["records"] < 20:
        out.append(
            Finding(
                "caveat", f"The ablation used {summary['records']} records, so its intervals are wide.", level="caveat"
            )
        )
    return out


def _training_findings(run_dir: Path) -> list[Finding]:
    out: list[Finding] = []
    steps = _read(run_dir, "03_grpo_training", "train_steps.csv")
    if steps is not None:
        trend = training_trend(steps)
        if trend is None:
            out.append(
                Finding(
                    "training",
                    f"Training ran {len(steps)} steps: too few to compare the first and last thirds.",
                    level="caveat",
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
            out.append(Finding("training", text, numbers=trend))
            if not moved:
                out.append(
                    Finding(
                        "caveat",
                        "This run is too short or its constraints too easy or too hard for the "
                        "policy to show learning; benchmarks/RESULTS.md ('GRPO learning "
                        "evidence', run 3) shows a CPU run where the reward rises significantly.",
                        level="caveat",
                    )
                )
    heldout = _read(run_dir, "03_grpo_training", "heldout_before_after.csv")
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
                )
            )
    ifeval = _read(run_dir, "03_grpo_training", "ifeval_before_after.csv")
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
                )
            )
            if n < 50:
                out.append(
                    Finding(
                        "caveat",
                        f"IFEval was scored on {n} prompts, too few to detect a change of a few points.",
                        level="caveat",
                    )
                )
    return out


def run_findings(run_dir: str | Path) -> list[Finding]:
    """The findings of a run, from its ``metrics/`` folder (empty when no notebook produced any).

    Example:
        >>> run_findings("/nonexistent")
        []
    """
    run_dir = Path(run_dir)
    if not (run_dir / "metrics").is_dir():
        return []
    findings = _ablation_findings(run_dir) + _training_findings(run_dir)
    manifest_path = run_dir / "manifest.json"
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("git", {}).get("dirty"):
            findings.append(
                Finding(
                    "caveat",
                    "The code had uncommitted changes when this ran, so the commit alone does not reproduce it.",
                    level="caveat",
                )
            )
    return findings


def findings_html(findings: Sequence[Finding]) -> str:
    """The findings as an HTML section (warnings first, caveats last).

    Example:
        >>> "warn" in findings_html([Finding("judge", "noise", level="warning")])
        True
    """
    order = {"warning": 0, "finding": 1, "caveat": 2}
    items = "".join(
        f"<li class='{f.level}'>{'<b>Warning:</b> ' if f.level == 'warning' else ''}"
        f"{'<i>Caveat:</i> ' if f.level == 'caveat' else ''}{html.escape(f.text)}</li>"
        for f in sorted(findings, key=lambda f: order.get(f.level, 1))
    )
    body = f"<ul>{items}</ul>" if items else "<p>No notebook of this run produced metrics to draw findings from.</p>"
    return (
        "<section id='findings'><h2>Findings</h2>"
        "<style>#findings li{margin:.3em 0} #findings li.warning{color:#b3261e}"
        " #findings li.caveat{color:#555}</style>" + body + "</section>"
    )


def embed_figures(page: str, run_dir: str | Path) -> str:
    """``page`` with every ``<img src='relative.png'>`` inlined as a data URI and links to files dropped.

    Example:
        >>> embed_figures("<a href='x.csv'>x.csv</a>", "/nonexistent")
        'x.csv'
    """
    root = Path(run_dir)

    def inline(match: re.Match[str]) -> str:
        path = root / html.unescape(match.group(2))
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:image/png;base64,{data}{match.group(3)}"

    page = re.sub(r"(<img [^>]*src=['\"])([^'\"]+\.png)(['\"])", inline, page)
    # links into the run folder do not exist beside a single file: keep their text only
    return re.sub(r"<a href=['\"](?!https?:|#|data:)[^'\"]*['\"]>(.*?)</a>", r"\1", page, flags=re.DOTALL)


def write_single_file(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One self-contained HTML of a run (findings, tables, every figure embedded): ``run_dir/report.html``.

    Example:
        >>> write_single_file("outputs/20260101-000000-demo")  # doctest: +SKIP
        PosixPath('outputs/20260101-000000-demo/report.html')
    """
    from verif_nb.pipeline import write_index
    from verif_nb.report import read_manifest

    root = Path(run_dir)
    index = write_index(root, read_manifest(root))
    target = Path(out) if out else root / "report.html"
    target.write_text(embed_figures(index.read_text(encoding="utf-8"), root), encoding="utf-8")
    return target


def _report(args: argparse.Namespace) -> int:
    from verif_nb.errors import VerifNbError
    from verif_nb.pipeline import write_index
    from verif_nb.report import read_manifest

    root = Path(args.run)
    if not (root / "manifest.json").is_file():
        raise VerifNbError(f"{root} is not a run folder (no manifest.json); pass outputs/<run-id>")
    result = {"index": str(write_index(root, read_manifest(root)))}
    if args.single_file:
        result["single_file"] = str(write_single_file(root, args.out or None))
    result["findings"] = [f.text for f in run_findings(root)]
    print(json.dumps(result, indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``report`` to the ``verif-nb`` command line."""
    report = subparsers.add_parser(
        "report", help="rewrite a run's index.html with its findings (--single-file: one self-contained HTML)"
    )
    report.add_argument("run", help="run folder, e.g. outputs/20261130-120000-demo")
    report.add_argument("--single-file", action="store_true", help="also write report.html with figures embedded")
    report.add_argument("--out", default="", help="path of the single file (default RUN/report.html)")
    report.set_defaults(func=_report)
