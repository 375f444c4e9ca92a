import numpy as np
import pytest

from devbench.errors import DevbenchError
from devbench.stats import median_ci, summarize


def test_summary_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.lognormal(0, 0.3, 501)
    s = summarize(x)
    assert s.n == 501
    assert s.median_ms == pytest.approx(np.median(x))
    assert s.mean_ms == pytest.approx(x.mean())
    assert s.std_ms == pytest.approx(x.std(ddof=1))
    assert s.p90_ms == pytest.approx(np.percentile(x, 90))
    assert s.iqr_ms == pytest.approx(np.percentile(x, 75) - np.percentile(x, 25))
    assert s.min_ms == x.min() and s.max_ms == x.max()
    assert s.ci95_low_ms <= s.median_ms <= s.ci95_high_ms


def test_median_ci_covers_true_median_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        lo, hi = median_ci(np.sort(rng.exponential(1.0, 60)))
        hits += lo <= np.log(2) <= hi
    assert 0.91 <= hits / 400 <= 0.99


def test_small_samples_fall_back_to_range():
    assert median_ci(np.array([1.0, 2.0, 3.0])) == (1.0, 3.0)


def test_empty_samples_are_an_error():
    with pytest.raises(DevbenchError):
        summarize([])
