"""The statistics of verif-nb, in one place: is a difference real, and how sure are we of a number?

Where scipy has the test, scipy computes it; the bootstraps and pass@k are the project's own (each agrees with
its reference: ``tests/test_eval_stats.py``).

* :func:`mcnemar_exact`: prompt-level booleans of two models on the same prompts; only the discordant
  prompts (one model right, the other wrong) carry information, and under "no difference" each is a
  fair coin, so the p-value is an exact two-sided binomial test (``scipy.stats.binomtest``).
* :func:`fisher_exact_p`: two pass rates of unpaired samples (``scipy.stats.fisher_exact``).
* :func:`permutation_p`: a difference in means, two-sided (``scipy.stats.permutation_test``).
* :func:`bootstrap_ci`: a percentile interval of any statistic over resampled units (records, steps).
* :func:`balanced_accuracy`: the mean of the true-positive and true-negative rates (0.5 is chance).
* :func:`paired_bootstrap_ci`: resamples *prompts* (with their paired outcomes) and reads a percentile
  interval of the accuracy difference. Instruction-level accuracy is a ratio (instructions followed /
  instructions) over the resampled prompts, so the instructions of one prompt move together, as they
  are correlated.
* :func:`pass_at_k`: the unbiased estimator of Chen et al. 2021 (arXiv 2107.03374), ``1 - C(n-c, k) / C(n, k)``.

Example:
    >>> mcnemar_exact([True, False, False, False], [True, True, True, True]).p_value
    0.25
    >>> pass_at_k(5, 2, 2)
    0.7
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from math import comb
from typing import Any


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test: ``lost`` (before right, after wrong), ``gained`` (before wrong, after right).

    Example:
        >>> McNemarResult(n=10, lost=0, gained=6, p_value=0.03125).significant
        True
    """

    n: int
    lost: int
    gained: int
    p_value: float
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def to_dict(self) -> dict[str, Any]:
        """The fields plus ``significant``, JSON-ready.

        Example:
            >>> McNemarResult(4, 1, 1, 1.0).to_dict()["significant"]
            False
        """
        return {**asdict(self), "significant": self.significant}


def mcnemar_exact(before: Sequence[bool], after: Sequence[bool], alpha: float = 0.05) -> McNemarResult:
    """Exact two-sided McNemar test for paired booleans (the same prompts, two models).

    The two-sided binomial test of ``lost`` against ``lost + gained`` fair coins; with no discordant pair
    there is no evidence either way and ``p = 1``.

    Example:
        >>> r = mcnemar_exact([True] + [False] * 9, [False] + [True] * 9)
        >>> (r.lost, r.gained, r.p_value)
        (1, 9, 0.021484375)
    """
    if len(before) != len(after):
        raise ValueError(f"paired samples differ in length: {len(before)} vs {len(after)}")
    lost = sum(bool(b) and not bool(a) for b, a in zip(before, after))
    gained = sum(bool(a) and not bool(b) for b, a in zip(before, after))
    from scipy.stats import binomtest

    p_value = float(binomtest(lost, lost + gained, 0.5).pvalue) if lost + gained else 1.0
    return McNemarResult(len(before), lost, gained, p_value, alpha)


@dataclass(frozen=True)
class BootstrapResult:
    """A paired bootstrap interval for ``after - before`` (in the units of the inputs, e.g. 0-1 accuracy).

    Example:
        >>> BootstrapResult(0.1, 0.02, 0.2, 50, 1000, 0).significant
        True
    """

    difference: float
    low: float
    high: float
    n: int
    resamples: int
    seed: int
    confidence: float = 0.95

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        """The fields plus ``significant``, JSON-ready.

        Example:
            >>> BootstrapResult(0.0, 0.0, 0.0, 3, 10, 0).to_dict()["significant"]
            False
        """
        return {**asdict(self), "significant": self.significant}


