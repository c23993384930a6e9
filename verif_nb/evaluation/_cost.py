"""Cost of verification per mode: judge calls, tokens and seconds per 1,000 verifications."""

from __future__ import annotations

from typing import Any

import pandas as pd

from verif_nb.verifier import Verifier

COST_KEYS = ("calls", "cache_hits", "prompt_tokens", "completion_tokens")


def judge_counters(verifier: Verifier) -> dict[str, float]:
    """Snapshot of the verifier's judge counters (all zero for a judge-less verifier).

    Example:
        >>> judge_counters(Verifier(mode="rule"))["calls"]
        0
    """
    if verifier.config.mode == "rule" or verifier._judge_arg is None:
        return {k: 0 for k in COST_KEYS}
    stats = verifier.judge.stats.to_dict()
    return {k: stats.get(k, 0) for k in COST_KEYS}


def cost_per_thousand(costs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Turn per-mode cost records (``GoldEvaluation.costs``: verifications, seconds and judge counter
    deltas) into a table per 1,000 verifications.

    Example:
        >>> cost_per_thousand({"rule": {"verifications": 10, "seconds": 0.5, "calls": 0}})["seconds"].tolist()
        [50.0]
    """
    rows = []
    for mode, c in costs.items():
        n = max(int(c.get("verifications", 0)), 1)
        rows.append(
            {
                "mode": mode,
                "verifications": c.get("verifications", 0),
                **{k: 1000 * float(c.get(k, 0)) / n for k in ("seconds", *COST_KEYS)},
            }
        )
    return pd.DataFrame(rows)
