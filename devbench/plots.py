"""The paper's figures from result rows: is a pruned network faster than one built smaller?

* :func:`plot_latency`: median latency (95% CI error bars) against parameters or MACs, one panel per
  (target, backend), TVM tuned and untuned in separate panels, emulated boards after real ones.
* :func:`plot_error_vs_size` and :func:`plot_error_vs_latency` (with the :func:`pareto_front`): the
  accuracy side, when the rows know their error.
* :func:`write_figures`: all of them as files, what ``devbench plot`` calls.

Colour is the network family and marker the arm (base, pruned, scratch, reduced, family), both read
from the row's provenance, never guessed from a name. Points are never joined by lines: a line
between two architectures suggests a trend that was not measured. An unstable row is drawn hollow
and without error bar, so a tight interval is never shown for a measurement that cannot be trusted.

Nothing here touches matplotlib's global state (no ``matplotlib.use``, no pyplot): figures are
:class:`~matplotlib.figure.Figure` objects on an explicit Agg canvas, so files can be written on a
headless server and a notebook keeps its own backend, and every function takes an optional
``ax`` to draw into a notebook's axes.
"""

from __future__ import annotations

import math
import textwrap
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import LogFormatter
from matplotlib.transforms import Bbox

from devbench.errors import DevbenchError
from devbench.paths import check_output_file
from devbench.results import ResultRow

