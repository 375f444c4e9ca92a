"""The paper's three claims judged from plain numbers: paired differences over seeds and latency ratios.

Errors are compared *paired by seed*: the pruned and the reduced network of one seed share the base
network's training data order and initialisation seed, so the difference within a seed removes much of
what varies between seeds. The 95% interval of the mean paired difference is Student's t interval over
seeds (``mean +/- t(0.975, n-1) * sd / sqrt(n)``); one seed gives no interval, and no interval is never
evidence. Each piece of evidence gets a verdict, ``supported``, ``not supported`` (the data contradict
the claim) or ``inconclusive``, and a reason in words, so a report can be honest when the data do not
back the paper:

1. *reduced beats pruned*: pruned error minus reduced error, supported when its whole interval is above 0;
2. *scratch is competitive*: scratch (or family member) error minus pruned error, supported when the
   interval lies below :data:`SCRATCH_MARGIN` (one point of error: "competitive" means at most that much
   worse), not supported when it lies wholly above it;
3. *reduced is faster*: the reduced network's latency over the pruned one's (``devbench compare``'s
   paired ratio), supported when every interval on a real board lies below 1. Emulated boards are
   reported but never counted: their latency is an emulator's.

Across budgets (or boards) a claim is supported when every counted piece supports it, not supported
when any piece contradicts it, inconclusive otherwise (:func:`overall`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats as sstats

from devbench.errors import DevbenchError

CONFIDENCE = 0.95
#: "competitive": the pruned architecture from scratch may be this much worse (a fraction: 1 point of error)
SCRATCH_MARGIN = 0.01
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
CLAIMS = {
    "reduced_beats_pruned": "Reduced networks have lower test error than pruned networks of the same parameter count",
    "scratch_competitive": "The pruned architecture (and its family) trained from scratch is competitive with the "
                           f"pruned network (at most {SCRATCH_MARGIN * 100:g} point worse)",
    "reduced_faster": "Reduced networks run faster than pruned networks of the same size",
}


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` values and its two-sided t interval (``None`` bounds with one value); for a
    latency ratio, the median ratio over ``n`` rounds and its order-statistic interval."""

    mean: float
    low: float | None
    high: float | None
    n: int


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Student's t interval of the mean of ``values`` (seeds are few, so t, not the normal)."""
    x = [float(v) for v in values]
    if not x or not all(math.isfinite(v) for v in x):
        raise DevbenchError(f"cannot take an interval of {values!r}: it needs finite numbers")
    n, mean = len(x), sum(x) / len(x)
    if n == 1:
        return Interval(mean, None, None, 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in x) / (n - 1))
    half = float(sstats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> list[float]:
    """``a[seed] - b[seed]`` for every seed, in seed order; both sides must have the same seeds."""
    if set(a) != set(b) or not a:
        raise DevbenchError(f"paired differences need the same seeds on both sides (got {sorted(a)} and {sorted(b)})")
    return [a[s] - b[s] for s in sorted(a)]


@dataclass(frozen=True)
class Evidence:
    """One comparison's verdict on a claim, with the interval it rests on and the reason in words."""

    claim: str
    subject: str  # what was compared: "118k params, reduced_bottleneck" or "pi4 / tvm"
    verdict: str
    reason: str
    interval: Interval | None = None
    #: False for what is reported but not counted (an emulated board)
    counted: bool = True

    def as_dict(self) -> dict[str, Any]:
        iv = self.interval
        return {"claim": self.claim, "subject": self.subject, "verdict": self.verdict, "reason": self.reason,
                "mean": None if iv is None else iv.mean, "ci_low": None if iv is None else iv.low,
                "ci_high": None if iv is None else iv.high, "n": None if iv is None else iv.n,
                "counted": self.counted}


def _points(x: float) -> str:
    return f"{x * 100:+.2f}"


def _ci(iv: Interval) -> str:
    return f"95% CI {_points(iv.low)} to {_points(iv.high)} points, {iv.n} seeds"


def judge_reduced(pruned: Mapping[int, float], reduced: Mapping[int, float], subject: str) -> Evidence:
    """Claim 1 at one budget: test errors by seed of the pruned and a reduced network of its size."""
    iv = t_interval(paired_differences(pruned, reduced))
    claim = "reduced_beats_pruned"
    if iv.low is None:
        return Evidence(claim, subject, INCONCLUSIVE, f"one seed gives no interval (pruned minus reduced error "
                                                      f"{_points(iv.mean)} points)", iv)
    if iv.low > 0:
        return Evidence(claim, subject, SUPPORTED, f"reduced error is lower by {iv.mean * 100:.2f} points ({_ci(iv)})",
                        iv)
    if iv.high < 0:
        return Evidence(claim, subject, NOT_SUPPORTED, f"reduced error is higher by {-iv.mean * 100:.2f} points "
                                                       f"({_ci(iv)}): the data contradict the claim", iv)
    return Evidence(claim, subject, INCONCLUSIVE, f"the interval of pruned minus reduced error contains 0 ({_ci(iv)})",
                    iv)


def judge_scratch(pruned: Mapping[int, float], scratch: Mapping[int, float], subject: str,
                  margin: float = SCRATCH_MARGIN) -> Evidence:
    """Claim 2 at one budget: the pruned network's errors by seed against its architecture's (or its
    family member's) trained from scratch."""
    iv = t_interval(paired_differences(scratch, pruned))
    claim, within = "scratch_competitive", f"{margin * 100:g} point margin"
    if iv.low is None:
        return Evidence(claim, subject, INCONCLUSIVE, f"one seed gives no interval (scratch minus pruned error "
                                                      f"{_points(iv.mean)} points)", iv)
    if iv.high <= 0:
        return Evidence(claim, subject, SUPPORTED, f"from scratch it is better, by {-iv.mean * 100:.2f} points "
                                                   f"({_ci(iv)})", iv)
    if iv.high <= margin:
        return Evidence(claim, subject, SUPPORTED, f"from scratch it is at most {iv.high * 100:.2f} points worse, "
                                                   f"within the {within} ({_ci(iv)})", iv)
    if iv.low > margin:
        return Evidence(claim, subject, NOT_SUPPORTED, f"from scratch it is worse by more than the {within} "
                                                       f"({_ci(iv)})", iv)
    return Evidence(claim, subject, INCONCLUSIVE, f"the interval of scratch minus pruned error contains the {within} "
                                                  f"({_ci(iv)})", iv)


@dataclass(frozen=True)
class LatencyRatio:
    """A reduced network's latency over the pruned one's on one target and backend (``devbench compare``)."""

    target: str
    backend: str
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    emulated: bool = False
    unstable: str = ""  # why the measurement cannot be trusted; empty when it can
    rounds: int = 0

    @classmethod
    def from_comparison(cls, c: Any) -> LatencyRatio:
        """From a :class:`devbench.compare.Comparison` whose baseline is the pruned network."""
        doubt = (c.why or c.verdict) if c.verdict in ("unstable", "error") else ""
        return cls(c.target, c.backend, c.ratio, c.ratio_ci_low, c.ratio_ci_high, c.emulated, doubt, c.rounds)


def judge_latency(ratios: Sequence[LatencyRatio], subject: str = "") -> list[Evidence]:
    """Claim 3 for one pair of networks: one piece of evidence per target and backend."""
    out = []
    for r in ratios:
        where = f"{subject}: {r.target} / {r.backend}" if subject else f"{r.target} / {r.backend}"
        interval = None if r.ratio is None else Interval(r.ratio, r.ci_low, r.ci_high, r.rounds)
        verdict, reason = _latency_verdict(r)
        if r.emulated:
            reason += "; an emulated board: reported, not counted"
        out.append(Evidence("reduced_faster", where, verdict, reason, interval, counted=not r.emulated))
    return out


def _latency_verdict(r: LatencyRatio) -> tuple[str, str]:
    if r.unstable or r.ratio is None:
        return INCONCLUSIVE, f"the measurement cannot be trusted ({r.unstable or 'no ratio'})"
    if r.ci_low is None or r.ci_high is None:
        return INCONCLUSIVE, f"{r.ratio:.3f}x the pruned latency, but too few rounds for an interval"
    ci = f"{r.ratio:.3f}x the pruned latency (95% CI {r.ci_low:.3f}-{r.ci_high:.3f})"
    if r.ci_high < 1:
        return SUPPORTED, ci
    if r.ci_low > 1:
        return NOT_SUPPORTED, f"{ci}: the reduced network is slower"
    return INCONCLUSIVE, f"{ci}: the interval contains 1"


def overall(evidence: Sequence[Evidence]) -> tuple[str, str]:
    """One verdict for a claim from all its counted evidence, and why."""
    counted = [e for e in evidence if e.counted]
    if not counted:
        return INCONCLUSIVE, "nothing counted (no comparison, or only emulated boards)"
    against = [e.subject for e in counted if e.verdict == NOT_SUPPORTED]
    if against:
        return NOT_SUPPORTED, f"contradicted at {', '.join(against)}"
    open_ = [e.subject for e in counted if e.verdict == INCONCLUSIVE]
    if open_:
        return INCONCLUSIVE, f"{len(counted) - len(open_)} of {len(counted)} comparisons support it; " \
                             f"inconclusive at {', '.join(open_)}"
    return SUPPORTED, f"all {len(counted)} comparisons support it"
