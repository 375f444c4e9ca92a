"""The experiment's figures, drawn from its two tables (:mod:`devbench.experiment.tables`).

* ``error_vs_params``: test error (%) against parameters, one panel per base network, one series per
  arm (the base network, the pruned one, the three reduced variants, scratch and family). Each point is
  one architecture: the mean test error over its seeds, with error bars of one sample standard deviation
  over the seeds (none when there is a single seed), as in the paper's figures. A single seed's error
  differs from another's by as much as the arms differ from each other, so a point without its spread
  would invite reading noise as a finding; the mean and the spread say how far apart two arms really are.
* ``latency_vs_params``: the median latency of the first seed's networks against parameters, one panel
  per (target, backend), bars the 95% confidence interval of the median. A pruned network keeps the
  parameters it was pruned to, but not necessarily the speed a network built that small has: this is the
  paper's claim that a smaller network is faster than a pruned one of the same size.
* ``error_vs_latency``: the mean test error over seeds (bars ± std) of each timed network against its
  median latency (bars its 95% CI), with the Pareto front (the lowest error for a latency budget): which
  arm buys the most accuracy per millisecond on each target.

Colour is the arm (a panel of the first figure is one network, so the family would say nothing), marker
the coarse arm of :data:`devbench.plots.ARM_MARKERS` (the three reduced variants share the square and
differ in colour); both are the same in every figure. Points are never joined by lines: a line between
two architectures suggests a trend that was not measured. An unstable timing is drawn hollow and without
error bars (a tight interval is never shown for a measurement that cannot be trusted), and is never a
vertex of the Pareto front. Networks without a test error are left out.

As in :mod:`devbench.plots`, nothing here touches matplotlib's global state (no pyplot, no
``matplotlib.use``): figures are :class:`~matplotlib.figure.Figure` objects on an explicit Agg canvas.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from devbench.errors import DevbenchError
from devbench.experiment.tables import ARMS, LatencyRow, NetworkRow
from devbench.plots import ARM_MARKERS, MARKER_SIZE, PARETO_LABEL, X_LABELS, _PlainLog, pareto_front

#: one colour per arm, the same in every figure (the reduced variants share a marker, so they need their own)
ARM_COLOURS = {"base": "black", "pruned": "tab:red", "reduced_depth": "tab:blue", "reduced_width": "tab:cyan",
               "reduced_bottleneck": "tab:purple", "scratch": "tab:green", "family": "tab:orange"}
ARM_NAMES = {"reduced_depth": "reduced depth", "reduced_width": "reduced width",
             "reduced_bottleneck": "reduced bottleneck", "family": "family member"}
#: figure names (each written as .png and .svg)
FIGURES = ("error_vs_params", "latency_vs_params", "error_vs_latency")
SUFFIXES = (".png", ".svg")
ERROR_LABEL = "test error (%)"
#: a size axis becomes logarithmic when its values span more than this factor
LOG_SPAN = 10.0


def arm_marker(arm: str) -> str:
    """The marker of :data:`devbench.plots.ARM_MARKERS` for an arm: its coarse arm (reduced_* → reduced)."""
    coarse = "reduced" if arm.startswith("reduced") else arm
    return ARM_MARKERS.get(coarse, ARM_MARKERS[""])


def arm_colour(arm: str) -> str:
    return ARM_COLOURS.get(arm, "tab:gray")


def arm_name(arm: str) -> str:
    return ARM_NAMES.get(arm, arm or "unknown arm")


def _arm_order(arm: str) -> tuple[int, str]:
    return (ARMS.index(arm) if arm in ARMS else len(ARMS), arm)


@dataclass(frozen=True)
class SeedSummary:
    """One architecture (network, budget, arm) over its seeds: mean and sample std of its test error in %."""

    network: str
    family: str
    budget: str
    arm: str
    params: int
    mean_error: float  # percent
    std_error: float | None  # percent, sample std over seeds; None for a single seed
    seeds: int


def summarize(networks: Sequence[NetworkRow]) -> list[SeedSummary]:
    """Rows grouped by (network, budget, arm), those without a test error left out; in table order."""
    groups: dict[tuple[str, str, str], list[NetworkRow]] = defaultdict(list)
    for r in networks:
        if r.test_error is not None:
            groups[(r.network, r.budget, r.arm)].append(r)
    out = []
    for (network, budget, arm), rows in groups.items():
        errors = [100 * r.test_error for r in rows]
        out.append(SeedSummary(network=network, family=rows[0].family, budget=budget, arm=arm,
                               params=round(statistics.fmean(r.params for r in rows)),
                               mean_error=statistics.fmean(errors),
                               std_error=statistics.stdev(errors) if len(errors) > 1 else None, seeds=len(rows)))
    return out


@dataclass(frozen=True, order=True)
class LatencyPanel:
    """One (target, backend): real targets sort before emulated ones."""

    emulated: bool
    target: str
    backend: str

    @classmethod
    def of(cls, r: LatencyRow) -> LatencyPanel:
        return cls(r.emulated, r.target, r.backend)

    @property
    def title(self) -> str:
        return f"{self.target}{' (emulated)' if self.emulated else ''} · {self.backend}"


@dataclass(frozen=True)
class ErrorLatencyPoint:
    """A timed network with its mean error over seeds: one point of ``error_vs_latency``."""

    timing: LatencyRow
    error: SeedSummary


def error_latency_points(networks: Sequence[NetworkRow],
                         latency: Sequence[LatencyRow]) -> dict[LatencyPanel, list[ErrorLatencyPoint]]:
    """Each timing with a median joined (by network, budget, arm) to its network's mean error, by panel;
    a timing whose network has no test error is left out."""
    errors = {(s.network, s.budget, s.arm): s for s in summarize(networks)}
    out: dict[LatencyPanel, list[ErrorLatencyPoint]] = defaultdict(list)
    for t in latency:
        s = errors.get((t.network, t.budget, t.arm))
        if s is not None and t.median_ms is not None and t.median_ms > 0:
            out[LatencyPanel.of(t)].append(ErrorLatencyPoint(t, s))
    return dict(sorted(out.items()))


def _timed(latency: Sequence[LatencyRow]) -> list[LatencyRow]:
    return [r for r in latency if r.median_ms is not None and r.median_ms > 0]


def _new_figure(panels: int, legend_entries: int) -> tuple[Figure, list[Axes]]:
    cols = 2 if panels in (2, 4) else min(panels, 3)
    lines = math.ceil(panels / cols)
    legend_cols = min(legend_entries, 3)
    height = 3.1 * lines + 0.9 + 0.2 * math.ceil(legend_entries / max(legend_cols, 1))
    fig = Figure(figsize=(max(3.6 * cols + 0.4, 7.0), height), dpi=150, layout="constrained")
    FigureCanvasAgg(fig)  # files only: an explicit Agg canvas, matplotlib's global backend untouched
    return fig, [fig.add_subplot(lines, cols, i + 1) for i in range(panels)]


def _scale(ax: Axes, which: str, values: Sequence[float]) -> None:
    """Logarithmic when the values span more than :data:`LOG_SPAN`, else linear (with few enough ticks
    that a narrow range's long labels do not run into each other)."""
    positive = [v for v in values if v > 0]
    axis = ax.xaxis if which == "x" else ax.yaxis
    if not positive or max(positive) <= LOG_SPAN * min(positive):
        axis.set_major_locator(MaxNLocator(nbins=5))
    else:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_formatter(_PlainLog())
        axis.set_minor_formatter(_PlainLog(minor_thresholds=(2, 0.5)))


def _decorate(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=8)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(True, which="both", alpha=0.25, linewidth=0.5)


def _handles(arms: set[str], hollow: bool = False, pareto: bool = False) -> list[Line2D]:
    handles = [Line2D([], [], linestyle="none", marker=arm_marker(a), markersize=MARKER_SIZE, color=arm_colour(a),
                      label=arm_name(a)) for a in sorted(arms, key=_arm_order)]
    if hollow:
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=MARKER_SIZE, color="0.3",
                              markerfacecolor="none", label="hollow: unstable timing (no CI)"))
    if pareto:
        handles.append(Line2D([], [], color="0.45", linestyle="--", linewidth=0.9, label=PARETO_LABEL))
    return handles