#: file formats, chosen by the suffix of the output path
FORMATS = (".png", ".svg", ".pdf")
ARM_MARKERS = {"base": "o", "pruned": "v", "scratch": "D", "reduced": "s", "family": "P", "": "X"}
FAMILY_COLOURS = {"wrn": "tab:blue", "resnet": "tab:orange", "densenet_bc": "tab:green", "": "tab:gray"}
#: families registered later than this module: a colour that depends only on the name (stable across runs)
SPARE_COLOURS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:red")
X_LABELS = {"params": "parameters (M)", "macs": "MACs (M)"}
MARKER_SIZE = 5.5
LABEL_SIZE = 6
PARETO_LABEL = "Pareto front (lowest error for its latency)"
#: what a hollow marker means: its latency has no interval to trust (README: "points without an interval")
HOLLOW = "unstable or no CI"
#: where a point's name may go, nearest first: offset in points from the point, and the text's alignment
_SPOTS = [(dx * k, dy * k, ha, va) for k in (1.0, 2.5) for dx, dy, ha, va in (
    (4, 3, "left", "bottom"), (4, -3, "left", "top"), (-4, 3, "right", "bottom"), (-4, -3, "right", "top"),
    (0, 6, "center", "bottom"), (0, -6, "center", "top"), (6, 0, "left", "center"), (-6, 0, "right", "center"))]


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the (latency, error) points that no other point beats, fastest first: each has a
    lower error than every faster point, so it is the best error at its latency budget."""
    front: list[int] = []
    best = math.inf
    for i in sorted(range(len(points)), key=lambda i: points[i]):
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def check_output(out: str | Path) -> Path:
    """The output path, refused before anything is drawn or created when its format is unknown or
    its directory does not exist (a typo in a directory name must not scatter new folders)."""
    path = Path(out).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise DevbenchError(f"cannot write {path}: the file name must end in {', '.join(FORMATS)}")
    return check_output_file(path, "--out")


def plottable(rows: Sequence[ResultRow], x: str | None = "params") -> list[ResultRow]:
    """The rows a figure can show: measured (``ok``), with a positive median and, unless ``x`` is
    None, a known ``x`` ("params" or "macs")."""
    if x is not None and x not in X_LABELS:
        raise DevbenchError(f"cannot plot against {x!r}: choose one of {', '.join(X_LABELS)}")
    good = [r for r in rows if r.status == "ok" and r.median_ms and r.median_ms > 0 and (x is None or getattr(r, x))]
    if not good:
        size = "" if x is None else f" with {'parameters' if x == 'params' else 'MACs'}"
        raise DevbenchError(f"nothing to plot: no successful measurements{size} match")
    return good


@dataclass(frozen=True, order=True)
class Panel:
    """One (target, backend) pair: real boards sort before emulated ones, and TVM's tuning state is
    part of the backend (a tuned and an untuned build are different programs)."""

    emulated: bool
    target: str
    backend: str
    tuning: str  # "tuned", "untuned" (TVM) or "" (backends that are not tuned)

    @classmethod
    def of(cls, r: ResultRow) -> Panel:
        tuning = "tuned" if r.tuned else "untuned" if r.backend == "tvm" else ""
        return cls(r.emulated, r.target, r.backend, tuning)

    @property
    def target_name(self) -> str:
        return self.target + (" (emulated)" if self.emulated else "")

    @property
    def backend_name(self) -> str:
        return self.backend + (f" ({self.tuning})" if self.tuning else "")

    @property
    def title(self) -> str:
        return f"{self.target_name} · {self.backend_name}"


@dataclass(frozen=True)
class _Point:
    """A drawn point, in data coordinates, with the extent of its error bar (names must avoid both)."""

    x: float
    y: float
    name: str
    y_low: float
    y_high: float


def _colour(family: str) -> str:
    return FAMILY_COLOURS.get(family) or SPARE_COLOURS[sum(family.encode()) % len(SPARE_COLOURS)]


def _series_name(family: str, arm: str) -> str:
    return f"{family or 'unknown family'} {arm or 'unknown arm'}"


def _untrusted(r: ResultRow) -> bool:
    """A latency without a trusted interval: unstable, or too few rounds for one. Drawn hollow, as a
    solid marker with no bar would look like an interval too tight to see."""
    return bool(r.unstable) or r.ci95_low_ms is None or r.ci95_high_ms is None


def _point_name(r: ResultRow, batches: set[int]) -> str:
    """The model's name, with its batch where the panel holds several batches (two points of one
    model would otherwise carry the same name)."""
    return f"{r.model} (batch {r.batch})" if len(batches) > 1 else r.model


def _scatter(ax: Axes, rows: Sequence[ResultRow], xy: Callable[[ResultRow], tuple[float, float]],
             ci: bool, hollow_unstable: bool) -> list[_Point]:
    """One marker series per (family, arm), unjoined; 95% CI bars (``ci``) only for stable rows
    that have an interval, the others hollow (``hollow_unstable``). Returns the points, for the names."""
    series: dict[tuple[str, str], list[ResultRow]] = defaultdict(list)
    for r in rows:
        series[(r.family, r.arm)].append(r)
    batches = {r.batch for r in rows}
    points = []
    for (family, arm), items in sorted(series.items()):
        colour, marker, name = _colour(family), ARM_MARKERS.get(arm, "X"), _series_name(family, arm)
        shaky = [r for r in items if hollow_unstable and _untrusted(r)]
        solid = [r for r in items if r not in shaky]
        for group, face, label in ((solid, colour, name), (shaky, "none", f"{name} ({HOLLOW})")):
            if group:
                xs, ys = zip(*(xy(r) for r in group), strict=True)
                ax.plot(xs, ys, linestyle="none", marker=marker, markersize=MARKER_SIZE, color=colour,
                        markerfacecolor=face, markeredgewidth=1.0, label=label, zorder=3)
        for r in items:
            x, y = xy(r)
            low = high = y
            if ci and r in solid and r.ci95_low_ms is not None and r.ci95_high_ms is not None:
                low, high = min(r.ci95_low_ms, y), max(r.ci95_high_ms, y)
                ax.errorbar([x], [y], yerr=[[y - low], [high - y]], fmt="none", ecolor=colour,
                            elinewidth=0.8, capsize=2, alpha=0.8, zorder=2)
            points.append(_Point(x, y, _point_name(r, batches), low, high))
    return points


def _legend_handles(rows: Sequence[ResultRow], hollow_unstable: bool) -> list[Line2D]:
    """Proxy entries, one per (family, arm) shown (filled, whatever its rows' stability), and one
    for "hollow means no trusted interval" when any row is drawn hollow."""
    handles = [Line2D([], [], linestyle="none", marker=ARM_MARKERS.get(arm, "X"), markersize=MARKER_SIZE,
                      color=_colour(family), label=_series_name(family, arm))
               for family, arm in sorted({(r.family, r.arm) for r in rows})]
    if hollow_unstable and any(_untrusted(r) for r in rows):
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=MARKER_SIZE, color="0.3",
                              markerfacecolor="none", label=f"hollow: {HOLLOW}"))
    return handles


def _place_names(ax: Axes, points: Sequence[_Point]) -> None:
    """Name each point with its model, at the nearest spot where the name covers no other name,
    marker, error bar, drawn line or legend and stays inside the axes. A name with no such spot is
    left out (the legend still gives its family and arm): better a missing name than two unreadable
    ones. Needs the final layout (call after ``draw_without_rendering``) and a canvas that measures
    text (Agg and the backends built on it); on any other canvas the points stay unnamed."""
    fig = ax.get_figure(root=True)
    renderer = getattr(fig.canvas, "get_renderer", lambda: None)()
    if renderer is None:
        return
    radius = MARKER_SIZE / 2 * fig.dpi / 72 + 1
    taken = []
    for p in points:
        (px, py), (_, low), (_, high) = ax.transData.transform([(p.x, p.y), (p.x, p.y_low), (p.x, p.y_high)])
        taken.append(Bbox.from_extents(px - radius, py - radius, px + radius, py + radius))
        if high > low:
            taken.append(Bbox.from_extents(px - 2, low, px + 2, high))
    for line in ax.get_lines():  # drawn lines (the Pareto front's steps): each segment's box, padded
        if line.get_linestyle() not in ("None", "", " "):
            xy = line.get_transform().transform(line.get_path().vertices)
            for (x0, y0), (x1, y1) in zip(xy[:-1], xy[1:], strict=True):
                taken.append(Bbox.from_extents(min(x0, x1) - 1, min(y0, y1) - 1, max(x0, x1) + 1, max(y0, y1) + 1))
    legend = ax.get_legend()
    if legend is not None:
        taken.append(legend.get_window_extent(renderer))
    frame = ax.bbox
    for p in points:
        note = ax.annotate(p.name, (p.x, p.y), xytext=_SPOTS[0][:2], textcoords="offset points",
                           fontsize=LABEL_SIZE, color="0.2", annotation_clip=False, zorder=4)
        note.set_in_layout(False)  # names are placed after the layout, and must not change it
        for dx, dy, ha, va in _SPOTS:
            note.set_position((dx, dy))
            note.set_horizontalalignment(ha)
            note.set_verticalalignment(va)
            box = note.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(t) for t in taken):
                taken.append(box)
                break
        else:
            note.remove()


def _subtitle(rows: Sequence[ResultRow]) -> str:
    """Targets, backends and the date of the newest row: what a reader needs to place the figure."""
    panels = {Panel.of(r) for r in rows}
    targets = ", ".join(sorted({p.target_name for p in panels}))
    backends = ", ".join(sorted({p.backend_name for p in panels}))
    newest = datetime.fromtimestamp(max(r.created for r in rows), tz=UTC).strftime("%Y-%m-%d")
    return f"{targets} · {backends} · newest row {newest}"


class _PlainLog(LogFormatter):
    """matplotlib's choice of which log ticks to name, written as plain numbers ("0.3", not "3e-01")."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return f"{x:g}" if super().__call__(x, pos) else ""


@dataclass(frozen=True)
class _Kind:
    """What one figure shows: its axes, how a row becomes a point, and what is drawn beside the points."""

    title: str
    xlabel: str
    ylabel: str
    xy: Callable[[ResultRow], tuple[float, float]]
    ci: bool = False
    hollow_unstable: bool = True
    log_y: bool = False
    pareto: bool = False


def _draw(ax: Axes, rows: Sequence[ResultRow], kind: _Kind) -> list[_Point]:
    points = _scatter(ax, rows, kind.xy, kind.ci, kind.hollow_unstable)
    if kind.pareto:
        # an unstable latency cannot say which network is on the front: drawn, but not a vertex
        steady = [kind.xy(r) for r in rows if not r.unstable]
        front = [steady[i] for i in pareto_front(steady)]
        if front:
            xs, ys = zip(*front, strict=True)
            ax.step(xs, ys, where="post", color="0.45", linestyle="--", linewidth=0.9, zorder=1,
                    label=PARETO_LABEL)
    ax.set_xscale("log")
    if kind.log_y:
        ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis) if kind.log_y else (ax.xaxis,):
        # in-between ticks named when the axis spans less than two decades: a narrow range keeps readable ticks
        axis.set_major_formatter(_PlainLog())
        axis.set_minor_formatter(_PlainLog(minor_thresholds=(2, 0.5)))
    ax.set_xlabel(kind.xlabel, fontsize=8)
    ax.set_ylabel(kind.ylabel, fontsize=8)
    ax.tick_params(which="both", labelsize=7)
    ax.grid(True, which="both", alpha=0.25, linewidth=0.5)
    return points


