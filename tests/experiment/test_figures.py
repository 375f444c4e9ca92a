"""The experiment's figures on hand-made rows whose points are known."""

import statistics

import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgba
from matplotlib.container import ErrorbarContainer
from matplotlib.lines import Line2D

from devbench.errors import DevbenchError
from devbench.experiment.figures import (
    arm_colour,
    arm_marker,
    error_latency_points,
    error_vs_latency_figure,
    error_vs_params_figure,
    latency_vs_params_figure,
    summarize,
    write_figures,
)
from devbench.experiment.tables import LatencyRow, NetworkRow
from devbench.plots import PARETO_LABEL


def net(network: str, arm: str, budget: str, seed: int, params: int, error: float | None,
        family: str = "resnet") -> NetworkRow:
    return NetworkRow(network=network, family=family, seed=seed, arm=arm, budget=budget, params=params,
                      macs=10 * params, test_error=error, test_images=10000,
                      path=f"{network}/{arm}/{budget}/{seed}", stage="train")


def lat(network: str, arm: str, budget: str, params: int, median: float | None, target: str = "pi4",
        backend: str = "ort", emulated: bool = False, unstable: str = "", ci: tuple[float, float] | None = None,
        ) -> LatencyRow:
    low, high = ci if ci is not None else (None, None) if median is None else (0.9 * median, 1.2 * median)
    return LatencyRow(network=network, family="resnet", budget=budget, arm=arm, model=f"{network}-{arm}-{budget}",
                      target=target, backend=backend, emulated=emulated, params=params, median_ms=median,
                      ci95_low_ms=low, ci95_high_ms=high, unstable=unstable, ratio=None, ratio_ci_low=None,
                      ratio_ci_high=None, verdict="", rounds=5)


PRUNED = (0.08, 0.10, 0.09)  # three seeds of resnet20's pruned network: mean 9%, std 1%

NETWORKS = [
    *(net("resnet20", "base", "", s, 270_000, e) for s, e in enumerate((0.07, 0.08, 0.075))),
    *(net("resnet20", "pruned", "p100k", s, 100_000, e) for s, e in enumerate(PRUNED)),
    *(net("resnet20", "reduced_depth", "p100k", s, 98_000, e) for s, e in enumerate((0.085, 0.095, 0.09))),
    net("resnet20", "reduced_width", "p100k", 0, 101_000, 0.11),  # one seed: no error bar
    net("resnet20", "scratch", "p100k", 0, 100_000, None),  # no test error: left out
    *(net("wrn16_8", "base", "", s, 11_000_000, e, "wrn") for s, e in enumerate((0.05, 0.052))),
    *(net("wrn16_8", "pruned", "p5m", s, 5_000_000, e, "wrn") for s, e in enumerate((0.055, 0.06))),
]


def series(ax: Axes) -> dict[str, ErrorbarContainer]:
    return {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}


def ybar_ends(c: ErrorbarContainer) -> list[tuple[float, float]]:
    """(bottom, top) of each vertical bar of an errorbar series (the last collection is the y bars);
    a point without a bar (NaN) has an empty segment and is left out."""
    segments = c.lines[2][-1].get_segments()
    return [(seg[0][1], seg[1][1]) for seg in segments if len(seg)]


def test_summary_is_mean_and_sample_std_in_percent():
    by_arm = {(s.network, s.arm): s for s in summarize(NETWORKS)}
    pruned = by_arm[("resnet20", "pruned")]
    assert pruned.mean_error == pytest.approx(9.0) and pruned.std_error == pytest.approx(1.0) and pruned.seeds == 3
    assert by_arm[("resnet20", "reduced_width")].std_error is None
    assert ("resnet20", "scratch") not in by_arm


def test_error_vs_params_has_a_panel_per_network_and_a_series_per_arm():
    fig = error_vs_params_figure(NETWORKS)
    resnet, wrn = fig.axes
    assert resnet.get_title() == "resnet20 (resnet)" and wrn.get_title() == "wrn16_8 (wrn)"
    assert list(series(resnet)) == ["base", "pruned", "reduced depth", "reduced width"]
    assert list(series(wrn)) == ["base", "pruned"]
    assert not [line for line in resnet.get_lines() if line.get_linestyle() not in ("None", "", " ")]  # unjoined


def test_error_vs_params_points_are_seed_means_with_std_bars():
    resnet = error_vs_params_figure(NETWORKS).axes[0]
    pruned = series(resnet)["pruned"]
    x, y = pruned.lines[0].get_data()
    mean, std = 100 * statistics.fmean(PRUNED), 100 * statistics.stdev(PRUNED)
    assert list(x) == pytest.approx([0.1]) and list(y) == pytest.approx([mean])
    ((low, high),) = ybar_ends(pruned)
    assert (mean - low, high - mean) == pytest.approx((std, std))
    assert pruned.has_yerr and not series(resnet)["reduced width"].has_yerr  # a single seed has no spread


def test_a_series_mixing_one_and_several_seeds_has_a_bar_only_where_there_is_a_spread():
    rows = [*NETWORKS, *(net("resnet20", "reduced_width", "p50k", s, 51_000, e) for s, e in enumerate((0.12, 0.14)))]
    width = series(error_vs_params_figure(rows).axes[0])["reduced width"]
    assert list(width.lines[0].get_ydata()) == pytest.approx([13.0, 11.0])  # sorted by params
    bars = ybar_ends(width)
    std = 100 * statistics.stdev((0.12, 0.14))
    assert len(bars) == 1 and bars[0] == pytest.approx((13.0 - std, 13.0 + std))


