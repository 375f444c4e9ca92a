"""The paper's picture from the results database: latency against parameters (or MACs), one
series per backend and target, with the median and its 95% confidence interval as error bars.
Pruned, reduced and scratch networks are told apart by marker, so "pruned vs built smaller" is
visible at a glance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: devbench runs on headless servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

from devbench.errors import DevbenchError  # noqa: E402
from devbench.results import ResultRow  # noqa: E402

MARKERS = {"pruned": "v", "reduced": "s", "scratch": "D"}


def _marker(model: str) -> str:
    return next((m for prefix, m in MARKERS.items() if model.startswith(prefix)), "o")


def plot_latency(rows: Sequence[ResultRow], out: str | Path, x: str = "params") -> Path:
    """Write a PNG of median latency versus ``x`` ("params" or "macs") for the measured rows."""
    good = [r for r in rows if r.status == "ok" and r.median_ms is not None and getattr(r, x)]
    if not good:
        raise DevbenchError("nothing to plot: no successful measurements match")
    series: dict[str, list[ResultRow]] = defaultdict(list)
    for r in good:
        series[f"{r.backend} @ {r.target}"].append(r)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, items in sorted(series.items()):
        items.sort(key=lambda r: getattr(r, x))
        xs = [getattr(r, x) / 1e6 for r in items]
        ys = [r.median_ms for r in items]
        err = [[r.median_ms - r.ci95_low_ms for r in items], [r.ci95_high_ms - r.median_ms for r in items]]
        line = ax.errorbar(xs, ys, yerr=err, label=label, linestyle="-", alpha=0.8, capsize=2)
        for r, xv, yv in zip(items, xs, ys, strict=True):
            ax.plot(xv, yv, _marker(r.model), color=line[0].get_color())
            ax.annotate(r.model, (xv, yv), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("parameters (M)" if x == "params" else "MACs (M)")
    ax.set_ylabel("median latency (ms), 95% CI")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out