def _finish(fig: Figure, title: str, handles: list[Line2D]) -> Figure:
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    return fig


def _errorbar(ax: Axes, arm: str, xs: Sequence[float], ys: Sequence[float],
              yerr: Sequence[Sequence[float]] | None, xerr: Sequence[Sequence[float]] | None = None) -> None:
    """One arm's points, unjoined, with error bars where given (NaN: no bar for that point)."""
    has = [e is not None and any(not math.isnan(v) for v in e[0]) for e in (yerr, xerr)]
    ax.errorbar(xs, ys, yerr=yerr if has[0] else None, xerr=xerr if has[1] else None, linestyle="none",
                marker=arm_marker(arm), markersize=MARKER_SIZE, color=arm_colour(arm), ecolor=arm_colour(arm),
                elinewidth=0.8, capsize=2, label=arm_name(arm), zorder=3)


def _hollow(ax: Axes, arm: str, xs: Sequence[float], ys: Sequence[float]) -> None:
    ax.plot(xs, ys, linestyle="none", marker=arm_marker(arm), markersize=MARKER_SIZE, color=arm_colour(arm),
            markerfacecolor="none", markeredgewidth=1.0, label=f"{arm_name(arm)} (unstable)", zorder=3)


def _ci(rows: Sequence[LatencyRow]) -> list[list[float]]:
    """Asymmetric half-lengths of the median's 95% CI (NaN where there is none)."""
    low = [r.median_ms - r.ci95_low_ms if r.ci95_low_ms is not None else math.nan for r in rows]
    high = [r.ci95_high_ms - r.median_ms if r.ci95_high_ms is not None else math.nan for r in rows]
    return [[max(v, 0.0) for v in low], [max(v, 0.0) for v in high]]