def _figure(rows: Sequence[ResultRow], kind: _Kind, by_panel: bool, out: str | Path | None,
            ax: Axes | None, measured: Sequence[ResultRow] = ()) -> Figure:
    """Draw ``rows`` as ``kind``: into ``ax`` (one panel, so the rows must be of one target and
    backend when ``by_panel``), or into a new figure with one panel per (target, backend); saved to
    ``out`` when given. The title names the targets, backends and date of ``measured`` (default:
    ``rows``)."""
    path = check_output(out) if out is not None else None
    groups: dict[Panel | None, list[ResultRow]] = defaultdict(list)
    for r in rows:
        groups[Panel.of(r) if by_panel else None].append(r)
    pareto_handle = ([Line2D([], [], color="0.45", linestyle="--", linewidth=0.9, label=PARETO_LABEL)]
                     if kind.pareto else [])
    handles = _legend_handles(rows, kind.hollow_unstable) + pareto_handle
    title = f"{kind.title}\n{_subtitle(measured or rows)}"
    if ax is not None:
        if len(groups) > 1:
            raise DevbenchError(f"one axes shows one target and backend; these rows have {len(groups)} "
                                "(filter them, or leave ax out for a figure with a panel each)")
        fig = ax.get_figure(root=True)
        points = _draw(ax, rows, kind)
        ax.set_title(title, fontsize=8)
        ax.legend(handles=handles, fontsize=6)
        fig.draw_without_rendering()
        _place_names(ax, points)
    else:
        cols = 2 if len(groups) in (2, 4) else min(len(groups), 3)
        lines = math.ceil(len(groups) / cols)
        legend_cols = min(len(handles), 4)
        height = 3.1 * lines + 0.7 + 0.2 * math.ceil(len(handles) / legend_cols)
        width = max(3.6 * cols + 0.4, 7.0)  # room for the title and the legend under one panel
        fig = Figure(figsize=(width, height), dpi=150, layout="constrained")
        FigureCanvasAgg(fig)  # files only: an explicit Agg canvas, matplotlib's global backend untouched
        drawn = []
        for i, (panel, items) in enumerate(sorted(groups.items()) if by_panel else groups.items()):
            panel_ax = fig.add_subplot(lines, cols, i + 1)
            drawn.append((panel_ax, _draw(panel_ax, items, kind)))
            if panel is not None:
                panel_ax.set_title(panel.title, fontsize=8)
        fig.legend(handles=handles, loc="outside lower center", ncols=legend_cols, fontsize=7,
                   frameon=False)
        # wrapped to the figure's width (about 14 characters an inch at 9 points): never cut off
        fig.suptitle("\n".join(textwrap.fill(line, int(width * 14)) for line in title.splitlines()), fontsize=9)
        fig.draw_without_rendering()
        for panel_ax, points in drawn:
            _place_names(panel_ax, points)
    if path is not None:
        fig.savefig(path, dpi=200 if path.suffix.lower() == ".png" else "figure")
    return fig