def paired_bootstrap_ci(
    before: Sequence[float],
    after: Sequence[float],
    counts: Sequence[float] | None = None,
    resamples: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
) -> BootstrapResult:
    """Percentile bootstrap interval of the difference in accuracy, resampling paired items.

    Each item ``i`` has a score before and after (a boolean, a fraction such as a per-prompt pass@k, or
    a count of successes); with ``counts`` (units per item, e.g. instructions per prompt) the accuracy of
    a resample is ``sum(scores) / sum(counts)``, otherwise the mean. The same resampled items are used
    for both models; ``seed`` fixes the draw.

    Example:
        >>> r = paired_bootstrap_ci([1, 0, 1, 0], [1, 1, 1, 1], resamples=2000, seed=0)
        >>> (r.difference, r.low <= 0.5 <= r.high, r.high)
        (0.5, True, 1.0)
    """
    import numpy as np

    b = np.asarray(before, dtype=float)
    a = np.asarray(after, dtype=float)
    if b.shape != a.shape or b.ndim != 1:
        raise ValueError(f"paired samples must be two flat sequences of one length, not {b.shape} and {a.shape}")
    if len(b) == 0:
        raise ValueError("no paired items to bootstrap")
    w = np.ones_like(b) if counts is None else np.asarray(counts, dtype=float)
    if w.shape != b.shape or (w <= 0).any():
        raise ValueError("counts must be positive, one per item")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    observed = float((a.sum() - b.sum()) / w.sum())
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    chunk = max(1, 2_000_000 // len(b))  # bounds memory at ~16 MB of indices whatever n is
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        idx = rng.integers(0, len(b), size=(size, len(b)))
        diffs[start : start + size] = (a[idx].sum(axis=1) - b[idx].sum(axis=1)) / w[idx].sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return BootstrapResult(observed, float(low), float(high), len(b), resamples, seed, confidence)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: ``1 - C(n-c, k) / C(n, k)``.

    The chance that at least one of ``k`` samples drawn without replacement from the ``n`` is correct.

    Example:
        >>> [pass_at_k(5, 2, k) for k in (1, 2, 3, 4)]
        [0.4, 0.7, 0.9, 1.0]
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, not n={n}, c={c}, k={k}")
    return float(1 - Fraction(comb(n - c, k), comb(n, k)))


def mean_pass_at_k(correct: Sequence[int], n: int, ks: Sequence[int] | None = None) -> dict[int, float]:
    """pass@k averaged over prompts, for each ``k`` (default 1..n); ``correct[i]`` of ``n`` samples were right.

    Example:
        >>> mean_pass_at_k([0, 2, 4], 4, [1, 4])
        {1: 0.5, 4: 0.6666666666666666}
    """
    if not correct:
        raise ValueError("no prompts")
    return {k: sum(pass_at_k(n, c, k) for c in correct) / len(correct) for k in (ks or range(1, n + 1))}


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
        >>> import numpy as np
        >>> lo, hi = bootstrap_ci([0, 1] * 20, lambda xs: float(np.mean(xs)))
        >>> 0.3 < lo < 0.5 < hi < 0.7
        True
    """
    import numpy as np

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
    """Two-sided permutation test of a difference in means between ``a`` and ``b`` (``n_perm`` random
    relabellings; exact when there are fewer distinct ones).

    Example:
        >>> permutation_p([0, 0, 0, 0, 0], [1, 1, 1, 1, 1]) < 0.01
        True
        >>> permutation_p([0, 1, 0, 1], [1, 0, 1, 0])
        1.0
    """
    import numpy as np
    from scipy.stats import permutation_test

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    result = permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(y, axis=axis) - np.mean(x, axis=axis),
        permutation_type="independent",
        alternative="two-sided",
        n_resamples=n_perm,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(min(1.0, result.pvalue))


def fisher_exact_p(success_a: int, n_a: int, success_b: int, n_b: int) -> float:
    """Two-sided Fisher's exact test of two pass rates (``success_a / n_a`` vs ``success_b / n_b``).

    Example:
        >>> round(fisher_exact_p(0, 10, 10, 10), 5)
        1e-05
        >>> fisher_exact_p(3, 6, 3, 6)
        1.0
    """
    from scipy.stats import fisher_exact

    table = [[success_a, n_a - success_a], [success_b, n_b - success_b]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def balanced_accuracy(gold: Sequence[bool], pred: Sequence[bool]) -> float:
    """Mean of the true-positive and true-negative rates (0.5 = chance, whatever the base rate); NaN when
    ``gold`` holds one class only.

    Example:
        >>> balanced_accuracy([True, True, True, False], [True, True, True, True])
        0.5
    """
    import numpy as np

    gold, pred = np.asarray(gold, bool), np.asarray(pred, bool)
    if gold.all() or not gold.any():
        return math.nan
    return float(((pred & gold).sum() / gold.sum() + (~pred & ~gold).sum() / (~gold).sum()) / 2)
