import numpy as np
import pytest

from devbench.errors import DevbenchError
from devbench.stats import UNSTABLE_CV, instability, median_ci, paired_ratio, summarize


def test_summary_pools_samples_and_takes_the_median_of_round_medians():
    rng = np.random.default_rng(1)
    rounds = [rng.lognormal(0, 0.3, 101) * (1 + 0.01 * i) for i in range(7)]
    x = np.concatenate(rounds)
    s = summarize(rounds)
    assert s.n == 707 and s.rounds == 7
    assert s.median_ms == pytest.approx(np.median([np.median(r) for r in rounds]))
    assert s.mean_ms == pytest.approx(x.mean())
    assert s.std_ms == pytest.approx(x.std(ddof=1))
    assert s.p90_ms == pytest.approx(np.percentile(x, 90))
    assert s.iqr_ms == pytest.approx(np.percentile(x, 75) - np.percentile(x, 25))
    assert s.min_ms == x.min() and s.max_ms == x.max()
    assert s.ci95_low_ms <= s.median_ms <= s.ci95_high_ms
    # the interval is over rounds: with 7 rounds it is min..max of the round medians (coverage 98.4%)
    medians = sorted(np.median(r) for r in rounds)
    assert (s.ci95_low_ms, s.ci95_high_ms) == pytest.approx((medians[0], medians[-1]))


def test_one_round_has_no_interval_however_many_samples():
    s = summarize([np.linspace(1.0, 2.0, 10_000)])
    assert s.ci95_low_ms is None and s.ci95_high_ms is None and s.between_round_cv == 0.0


@pytest.mark.parametrize(("n", "ranks"), [(6, (1, 6)), (10, (2, 9)), (20, (6, 15)), (100, (40, 61))])
def test_median_ci_uses_the_exact_binomial_ranks(n, ranks):
    x = np.arange(1.0, n + 1)
    assert median_ci(x[::-1]) == ranks  # 1-based ranks of the sorted values, input order irrelevant


def test_median_ci_covers_true_median_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        lo, hi = median_ci(rng.exponential(1.0, 60))
        hits += lo <= np.log(2) <= hi
    assert 0.93 <= hits / 400 <= 0.995


def test_too_few_values_have_no_interval_not_their_range():
    assert median_ci(np.array([1.0, 2.0, 3.0])) is None
    assert median_ci(np.arange(5.0)) is None


@pytest.mark.parametrize("bad", [[], [[]], [[1.0, float("nan")]], [[1.0, float("inf")]], [[0.0, 1.0]], [[-1.0]]])
def test_impossible_samples_are_an_error(bad):
    with pytest.raises(DevbenchError):
        summarize(bad)


def test_rounds_that_disagree_or_ran_beside_load_are_unstable():
    steady = summarize([[1.0, 1.01], [1.0, 1.02], [1.01, 1.0]])
    assert instability(steady, [{"other_cpu_cores": 0.01, "steal_frac": 0.0}] * 3) == ""
    assert "other processes" in instability(steady, [{"other_cpu_cores": 0.9}] * 3)
    assert "stole" in instability(steady, [{"steal_frac": 0.2}] * 3)
    jumpy = summarize([[1.0], [1.0 + 3 * UNSTABLE_CV], [1.0 - 3 * UNSTABLE_CV]])
    assert "rounds disagree" in instability(jumpy, [])


def test_paired_ratio_verdicts_on_known_numbers():
    base = np.array([1.0, 1.3, 0.9, 1.1, 1.6, 1.0, 1.2, 0.95, 1.05, 1.4])  # a noisy board: rounds differ a lot
    faster = paired_ratio(base * 0.8 * (1 + 0.005 * np.sin(np.arange(10))), base)
    assert faster.verdict == "faster" and faster.ratio == pytest.approx(0.8, abs=0.005)
    assert faster.ci_low <= faster.ratio <= faster.ci_high < 1
    assert paired_ratio(base * 1.25, base).verdict == "slower"
    same = paired_ratio(base * (1 + 0.01 * np.cos(np.arange(10))), base)
    assert same.verdict == "same" and same.ci_low <= 1.0 <= same.ci_high + 0.01
    assert paired_ratio(base * 0.99, base).verdict == "same"  # inside the 2% margin
    assert paired_ratio(base * 0.5, base, unstable=True).verdict == "unstable"
    few = paired_ratio(base[:3] * 0.5, base[:3])
    assert few.verdict == "unstable" and few.ci_low is None  # 3 rounds: no interval, no confident verdict