def _std(points: Sequence[SeedSummary]) -> list[list[float]]:
    half = [math.nan if s.std_error is None else s.std_error for s in points]
    return [half, half]


def _seed_counts(summaries: Sequence[SeedSummary]) -> str:
    counts = sorted({s.seeds for s in summaries})
    return "/".join(map(str, counts)) + (" seed" if counts == [1] else " seeds")


def error_vs_params_figure(networks: Sequence[NetworkRow]) -> Figure:
    """Test error (%) against parameters: a panel per base network, a series per arm; mean over seeds ± std."""
    summaries = summarize(networks)
    if not summaries:
        raise DevbenchError("no network has a test error: nothing to plot")
    by_network: dict[str, list[SeedSummary]] = defaultdict(list)
    for s in summaries:
        by_network[s.network].append(s)
    fig, axes = _new_figure(len(by_network), len({s.arm for s in summaries}))
    for ax, (network, items) in zip(axes, by_network.items(), strict=True):
        by_arm: dict[str, list[SeedSummary]] = defaultdict(list)
        for s in sorted(items, key=lambda s: s.params):
            by_arm[s.arm].append(s)
        for arm in sorted(by_arm, key=_arm_order):
            points = by_arm[arm]
            _errorbar(ax, arm, [s.params / 1e6 for s in points], [s.mean_error for s in points], _std(points))
        _scale(ax, "x", [s.params for s in items])
        _decorate(ax, f"{network} ({items[0].family})", X_LABELS["params"], ERROR_LABEL)
    title = (f"Test error vs parameters: mean over seeds ({_seed_counts(summaries)}), "
             "bars ± 1 std over seeds")
    return _finish(fig, title, _handles({s.arm for s in summaries}))


def latency_vs_params_figure(latency: Sequence[LatencyRow]) -> Figure:
    """Median latency against parameters: a panel per (target, backend), a series per arm, bars its 95% CI;
    unstable timings hollow, without bars."""
    rows = _timed(latency)
    if not rows:
        raise DevbenchError("no timing has a median: nothing to plot")
    panels: dict[LatencyPanel, list[LatencyRow]] = defaultdict(list)
    for r in rows:
        panels[LatencyPanel.of(r)].append(r)
    hollow = any(r.unstable for r in rows)
    arms = {r.arm for r in rows}
    fig, axes = _new_figure(len(panels), len(arms) + hollow)
    for ax, (panel, items) in zip(axes, sorted(panels.items()), strict=True):
        by_arm: dict[str, list[LatencyRow]] = defaultdict(list)
        for r in sorted(items, key=lambda r: r.params):
            by_arm[r.arm].append(r)
        for arm in sorted(by_arm, key=_arm_order):
            steady = [r for r in by_arm[arm] if not r.unstable]
            shaky = [r for r in by_arm[arm] if r.unstable]
            if steady:
                _errorbar(ax, arm, [r.params / 1e6 for r in steady], [r.median_ms for r in steady], _ci(steady))
            if shaky:
                _hollow(ax, arm, [r.params / 1e6 for r in shaky], [r.median_ms for r in shaky])
        _scale(ax, "x", [r.params for r in items])
        _scale(ax, "y", [r.median_ms for r in items])
        _decorate(ax, panel.title, X_LABELS["params"], "median latency (ms), bars: 95% CI")
    return _finish(fig, "Median latency vs parameters (first seed's networks)", _handles(arms, hollow))