def test_size_axis_is_log_only_over_a_decade():
    resnet, wrn = error_vs_params_figure(NETWORKS).axes  # 98k..270k and 5M..11M: both linear
    assert resnet.get_xscale() == "linear" and wrn.get_xscale() == "linear"
    wide = [*NETWORKS, net("resnet20", "family", "p10k", 0, 10_000, 0.2)]
    assert error_vs_params_figure(wide).axes[0].get_xscale() == "log"


def test_arm_style_is_the_same_everywhere_and_reduced_variants_differ_in_colour():
    assert {arm_marker(a) for a in ("reduced_depth", "reduced_width", "reduced_bottleneck")} == {"s"}
    assert len({arm_colour(a) for a in ("reduced_depth", "reduced_width", "reduced_bottleneck")}) == 3
    line = series(error_vs_params_figure(NETWORKS).axes[0])["reduced depth"].lines[0]
    assert line.get_marker() == "s" and to_rgba(line.get_color()) == to_rgba(arm_colour("reduced_depth"))


def test_no_error_at_all_is_refused():
    with pytest.raises(DevbenchError):
        error_vs_params_figure([net("resnet20", "base", "", 0, 1000, None)])


LATENCY = [
    lat("resnet20", "base", "", 270_000, 4.0),
    lat("resnet20", "pruned", "p100k", 100_000, 3.5),
    lat("resnet20", "reduced_depth", "p100k", 98_000, 2.0, ci=(1.8, 2.5)),
    lat("resnet20", "reduced_width", "p100k", 101_000, 1.0, unstable="cv 40%"),
    lat("resnet20", "pruned", "p100k", 100_000, 30.0, target="m7", backend="tflm", emulated=True),
    lat("resnet20", "reduced_depth", "p100k", 98_000, 20.0, target="m7", backend="tflm", emulated=True),
]


def test_no_latency_writes_only_the_error_figure(tmp_path):
    paths = write_figures(NETWORKS, [], tmp_path / "figures")
    assert [p.name for p in paths] == ["error_vs_params.png", "error_vs_params.svg"]
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(p.name for p in paths)
    assert paths[0].read_bytes().startswith(b"\x89PNG") and b"<svg" in paths[1].read_bytes()


def test_all_figures_in_both_formats(tmp_path):
    paths = write_figures(NETWORKS, LATENCY, tmp_path)
    assert [p.name for p in paths] == [f"{name}.{ext}" for name in ("error_vs_params", "latency_vs_params",
                                                                     "error_vs_latency") for ext in ("png", "svg")]
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def test_latency_panels_per_target_and_backend_emulated_marked():
    fig = latency_vs_params_figure(LATENCY)
    real, emulated = fig.axes
    assert real.get_title() == "pi4 · ort" and emulated.get_title() == "m7 (emulated) · tflm"
    assert list(series(emulated)) == ["pruned", "reduced depth"]
    depth = series(real)["reduced depth"]
    ((low, high),) = ybar_ends(depth)
    assert (low, high) == pytest.approx((1.8, 2.5))  # the bar is the 95% CI, not symmetric


def test_unstable_timing_is_hollow_without_error_bar():
    real = latency_vs_params_figure(LATENCY).axes[0]
    assert "reduced width" not in series(real)  # no errorbar series for it
    hollow = [line for line in real.get_lines() if line.get_label() == "reduced width (unstable)"]
    assert len(hollow) == 1 and hollow[0].get_markerfacecolor() == "none"
    assert list(hollow[0].get_ydata()) == [1.0]
    bars_x = {seg[0][0] for c in series(real).values() for seg in c.lines[2][-1].get_segments() if len(seg)}
    assert bars_x and all(abs(x - 0.101) > 1e-9 for x in bars_x)  # bars drawn, none at the unstable point


def test_error_vs_latency_joins_mean_error_by_network_budget_and_arm():
    timings = [*LATENCY, lat("resnet20", "scratch", "p100k", 100_000, 2.2)]  # scratch has no error: left out
    points = error_latency_points(NETWORKS, timings)
    real = next(p for panel, p in points.items() if panel.target == "pi4")
    by_arm = {p.timing.arm: p.error.mean_error for p in real}
    assert set(by_arm) == {"base", "pruned", "reduced_depth", "reduced_width"}
    assert by_arm["pruned"] == pytest.approx(9.0) and by_arm["base"] == pytest.approx(7.5)


def pareto_line(ax: Axes) -> Line2D:
    (line,) = [line for line in ax.get_lines() if line.get_label() == PARETO_LABEL]
    return line


def test_pareto_front_keeps_the_undominated_stable_points():
    networks = [net("n", arm, "b", s, 1000, e) for arm, errs in
                (("base", (0.10, 0.10)), ("pruned", (0.07, 0.09)), ("scratch", (0.09, 0.09)),
                 ("reduced_depth", (0.05, 0.05)), ("family", (0.01, 0.01))) for s, e in enumerate(errs)]
    timings = [lat("n", "base", "b", 1000, 1.0), lat("n", "pruned", "b", 1000, 2.0),
               lat("n", "scratch", "b", 1000, 3.0),  # slower than pruned and worse: dominated
               lat("n", "reduced_depth", "b", 1000, 4.0),
               lat("n", "family", "b", 1000, 0.5, unstable="noisy")]  # best everywhere, but its timing is untrusted
    (ax,) = error_vs_latency_figure(networks, timings).axes
    x, y = pareto_line(ax).get_data()
    assert list(x) == pytest.approx([1.0, 2.0, 4.0]) and list(y) == pytest.approx([10.0, 8.0, 5.0])
    assert pareto_line(ax).get_drawstyle() == "steps-post"
    assert len(series(ax)) == 4  # the four stable arms, each a point with bars; the unstable one hollow
