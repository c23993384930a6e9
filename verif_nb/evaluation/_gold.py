"""Verifier accuracy against gold labels: constraint level, response level, per group, pairwise."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from verif_nb.evaluation._cost import judge_counters
from verif_nb.records import Record
from verif_nb.verifier import VerificationResult, Verifier

# The paper's constraint taxonomy, matched on the lower-cased checker name / id namespace.
TAXONOMY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("length", ("length", "paragraph", "sentence", "word_count", "number_words")),
    ("keyword", ("keyword", "forbidden", "letter_frequency")),
    (
        "format",
        (
            "format",
            "listing",
            "list",
            "case",
            "punctuation",
            "json",
            "startend",
            "heading",
            "bullet",
            "combination",
            "detectable_format",
            "title",
            "quotation",
            "table",
        ),
    ),
    ("style", ("style", "tone", "audience", "persona", "register", "voice", "language")),
)


def taxonomy_group(group: str) -> str:
    """Map a checker group onto the paper's taxonomy: length, keyword, format, style or content.

    Example:
        >>> taxonomy_group("Length_Constraints"), taxonomy_group("Desired_Writing_Style")
        ('length', 'style')
    """
    name = group.lower()
    for label, needles in TAXONOMY_KEYWORDS:
        if any(n in name for n in needles):
            return label
    return "content"


@dataclass
class GoldEvaluation:
    """Per-constraint and per-response predictions of several verifier modes on gold-labelled responses.

    ``constraints`` has a row per (mode, response, checked constraint); ``responses`` a row per
    (mode, response). Use :meth:`constraint_metrics`, :meth:`response_metrics` and
    :meth:`pairwise_accuracy` for the tables.
    """

    constraints: pd.DataFrame
    responses: pd.DataFrame
    costs: dict[str, dict[str, float]]
    """per mode: verifications, seconds and judge counter deltas (see :func:`cost_per_thousand`)."""

    def constraint_metrics(self, by: Iterable[str] = ("mode",)) -> pd.DataFrame:
        """Accuracy, precision, recall, F1 and coverage of constraint verdicts, grouped by ``by``.

        "Positive" means "the constraint is satisfied". A verdict of None (could not verify) counts
        as wrong in accuracy and lowers ``coverage``; precision/recall use verified verdicts.
        """
        return _metrics(self.constraints, list(by))

    def response_metrics(self, by: Iterable[str] = ("mode",)) -> pd.DataFrame:
        """The same metrics at response level: gold = every constraint satisfied, prediction = reward 1."""
        return _metrics(self.responses, list(by))

    def pairwise_accuracy(self) -> pd.DataFrame:
        """For every pair of responses to one prompt whose gold scores differ, does the reward rank the
        better one strictly higher? (the paper's Table 1 measure). Ties and None rewards count as wrong."""
        rows = []
        for mode, frame in self.responses.groupby("mode", sort=False):
            correct = ties = unverified = total = 0
            for _, group in frame.groupby("record_id", sort=False):
                for a, b in itertools.combinations(group.itertuples(index=False), 2):
                    if a.gold_score == b.gold_score or a.gold_score is None or b.gold_score is None:
                        continue
                    total += 1
                    better, worse = (a, b) if a.gold_score > b.gold_score else (b, a)
                    if better.reward is None or worse.reward is None:
                        unverified += 1
                    elif better.reward > worse.reward:
                        correct += 1
                    elif better.reward == worse.reward:
                        ties += 1
            rows.append(
                {
                    "mode": mode,
                    "pairs": total,
                    "accuracy": correct / total if total else float("nan"),
                    "ties": ties,
                    "unverified": unverified,
                }
            )
        return pd.DataFrame(rows)


def _metrics(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    rows = []
    for key, g in frame.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        verified = g[g["pred"].notna()]
        pred = verified["pred"].astype(bool)
        gold = verified["gold"].astype(bool)
        tp = int((pred & gold).sum())
        fp = int((pred & ~gold).sum())
        fn = int((~pred & gold).sum())
        tn = int((~pred & ~gold).sum())
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        rows.append(
            {
                **dict(zip(by, key)),
                "n": len(g),
                "accuracy": (tp + tn) / len(g) if len(g) else float("nan"),
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "coverage": len(verified) / len(g),
                "gold_positive_rate": float(g["gold"].astype(bool).mean()),
                "pred_positive_rate": float(pred.mean()) if len(pred) else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def evaluate_against_gold(
    records: Iterable[Record], verifiers: Mapping[str, Verifier], progress: bool = True
) -> GoldEvaluation:
    """Run each verifier on every labelled response of ``records`` and line its verdicts up with the gold labels.

    Example:
        >>> from verif_nb.data import load_sample
        >>> ev = evaluate_against_gold(load_sample().records[:2], {"rule": Verifier(mode="rule")}, progress=False)
        >>> list(ev.response_metrics()["mode"])
        ['rule']
    """
    records = [r for r in records if any(resp.labels for resp in r.responses)]
    items = [(rec, resp) for rec in records for resp in rec.responses if resp.labels]
    c_rows, r_rows, costs = [], [], {}
    for mode, verifier in verifiers.items():
        before = judge_counters(verifier)
        start = time.perf_counter()
        results: list[VerificationResult] = verifier.verify_batch(
            [(rec, resp.text) for rec, resp in items], progress=progress
        )
        after = judge_counters(verifier)
        costs[mode] = {
            "verifications": len(items),
            "seconds": time.perf_counter() - start,
            **{k: after[k] - before[k] for k in after},
        }
        for (rec, resp), res in zip(items, results):
            rid = resp.id or str(rec.responses.index(resp))
            for verdict, idx in zip(res.verdicts, res.constraint_indices):
                gold = resp.labels[idx]
                if gold is None:
                    continue
                c = rec.constraints[idx]
                c_rows.append(
                    {
                        "mode": mode,
                        "record_id": rec.id,
                        "response_id": rid,
                        "constraint": c.name,
                        "kind": c.kind,
                        "group": c.group,
                        "taxonomy": taxonomy_group(c.group),
                        "gold": bool(gold),
                        "pred": verdict.passed,
                        "reason": verdict.reason,
                    }
                )
            labels = [x for x in resp.labels if x is not None]
            r_rows.append(
                {
                    "mode": mode,
                    "record_id": rec.id,
                    "response_id": rid,
                    "gold": all(labels),
                    "gold_score": resp.gold_score,
                    "reward": res.reward,
                    "pred": None if res.reward is None else res.reward >= 1.0 - 1e-9,
                    "error": res.error,
                }
            )
    constraints = pd.DataFrame(
        c_rows,
        columns=[
            "mode",
            "record_id",
            "response_id",
            "constraint",
            "kind",
            "group",
            "taxonomy",
            "gold",
            "pred",
            "reason",
        ],
    )
    responses = pd.DataFrame(
        r_rows, columns=["mode", "record_id", "response_id", "gold", "gold_score", "reward", "pred", "error"]
    )
    return GoldEvaluation(
        constraints=constraints.astype({"pred": object}), responses=responses.astype({"pred": object}), costs=costs
    )
