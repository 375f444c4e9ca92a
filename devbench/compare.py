"""``devbench compare``: is network B really faster than network A on this board and backend?

The first model is the baseline. All models are measured in the same interleaved rounds (see
:func:`devbench.bench.run_jobs`), so each round gives one paired ratio per model; the answer is
the median ratio, its exact 95% interval over rounds, and a verdict that says ``unstable`` rather
than guess when the rounds disagree or the board was busy (:func:`devbench.stats.paired_ratio`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from devbench.errors import DevbenchError
from devbench.results import ResultRow, ResultStore
from devbench.stats import paired_ratio


@dataclass(frozen=True)
class Comparison:
    """One model against the baseline on one target and backend."""

    model: str
    baseline: str
    target: str
    backend: str
    ratio: float | None
    ratio_ci_low: float | None
    ratio_ci_high: float | None
    rounds: int
    verdict: str  # faster, slower, same, unstable, or error
    median_ms: float | None
    baseline_median_ms: float | None
    params: int | None
    macs: int | None
    test_error: float | None
    baseline_test_error: float | None
    emulated: bool
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def comparisons(rows: Sequence[ResultRow], baseline: str) -> list[Comparison]:
    """Pair every model's row with the baseline's row of the same target and backend."""
    by_key = {(r.model, r.target, r.backend): r for r in rows}
    out = []
    for r in rows:
        if r.model == baseline:
            continue
        base = by_key.get((baseline, r.target, r.backend))
        if base is None:
            continue
        failed = [x for x in (r, base) if x.status != "ok"]
        common = dict(model=r.model, baseline=baseline, target=r.target, backend=r.backend, median_ms=r.median_ms,
                      baseline_median_ms=base.median_ms, params=r.params, macs=r.macs, test_error=r.test_error,
                      baseline_test_error=base.test_error, emulated=r.emulated)
        if failed:
            why = "; ".join(f"{x.model}: {x.error or 'output check failed'}" for x in failed)
            out.append(Comparison(ratio=None, ratio_ci_low=None, ratio_ci_high=None, rounds=0, verdict="error",
                                  why=why, **common))
            continue
        if len(r.round_medians_ms) != len(base.round_medians_ms):
            raise DevbenchError(f"{r.model} and {baseline} were not measured in the same rounds")
        why = "; ".join(f"{x.model}: {x.unstable}" for x in (r, base) if x.unstable)
        ratio = paired_ratio(r.round_medians_ms, base.round_medians_ms, unstable=bool(why))
        if ratio.ci_low is None:
            why = why or f"{ratio.rounds} rounds give no 95% interval (--rounds 6 or more)"
        out.append(Comparison(ratio=ratio.ratio, ratio_ci_low=ratio.ci_low, ratio_ci_high=ratio.ci_high,
                              rounds=ratio.rounds, verdict=ratio.verdict, why=why, **common))
    return out


def compare(models: list[str], targets: Sequence[str] = ("local",), backends: Sequence[str] = ("best",),
            settings: Any = None, store: ResultStore | None = None, targets_files: Sequence[str] = (),
            threads: int | None = None, trust_new_host: bool = False,
            progress: bool = True) -> tuple[list[Comparison], list[ResultRow]]:
    """Measure ``models`` side by side (the first is the baseline); the comparisons and the rows.
    ``settings`` is a :class:`~devbench.bench.MeasureSettings`; without a ``store`` nothing is kept."""
    from devbench.bench import run_matrix

    if len(models) < 2:
        raise DevbenchError("compare needs at least two models: the baseline first, then the others")
    rows = run_matrix(models, list(targets), list(backends), settings, store, targets_files=list(targets_files),
                      threads=threads, trust_new_host=trust_new_host, progress=progress)
    return comparisons(rows, models[0]), rows