def error_vs_latency_figure(networks: Sequence[NetworkRow], latency: Sequence[LatencyRow]) -> Figure:
    """Mean test error over seeds (± std) against median latency (95% CI): a panel per (target, backend),
    a series per arm, and the Pareto front of the stable timings as a step line."""
    panels = error_latency_points(networks, latency)
    if not panels:
        raise DevbenchError("no timed network has a test error: nothing to plot")
    everything = [p for points in panels.values() for p in points]
    hollow = any(p.timing.unstable for p in everything)
    arms = {p.timing.arm for p in everything}
    fig, axes = _new_figure(len(panels), len(arms) + hollow + 1)
    drew_front = False
    for ax, (panel, points) in zip(axes, panels.items(), strict=True):
        by_arm: dict[str, list[ErrorLatencyPoint]] = defaultdict(list)
        for p in sorted(points, key=lambda p: p.timing.median_ms or 0.0):
            by_arm[p.timing.arm].append(p)
        for arm in sorted(by_arm, key=_arm_order):
            steady = [p for p in by_arm[arm] if not p.timing.unstable]
            shaky = [p for p in by_arm[arm] if p.timing.unstable]
            if steady:
                ci = _ci([p.timing for p in steady])
                _errorbar(ax, arm, [p.timing.median_ms for p in steady], [p.error.mean_error for p in steady],
                          _std([p.error for p in steady]), ci)
            if shaky:
                _hollow(ax, arm, [p.timing.median_ms for p in shaky], [p.error.mean_error for p in shaky])
        # an unstable latency cannot say which network is on the front: drawn, but not a vertex
        steady_xy = [(p.timing.median_ms, p.error.mean_error) for p in points if not p.timing.unstable]
        front = [steady_xy[i] for i in pareto_front(steady_xy)]
        if front:
            drew_front = True
            xs, ys = zip(*front, strict=True)
            ax.step(xs, ys, where="post", color="0.45", linestyle="--", linewidth=0.9, zorder=1, label=PARETO_LABEL)
        _scale(ax, "x", [p.timing.median_ms for p in points])
        _decorate(ax, panel.title, "median latency (ms), bars: 95% CI", f"{ERROR_LABEL}, mean ± std over seeds")
    title = f"Test error vs median latency: mean over seeds ({_seed_counts([p.error for p in everything])})"
    return _finish(fig, title, _handles(arms, hollow, pareto=drew_front))


def _save(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    paths = []
    for suffix in SUFFIXES:
        path = out_dir / f"{name}{suffix}"
        fig.savefig(path, dpi=200 if suffix == ".png" else "figure")
        paths.append(path)
    return paths


def write_figures(networks: Sequence[NetworkRow], latency: Sequence[LatencyRow], out_dir: Path) -> list[Path]:
    """Each figure with something to show as ``<name>.png`` and ``<name>.svg`` in ``out_dir`` (created if
    missing): ``error_vs_params`` when a network has a test error, ``latency_vs_params`` when a timing has a
    median, ``error_vs_latency`` when a timed network has a test error. Returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if summarize(networks):
        written += _save(error_vs_params_figure(networks), out_dir, "error_vs_params")
    if _timed(latency):
        written += _save(latency_vs_params_figure(latency), out_dir, "latency_vs_params")
        if error_latency_points(networks, latency):
            written += _save(error_vs_latency_figure(networks, latency), out_dir, "error_vs_latency")
    return written
