"""Latency samples in rounds -> the statistics a paper table needs, and a verdict between two rows.

Samples from one process are correlated: they share its memory placement, its core, the minute's
background load and frequency. So the unit of evidence is a *round* (one fresh runner process):
a row's headline is the median of its round medians, and its 95% confidence interval comes from
the spread *between* rounds (exact distribution-free interval of the median from order statistics,
as pyperf and hyperfine report spread across processes, not within one). Two networks measured in
the same interleaved rounds are compared by the per-round ratio of their medians, which cancels what
the round shared (a busy minute slows both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sstats

from devbench.errors import DevbenchError

#: a row whose round medians vary more than this (coefficient of variation) is ``unstable``
UNSTABLE_CV = 0.05
#: ... or whose rounds ran beside other processes using this many cores on average
OTHER_LOAD_CORES = 0.25
#: ... or lost this much of its CPU time to the hypervisor
STEAL_FRACTION = 0.05
#: two latencies whose ratio lies within 1 +/- this margin are called ``same`` (2%)
SAME_MARGIN = 0.02
#: the fewest rounds that give a 95% interval of a median at all (with 5, min..max covers 94%)
MIN_ROUNDS_FOR_CI = 6


def median_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Exact distribution-free confidence interval of the median from order statistics.

    The interval [x_(k), x_(n-k+1)] covers the median with probability 1 - 2 P(Bin(n, 1/2) < k);
    ``k`` is the largest rank that keeps the coverage at least ``confidence``. With too few values
    for that coverage (fewer than 6 at 95%) there is no interval: ``None``, never min..max.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    alpha = 1.0 - confidence
    # binom.ppf: the smallest k with P(X <= k) >= alpha/2, so P(X < k) < alpha/2 on each side
    k = int(sstats.binom.ppf(alpha / 2.0, n, 0.5)) if n else 0
    if k < 1:
        return None
    return float(x[k - 1]), float(x[n - k])


@dataclass(frozen=True)
class Summary:
    """Statistics of one row's samples, all in milliseconds. ``median_ms`` and the interval come
    from the round medians; the percentiles and std describe all samples pooled."""

    n: int
    rounds: int
    median_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p90_ms: float
    p99_ms: float
    iqr_ms: float
    ci95_low_ms: float | None
    ci95_high_ms: float | None
    #: coefficient of variation of the round medians (0 with one round)
    between_round_cv: float
    round_medians_ms: tuple[float, ...]


def check_samples(samples_ms: Sequence[float]) -> np.ndarray:
    """Samples as an array, refusing what no measurement can produce (empty, NaN, inf, <= 0)."""
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise DevbenchError("no latency samples to summarise")
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        bad = x[~np.isfinite(x) | (x <= 0)][0]
        raise DevbenchError(f"impossible latency sample {bad!r} ms (every sample must be finite and positive)")
    return x


def summarize(rounds_ms: Sequence[Sequence[float]]) -> Summary:
    """Summarise the samples of each round (one list per round, at least one round)."""
    if not rounds_ms:
        raise DevbenchError("no latency samples to summarise")
    per_round = [check_samples(r) for r in rounds_ms]
    medians = np.array([float(np.median(r)) for r in per_round])
    pooled = np.sort(np.concatenate(per_round))
    q25, q75, q90, q99 = np.percentile(pooled, [25, 75, 90, 99])
    ci = median_ci(medians)
    return Summary(
        n=int(pooled.size),
        rounds=len(per_round),
        median_ms=float(np.median(medians)),
        mean_ms=float(pooled.mean()),
        std_ms=float(pooled.std(ddof=1)) if pooled.size > 1 else 0.0,
        min_ms=float(pooled[0]),
        max_ms=float(pooled[-1]),
        p90_ms=float(q90),
        p99_ms=float(q99),
        iqr_ms=float(q75 - q25),
        ci95_low_ms=None if ci is None else ci[0],
        ci95_high_ms=None if ci is None else ci[1],
        between_round_cv=float(medians.std(ddof=1) / medians.mean()) if medians.size > 1 else 0.0,
        round_medians_ms=tuple(float(m) for m in medians),
    )


def instability(summary: Summary, conditions: Sequence[dict[str, object]]) -> str:
    """Why a row cannot be trusted, in a few words; empty when it can.

    ``conditions`` are the runner's per-round reports (other processes' CPU use, steal).
    """
    reasons = []
    if summary.between_round_cv > UNSTABLE_CV:
        reasons.append(f"rounds disagree (CV {summary.between_round_cv:.1%} > {UNSTABLE_CV:.0%})")
    loads = [c.get("other_cpu_cores") for c in conditions]
    loads = [float(v) for v in loads if isinstance(v, int | float)]
    if loads and float(np.median(loads)) > OTHER_LOAD_CORES:
        reasons.append(f"other processes used {np.median(loads):.2f} cores")
    steals = [float(v) for c in conditions if isinstance(v := c.get("steal_frac"), int | float)]
    if steals and float(np.median(steals)) > STEAL_FRACTION:
        reasons.append(f"hypervisor stole {np.median(steals):.0%} of the CPU")
    return "; ".join(reasons)


@dataclass(frozen=True)
class Ratio:
    """Latency of a model over its baseline's, from rounds in which both were measured."""

    ratio: float
    ci_low: float | None
    ci_high: float | None
    rounds: int
    verdict: str  # "faster", "slower", "same" or "unstable"


def paired_ratio(model_rounds: Sequence[float], base_rounds: Sequence[float], unstable: bool = False,
                 margin: float = SAME_MARGIN) -> Ratio:
    """Median of the per-round ratios ``model / baseline`` and its exact 95% interval.

    Verdict: ``faster`` (``slower``) when the whole interval lies below (above) 1 and the ratio
    is more than ``margin`` from 1; ``same`` otherwise; ``unstable`` when either row is, or when
    too few rounds give no interval, whatever the numbers say.
    """
    a = np.asarray(model_rounds, dtype=np.float64)
    b = np.asarray(base_rounds, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise DevbenchError(f"paired rounds differ in number ({a.size} vs {b.size})")
    ratios = a / b
    r = float(np.median(ratios))
    ci = median_ci(ratios)
    if unstable or ci is None:
        verdict = "unstable"
    elif ci[1] < 1.0 and r < 1.0 - margin:
        verdict = "faster"
    elif ci[0] > 1.0 and r > 1.0 + margin:
        verdict = "slower"
    else:
        verdict = "same"
    return Ratio(r, None if ci is None else ci[0], None if ci is None else ci[1], int(a.size), verdict)
