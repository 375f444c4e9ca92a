"""The paper's figures: one marker series per family and arm, never joined, emulated boards and tuned
TVM in their own panels, unstable rows hollow and without interval, names that do not overlap, the
Pareto front, the formats, and a wrong ``--out`` refused in one line before anything is created."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from devbench.cli import main
from devbench.errors import DevbenchError
from devbench.plots import (
    PARETO_LABEL,
    pareto_front,
    plot_error_vs_latency,
    plot_error_vs_size,
    plot_latency,
    write_figures,
)
from devbench.results import ResultRow, ResultStore

NEWEST = datetime(2025, 3, 14, 12, tzinfo=UTC).timestamp()
PNG = b"\x89PNG\r\n\x1a\n"


def row(model: str, family: str, arm: str, params: int, ms: float, target: str = "local",
        backend: str = "onnxruntime", *, ci: float | None = 0.05, unstable: str = "", top1: float | None = None,
        trained: float | None = None, emulated: bool = False, tuned: bool = False, created: float = NEWEST - 3600,
        status: str = "ok") -> ResultRow:
    return ResultRow(
        job_id=f"{model}@{target}/{backend}", model=model, target=target, backend=backend, batch=1, threads=2,
        status=status, median_ms=ms, ci95_low_ms=None if ci is None else ms * (1 - ci),
        ci95_high_ms=None if ci is None else ms * (1 + ci), unstable=unstable, params=params, macs=params * 100,
        arm=arm, family=family, top1_error=top1, trained_error=trained, emulated=emulated, tuned=tuned,
        trials=64 if tuned else 0, created=created)


def measured(with_errors: bool = True) -> list[ResultRow]:
    """Two families, three arms and a base, on a real board (ONNX Runtime, TVM tuned) and an emulated
    one; one unstable row, one without an interval, one failed row that must not be drawn."""
    e = (lambda v: v) if with_errors else (lambda v: None)
    rows = []
    for target, emulated, scale in (("local", False, 1.0), ("emulated-pi", True, 10.0)):
        for backend, tuned in (("onnxruntime", False), ("tvm", True)):
            on = {"target": target, "backend": backend, "emulated": emulated, "tuned": tuned}
            rows += [
                row("resnet56", "resnet", "base", 855_770, 2.0 * scale, trained=e(0.062), **on),
                row("pruned_resnet", "resnet", "pruned", 300_000, 1.3 * scale, trained=e(0.071), **on),
                row("reduced_resnet", "resnet", "reduced", 310_000, 0.9 * scale, top1=e(0.066), trained=e(0.065),
                    **on),
                row("scratch_resnet", "resnet", "scratch", 305_000, 1.25 * scale, ci=None, trained=e(0.074), **on),
                row("pruned_wrn", "wrn", "pruned", 250_000, 1.2 * scale, unstable="rounds disagree (CV 9%)",
                    trained=e(0.069), **on),
                row("reduced_wrn", "wrn", "reduced", 260_000, 0.7 * scale, trained=e(0.064), **on),
            ]
    rows[0].created = NEWEST
    rows.append(row("broken", "wrn", "reduced", 100_000, 0.1, status="error"))
    return rows


def texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def drawn_lines(fig: Figure) -> list[Line2D]:
    """Every line that joins points (markers only and error bar caps have no line style)."""
    return [line for ax in fig.axes for line in ax.get_lines()
            if line.get_linestyle() not in ("None", "", " ") and len(line.get_xdata()) > 1]


def error_bar_xs(ax: Axes) -> set[float]:
    return {round(float(seg[0][0]), 6) for container in ax.containers
            for collection in container.lines[2] for seg in collection.get_segments()}


def test_latency_panels_title_and_legend() -> None:
    fig = plot_latency(measured())
    titles = sorted(ax.get_title() for ax in fig.axes)
    assert titles == ["emulated-pi (emulated) · onnxruntime", "emulated-pi (emulated) · tvm (tuned)",
                      "local · onnxruntime", "local · tvm (tuned)"]
    suptitle = fig.get_suptitle()
    for word in ("local", "emulated-pi (emulated)", "onnxruntime", "tvm (tuned)", "2025-03-14", "parameters"):
        assert word in suptitle
    legend = texts(fig.legends[0])
    for arm in ("pruned", "reduced", "scratch", "base"):
        assert any(arm in t for t in legend), (arm, legend)
    assert {"resnet pruned", "wrn pruned", "resnet reduced", "wrn reduced"} <= set(legend)
    assert "hollow: unstable or no CI" in legend
    assert all(ax.get_yscale() == "log" for ax in fig.axes)


def test_no_line_joins_points_and_each_series_is_one_family_and_arm() -> None:
    fig = plot_latency(measured())
    assert drawn_lines(fig) == []
    for ax in fig.axes:
        series = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
        labels = [line.get_label() for line in series]
        assert len(labels) == len(set(labels)) and "resnet scratch (unstable or no CI)" in labels
        for line in series:
            assert len(line.get_label().removesuffix(" (unstable or no CI)").split()) == 2  # "<family> <arm>"


def test_unstable_is_hollow_and_rows_without_a_trusted_interval_have_no_error_bar() -> None:
    fig = plot_latency(measured())
    for ax in fig.axes:
        for label in ("wrn pruned (unstable or no CI)", "resnet scratch (unstable or no CI)"):
            (hollow,) = [line for line in ax.get_lines() if line.get_label() == label]
            assert hollow.get_markerfacecolor() == "none"  # unstable, and too few rounds for an interval
        bars = error_bar_xs(ax)
        assert round(0.25, 6) not in bars  # the unstable pruned_wrn
        assert round(0.305, 6) not in bars  # scratch_resnet, no interval
        assert {round(0.3, 6), round(0.31, 6), round(0.26, 6)} <= bars


def test_a_row_without_an_interval_is_hollow_even_when_alone() -> None:
    fig = plot_latency([row("scratch_resnet", "resnet", "scratch", 305_000, 1.25, ci=None)])
    (point,) = [line for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert point.get_markerfacecolor() == "none" and "hollow: unstable or no CI" in texts(fig.legends[0])


def test_batches_of_one_model_in_one_panel_are_named_apart() -> None:
    one, two = row("resnet56", "resnet", "base", 855_770, 2.0), row("resnet56", "resnet", "base", 855_770, 3.0)
    two.batch, two.job_id = 2, two.job_id + "/b2"
    names = sorted(t.get_text() for t in plot_latency([one, two]).axes[0].texts)
    assert names == ["resnet56 (batch 1)", "resnet56 (batch 2)"]
    assert [t.get_text() for t in plot_latency([one]).axes[0].texts] == ["resnet56"]


def test_failed_rows_are_not_drawn_and_macs_on_request() -> None:
    fig = plot_latency(measured(), x="macs")
    assert all(ax.get_xlabel() == "MACs (M)" for ax in fig.axes)
    names = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert "broken" not in names
    with pytest.raises(DevbenchError, match="nothing to plot"):
        plot_latency([row("broken", "wrn", "reduced", 100_000, 0.1, status="error")])


def test_names_do_not_overlap_each_other() -> None:
    fig = plot_latency(measured())
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    for ax in fig.axes:
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) >= 4
        assert not any(a.overlaps(b) for a, b in combinations(boxes, 2))


def test_untuned_tvm_is_a_panel_of_its_own() -> None:
    rows = [row("resnet56", "resnet", "base", 855_770, 2.0, backend="tvm", tuned=True),
            row("reduced_resnet", "resnet", "reduced", 310_000, 1.0, backend="tvm", tuned=False)]
    assert sorted(ax.get_title() for ax in plot_latency(rows).axes) == ["local · tvm (tuned)", "local · tvm (untuned)"]


def test_pareto_front_on_hand_made_points() -> None:
    points = [(1.0, 8.0), (2.0, 6.0), (1.5, 9.0), (3.0, 6.0), (4.0, 5.0), (2.0, 7.0), (0.5, 10.0)]
    assert pareto_front(points) == [6, 0, 1, 4]  # 0.5/10, 1/8, 2/6, 4/5: each beats every faster one
    assert pareto_front([]) == []
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0]


def test_error_figures_and_pareto_line() -> None:
    fig = plot_error_vs_latency(measured())
    assert len(fig.axes) == 4
    (local_ort,) = [ax for ax in fig.axes if ax.get_title() == "local · onnxruntime"]
    (front,) = [line for line in local_ort.get_lines() if line.get_label() == PARETO_LABEL]
    # reduced_wrn (0.7 ms, 6.4%), then only resnet56 (2 ms, 6.2%) is better; the unstable pruned_wrn is no vertex
    assert list(front.get_xdata()) == [0.7, 2.0] and list(front.get_ydata()) == pytest.approx([6.4, 6.2])
    assert drawn_lines(fig) == [line for ax in fig.axes for line in ax.get_lines() if line.get_label() == PARETO_LABEL]
    assert "measured on the board where it was, else recorded by training" in fig.get_suptitle()

    sizes = plot_error_vs_size(measured())
    (ax,) = sizes.axes
    assert len({line.get_label() for line in ax.get_lines()}) == 6  # one point per model, whatever the board
    assert sum(len(line.get_xdata()) for line in ax.get_lines()) == 6
    assert "local" in sizes.get_suptitle() and "emulated-pi" in sizes.get_suptitle()
    with pytest.raises(DevbenchError, match="no error to plot"):
        plot_error_vs_size(measured(with_errors=False))


def test_notebook_axes() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    local = [r for r in measured() if r.target == "local" and r.backend == "onnxruntime"]
    assert plot_latency(local, ax=ax) is fig
    assert "local · onnxruntime" in ax.get_title()
    assert "resnet scratch" in texts(ax.get_legend())
    with pytest.raises(DevbenchError, match="one axes shows one target and backend"):
        plot_latency(measured(), ax=fig.add_subplot())


def test_import_leaves_matplotlibs_backend_alone() -> None:
    code = ("import sys, matplotlib; import devbench.plots; "
            "assert 'matplotlib.pyplot' not in sys.modules; print(matplotlib.get_backend())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "svg"}, check=True)
    assert proc.stdout.strip() == "svg"


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_files_in_the_format_of_the_suffix(tmp_path: Path, suffix: str) -> None:
    written = write_figures(measured(), tmp_path / f"fig{suffix}")
    assert [p.name for p in written] == [f"fig{suffix}", f"fig-error-vs-params{suffix}",
                                         f"fig-error-vs-latency{suffix}"]
    for path in written:
        if suffix == ".png":
            assert path.read_bytes()[:8] == PNG
        else:
            assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_no_error_no_error_figures(tmp_path: Path) -> None:
    assert write_figures(measured(with_errors=False), tmp_path / "a.png") == [tmp_path / "a.png"]


def test_cli_writes_pdf_and_prints_the_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "results.sqlite"
    store = ResultStore(db)
    for r in measured():
        store.add(r)
    store.close()
    out = tmp_path / "paper.pdf"
    assert main(["plot", "--db", str(db), "--out", str(out), "--target", "local"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote {out}", f"wrote {tmp_path / 'paper-error-vs-params.pdf'}",
                       f"wrote {tmp_path / 'paper-error-vs-latency.pdf'}"]
    assert out.read_bytes()[:5] == b"%PDF-"


def test_cli_missing_directory_is_one_line_and_creates_nothing(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "results.sqlite"
    assert main(["plot", "--db", str(db), "--out", "/no/such/dir/x.png"]) == 2
    err = capsys.readouterr().err
    assert err == "devbench: error: --out /no/such/dir/x.png: directory /no/such/dir does not exist\n"
    assert not Path("/no/such").exists() and not db.exists()

    assert main(["plot", "--db", str(db), "--out", str(tmp_path / "x.jpg")]) == 2
    assert "must end in .png, .svg, .pdf" in capsys.readouterr().err
    assert not (tmp_path / "x.jpg").exists() and not db.exists()
