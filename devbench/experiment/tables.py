"""What an experiment produced, as two tables: one row per trained network and seed, one per timing.

:class:`NetworkRow` is a network of one seed (its arm, size and test error on the recipe's test set);
:class:`LatencyRow` is one network timed on one target and backend in the interleaved rounds of
``devbench compare``, with its ratio to the pruned network of the same budget. ``results.csv`` /
``results.json`` are the network rows with each timing of that network joined in as columns.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: the arms of the comparison, in the order tables and figures list them
ARMS = ("base", "pruned", "reduced_depth", "reduced_width", "reduced_bottleneck", "scratch", "family")


@dataclass(frozen=True)
class NetworkRow:
    """One trained (or pruned) network of one seed."""

    network: str  # the base network's name: resnet20
    family: str  # its family: resnet, wrn, densenet_bc
    seed: int
    arm: str  # one of ARMS
    budget: str  # the budget's label (p118k, stage0040); empty for the base network
    params: int
    macs: int
    test_error: float
    test_images: int  # how many test images the error was measured on
    path: str  # the run directory (spec.json + weights.pt + metrics.json), relative to the experiment's folder
    stage: str  # the stage that made it


@dataclass(frozen=True)
class LatencyRow:
    """One network (the first seed's) timed on one target and backend, against the pruned one."""

    network: str
    family: str
    budget: str
    arm: str
    model: str  # the name the results store knows it by
    target: str
    backend: str
    emulated: bool
    params: int
    median_ms: float | None
    ci95_low_ms: float | None
    ci95_high_ms: float | None
    unstable: str  # why the timing cannot be trusted; empty when it can
    ratio: float | None  # median_ms over the pruned network's, paired by round; None for the pruned one
    ratio_ci_low: float | None
    ratio_ci_high: float | None
    verdict: str  # faster / slower / same / unstable / error against the pruned network; "baseline" for it
    rounds: int


def latency_key(row: LatencyRow) -> str:
    """The column prefix of a timing in results.csv: ``<target>/<backend>``."""
    return f"{row.target}/{row.backend}"


def joined(networks: Sequence[NetworkRow], latency: Sequence[LatencyRow]) -> list[dict[str, Any]]:
    """Network rows as dicts with each of their timings as ``<target>/<backend> median_ms`` (and ratio,
    interval, verdict) columns; a network not timed (seeds after the first) leaves them empty."""
    keys = sorted({latency_key(r) for r in latency})
    by_net = {(r.network, r.budget, r.arm, latency_key(r)): r for r in latency}
    out = []
    for n in networks:
        row: dict[str, Any] = asdict(n)
        for key in keys:
            t = by_net.get((n.network, n.budget, n.arm, key)) if n.seed == _first_seed(networks, n) else None
            for col in ("median_ms", "ratio", "ratio_ci_low", "ratio_ci_high", "verdict"):
                row[f"{key} {col}"] = None if t is None else getattr(t, col)
        out.append(row)
    return out


def _first_seed(networks: Sequence[NetworkRow], n: NetworkRow) -> int:
    return min(r.seed for r in networks if r.network == n.network)


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV with a header; ``None`` is an empty cell, floats as Python prints them (full precision)."""
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return buf.getvalue()


def to_json(networks: Sequence[NetworkRow], latency: Sequence[LatencyRow], claims: Sequence[dict[str, Any]],
            verdicts: dict[str, dict[str, str]]) -> str:
    """Everything in one document: ``networks``, ``latency``, the ``claims``' evidence and each claim's
    overall ``verdicts``."""
    return json.dumps({"verdicts": verdicts, "networks": [asdict(r) for r in networks],
                       "latency": [asdict(r) for r in latency], "claims": list(claims)}, indent=2) + "\n"
