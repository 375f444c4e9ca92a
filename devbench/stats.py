"""Latency samples -> the statistics a paper table needs.

The median is the headline (robust to the odd preempted run); the spread is reported as std, IQR,
p90/p99 and a distribution-free 95% confidence interval of the median from order statistics, so a
reader can tell a real difference from noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from devbench.errors import DevbenchError


@dataclass(frozen=True)
class Summary:
    """Statistics of one set of latency samples, all in milliseconds."""

    n: int
    median_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    p90_ms: float
    p99_ms: float
    iqr_ms: float
    ci95_low_ms: float
    ci95_high_ms: float

    @property
    def cv(self) -> float:
        """Coefficient of variation (std / mean)."""
        return self.std_ms / self.mean_ms if self.mean_ms else 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def median_ci(sorted_samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (binomial order statistics).

    The ranks are ``n/2 -/+ z*sqrt(n)/2``; with fewer than 6 samples no interval at that level
    exists, so the full range is returned.
    """
    n = len(sorted_samples)
    z = {0.90: 1.6449, 0.95: 1.96, 0.99: 2.5758}[confidence]
    half = z * math.sqrt(n) / 2.0
    lo = int(math.floor(n / 2.0 - half))
    hi = int(math.ceil(n / 2.0 + half))
    if lo < 0 or hi > n - 1:
        return float(sorted_samples[0]), float(sorted_samples[-1])
    return float(sorted_samples[lo]), float(sorted_samples[hi])


def summarize(samples_ms: list[float] | np.ndarray) -> Summary:
    """Summarise latency samples; an empty list is a user-facing error (nothing was measured)."""
    x = np.sort(np.asarray(samples_ms, dtype=np.float64))
    if x.size == 0:
        raise DevbenchError("no latency samples to summarise")
    q25, q50, q75, q90, q99 = np.percentile(x, [25, 50, 75, 90, 99])
    lo, hi = median_ci(x)
    return Summary(
        n=int(x.size),
        median_ms=float(q50),
        mean_ms=float(x.mean()),
        std_ms=float(x.std(ddof=1)) if x.size > 1 else 0.0,
        min_ms=float(x[0]),
        max_ms=float(x[-1]),
        p90_ms=float(q90),
        p99_ms=float(q99),
        iqr_ms=float(q75 - q25),
        ci95_low_ms=lo,
        ci95_high_ms=hi,
    )