def _size(r: ResultRow, x: str) -> float:
    return getattr(r, x) / 1e6


def plot_latency(rows: Sequence[ResultRow], out: str | Path | None = None, x: str = "params",
                 ax: Axes | None = None) -> Figure:
    """Median latency (log) with its 95% CI against ``x`` ("params" or "macs", log), one panel per
    (target, backend); into ``ax`` when given (rows of one target and backend), written to ``out``
    (.png, .svg or .pdf) when given. Returns the figure."""
    good = plottable(rows, x)
    kind = _Kind(title=f"Median latency vs {'parameters' if x == 'params' else 'MACs'}",
                 xlabel=X_LABELS[x], ylabel="median latency (ms), bars: 95% CI",
                 xy=lambda r: (_size(r, x), r.median_ms), ci=True, log_y=True)
    return _figure(good, kind, by_panel=True, out=out, ax=ax)


def _with_error(rows: Sequence[ResultRow]) -> list[ResultRow]:
    good = [r for r in rows if r.test_error is not None]
    if not good:
        raise DevbenchError("no error to plot: no row has a top-1 error (measure with --accuracy, or "
                            "run networks whose training recorded one)")
    return good


def _error_source(rows: Sequence[ResultRow]) -> str:
    """Where the errors come from (measured on the board, recorded by training, or both): a reader
    must know whether the deployed artifact's accuracy was checked."""
    measured = {r.top1_error is not None for r in rows}
    if measured == {True}:
        return "measured on the board"
    if measured == {False}:
        return "recorded by training"
    return "measured on the board where it was, else recorded by training"


