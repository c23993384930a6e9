"""McNemar exact test, paired bootstrap intervals and unbiased pass@k against hand-computed values."""

from __future__ import annotations

import pytest

from verif_nb.evaluation import mcnemar_exact, mean_pass_at_k, paired_bootstrap_ci, pass_at_k


def _pairs(lost: int, gained: int, both_right: int = 0, both_wrong: int = 0):
    before = [True] * lost + [False] * gained + [True] * both_right + [False] * both_wrong
    after = [False] * lost + [True] * gained + [True] * both_right + [False] * both_wrong
    return before, after


# p = min(1, 2 * sum_{i <= min(b, c)} C(b + c, i) / 2^(b + c)), worked by hand:
@pytest.mark.parametrize(
    "lost, gained, concordant, p",
    [
        (0, 0, 10, 1.0),  # no discordant prompt: no evidence
        (3, 3, 0, 1.0),  # a tie: min(1, 2 * 42/64) = 1
        (0, 5, 5, 2 / 32),  # 0.0625: five of five gained is not yet significant
        (0, 6, 0, 2 / 64),  # 0.03125
        (1, 9, 40, 2 * (1 + 10) / 1024),  # 0.021484375
        (9, 1, 40, 2 * (1 + 10) / 1024),  # symmetric
        (2, 8, 0, 2 * (1 + 10 + 45) / 1024),  # 0.109375
        (4, 6, 3, 2 * (1 + 10 + 45 + 120 + 210) / 1024),  # 0.75390625
    ],
)
def test_mcnemar_exact_hand_values(lost, gained, concordant, p):
    before, after = _pairs(lost, gained, both_right=concordant)
    result = mcnemar_exact(before, after)
    assert (result.lost, result.gained, result.n) == (lost, gained, lost + gained + concordant)
    assert result.p_value == pytest.approx(p, abs=1e-12)
    assert result.significant == (p < 0.05)


def test_mcnemar_ignores_concordant_pairs_and_checks_lengths():
    few = mcnemar_exact(*_pairs(1, 9))
    many = mcnemar_exact(*_pairs(1, 9, both_right=500, both_wrong=500))
    assert few.p_value == many.p_value
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar_exact([True], [True, False])


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 2, 1, 0.4),  # c / n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (5, 2, 4, 1.0),  # n - c < k: some correct sample is always drawn
        (10, 0, 5, 0.0),
        (10, 10, 1, 1.0),
        (10, 3, 2, 1 - 21 / 45),  # 1 - C(7,2)/C(10,2)
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    ],
)
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass@k needs"):
        pass_at_k(n, c, k)


def test_mean_pass_at_k_averages_prompts():
    # prompts with 0, 1 and 4 correct of 4: pass@1 = (0 + 1/4 + 1)/3, pass@2 = (0 + 1/2 + 1)/3
    table = mean_pass_at_k([0, 1, 4], 4)
    assert list(table) == [1, 2, 3, 4]
    assert table[1] == pytest.approx(1.25 / 3) and table[2] == pytest.approx(1.5 / 3)
    assert table[4] == pytest.approx(2 / 3)
    assert all(table[k] <= table[k + 1] for k in (1, 2, 3))  # more tries never hurt


def test_bootstrap_exact_distribution_three_items():
    # Only item 2 differs (0 -> 1). A resample's difference is (times item 2 drawn) / 3, Binomial(3, 1/3):
    # P(0) = 8/27, P(1/3) = 12/27, P(2/3) = 6/27, P(1) = 1/27. Cumulative: 0.296, 0.741, 0.963, 1.
    # So the 2.5% quantile is 0 and the 97.5% quantile is 1 (0.963 < 0.975).
    r = paired_bootstrap_ci([1, 0, 0], [1, 1, 0], resamples=20_000, seed=3)
    assert r.difference == pytest.approx(1 / 3)
    assert (r.low, r.high) == (0.0, 1.0)
    assert not r.significant


def test_bootstrap_uses_ratio_of_sums_with_counts():
    # Instruction level: prompt A has 1 instruction (followed after, not before), prompt B has 3 (none either way).
    # Observed: 1/4 (a mean of per-prompt rates would say 1/2). Resamples: AA -> 1, BB -> 0, AB/BA -> 1/4.
    r = paired_bootstrap_ci([0, 0], [1, 0], counts=[1, 3], resamples=20_000, seed=0)
    assert r.difference == pytest.approx(0.25)
    assert (r.low, r.high) == (0.0, 1.0)
    # Every prompt gains the same share: every resample gives the same difference.
    same = paired_bootstrap_ci([1, 0], [2, 1], counts=[2, 2], resamples=500, seed=0)
    assert (same.difference, same.low, same.high) == (0.5, 0.5, 0.5)


def test_bootstrap_significance_and_seed():
    before = [0] * 30 + [1] * 30
    after = [1] * 30 + [1] * 30  # +50 points on 60 items
    r = paired_bootstrap_ci(before, after, resamples=5_000, seed=0)
    assert r.difference == 0.5 and r.significant and 0.3 < r.low < 0.5 < r.high < 0.7
    noise_before = [1, 0] * 30
    noise_after = [0, 1] * 30  # 30 lost, 30 gained: no difference
    n = paired_bootstrap_ci(noise_before, noise_after, resamples=5_000, seed=0)
    assert n.difference == 0 and n.low < 0 < n.high and not n.significant
    again = paired_bootstrap_ci(noise_before, noise_after, resamples=5_000, seed=0)
    other = paired_bootstrap_ci(noise_before, noise_after, resamples=5_000, seed=1)
    assert (again.low, again.high) == (n.low, n.high) and (other.low, other.high) != (n.low, n.high)
    assert n.to_dict()["significant"] is False and n.to_dict()["seed"] == 0


def test_bootstrap_identical_models_give_a_zero_interval():
    r = paired_bootstrap_ci([1, 0, 1, 1], [1, 0, 1, 1], resamples=1000)
    assert (r.difference, r.low, r.high, r.significant) == (0.0, 0.0, 0.0, False)


@pytest.mark.parametrize(
    "before, after, counts, message",
    [
        ([1, 0], [1], None, "one length"),
        ([], [], None, "no paired items"),
        ([1, 0], [1, 1], [1, 0], "counts must be positive"),
        ([1, 0], [1, 1], [1], "counts must be positive"),
    ],
)
def test_bootstrap_rejects_bad_input(before, after, counts, message):
    with pytest.raises(ValueError, match=message):
        paired_bootstrap_ci(before, after, counts)