def plot_error_vs_size(rows: Sequence[ResultRow], out: str | Path | None = None, x: str = "params",
                       ax: Axes | None = None) -> Figure:
    """Top-1 error against ``x``, in one panel with one point per model (accuracy belongs to the
    network, whatever board ran it): its newest error measured on a board, else its newest
    recorded by training."""
    measured = _with_error(plottable(rows, x))
    chosen: dict[str, ResultRow] = {}
    for r in sorted(measured, key=lambda r: (r.top1_error is not None, r.created)):
        chosen[r.model] = r
    good = list(chosen.values())
    kind = _Kind(title=f"Top-1 error vs {'parameters' if x == 'params' else 'MACs'} ({_error_source(good)})",
                 xlabel=X_LABELS[x], ylabel="top-1 error (%)", xy=lambda r: (_size(r, x), 100 * r.test_error),
                 hollow_unstable=False)
    return _figure(good, kind, by_panel=False, out=out, ax=ax, measured=measured)


def plot_error_vs_latency(rows: Sequence[ResultRow], out: str | Path | None = None,
                          ax: Axes | None = None) -> Figure:
    """Top-1 error against median latency with the Pareto front (the lowest error for a latency
    budget), one panel per (target, backend): which arm buys the most accuracy per millisecond."""
    good = _with_error(plottable(rows, None))
    kind = _Kind(title=f"Top-1 error vs median latency ({_error_source(good)})", xlabel="median latency (ms)",
                 ylabel="top-1 error (%)", xy=lambda r: (r.median_ms, 100 * r.test_error), pareto=True)
    return _figure(good, kind, by_panel=True, out=out, ax=ax)


def write_figures(rows: Sequence[ResultRow], out: str | Path, x: str = "params") -> list[Path]:
    """What ``devbench plot`` writes: the latency figure at ``out`` and, when any row has an error,
    ``<stem>-error-vs-<x><suffix>`` and ``<stem>-error-vs-latency<suffix>`` beside it. Returns the
    paths written; checks ``out`` before drawing anything."""
    path = check_output(out)
    good = plottable(rows, x)
    plot_latency(good, path, x)
    written = [path]
    if any(r.test_error is not None for r in good):
        for name, plot in ((f"error-vs-{x}", lambda p: plot_error_vs_size(good, p, x)),
                           ("error-vs-latency", lambda p: plot_error_vs_latency(good, p))):
            extra = path.with_name(f"{path.stem}-{name}{path.suffix}")
            plot(extra)
            written.append(extra)
    return written
