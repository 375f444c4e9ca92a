"""Reduced networks: the base architecture made smaller by depth, width or a uniform bottleneck
multiplier, sized to match another network's parameter or MAC count (the paper's fair comparison).

Each knob is one small function ``(base spec, value) -> spec`` in :data:`REDUCERS`; continuous knobs
(width, bottleneck) are searched by bisection, depth (blocks per stage) by trying every count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, count_macs, count_params

MEASURES: dict[str, Callable[[ArchSpec], int]] = {"params": count_params, "macs": count_macs}


def measure(spec: ArchSpec, by: str) -> int:
    if by not in MEASURES:
        raise DevbenchError(f"unknown size measure {by!r} (known: {', '.join(MEASURES)})")
    return MEASURES[by](spec)


def _round(x: float, floor: int = 1) -> int:
    return max(floor, math.floor(x + 0.5))


def by_bottleneck(base: ArchSpec, mult: float) -> ArchSpec:
    """Every inner width times ``mult`` (a removed block stays removed)."""
    inner = [[_round(w * mult) if w else 0 for w in s] for s in base.inner]
    return base.with_inner(inner, name=f"{base.name}_b{mult:.3g}")


def by_width(base: ArchSpec, mult: float) -> ArchSpec:
    """WRN/ResNet: stage widths (k) and inner widths times ``mult``; DenseNet-BC: the growth rate."""
    if base.family == "densenet_bc":
        growth = _round(base.growth * mult)
        ratio = growth / base.growth
        inner = [[_round(w * ratio) for w in s] for s in base.inner]
        return replace(base, inner=tuple(map(tuple, inner)), growth=growth,
                       stem_channels=_round(base.stem_channels * ratio), name=f"{base.name}_g{growth}")
    inner = [[_round(w * mult) if w else 0 for w in s] for s in base.inner]
    stages = tuple(_round(c * mult) for c in base.stage_channels)
    return replace(base, inner=tuple(map(tuple, inner)), stage_channels=stages, name=f"{base.name}_w{mult:.3g}")


def by_depth(base: ArchSpec, blocks: float) -> ArchSpec:
    """The first ``blocks`` blocks (layers, for DenseNet-BC) of every stage."""
    n = int(blocks)
    return base.with_inner([s[:n] for s in base.inner], name=f"{base.name}_d{n}")


@dataclass(frozen=True)
class Reducer:
    knob: Callable[[ArchSpec, float], ArchSpec]
    continuous: bool


REDUCERS: dict[str, Reducer] = {
    "bottleneck": Reducer(by_bottleneck, continuous=True),
    "width": Reducer(by_width, continuous=True),
    "depth": Reducer(by_depth, continuous=False),
}


def reduce(base: ArchSpec, target: int, by: str = "bottleneck", match: str = "params", tolerance: float = 0.05,
           name: str = "") -> ArchSpec:
    """The reduction of ``base`` along ``by`` whose ``match`` count is closest to ``target``.

    Raises :class:`DevbenchError` when the closest one is more than ``tolerance`` (relative) away.
    """
    if by not in REDUCERS:
        raise DevbenchError(f"unknown reduction {by!r} (known: {', '.join(REDUCERS)})")
    reducer = REDUCERS[by]
    full = measure(base, match)
    if target > full * (1 + tolerance):
        raise DevbenchError(f"target {target} {match} is larger than the base {base.name!r} ({full})")
    if reducer.continuous:
        candidates = _bisect(lambda v: reducer.knob(base, v), target, match)
    else:
        candidates = [reducer.knob(base, n) for n in range(1, max(len(s) for s in base.inner) + 1)]
    best = min(candidates, key=lambda s: abs(measure(s, match) - target))
    got = measure(best, match)
    if abs(got - target) > tolerance * target:
        raise DevbenchError(f"no {by} reduction of {base.name!r} is within {tolerance:.0%} of {target} {match} "
                            f"(closest: {best.name} with {got}); try another --by or a larger --tolerance")
    meta = {"reduced_from": base.name, "by": by, "match": match, "target": target, "base_spec": base.to_dict()}
    return ArchSpec.from_dict({**best.to_dict(), "name": name or best.name, "meta": meta})


def _bisect(make: Callable[[float], ArchSpec], target: int, match: str, iters: int = 40) -> list[ArchSpec]:
    """Specs met while bisecting the knob in (0, 1] for ``target`` (size grows with the knob)."""
    lo, hi, seen = 0.0, 1.0, []
    for _ in range(iters):
        mid = (lo + hi) / 2
        spec = make(mid)
        seen.append(spec)
        if measure(spec, match) < target:
            lo = mid
        else:
            hi = mid
    return seen + [make(hi)]


def base_of(spec: ArchSpec) -> ArchSpec:
    """The network ``spec`` was pruned (or reduced) from, as its ``meta`` records it."""
    if "base_spec" not in spec.meta:
        raise DevbenchError(f"{spec.name} records no base network; pass --base")
    return ArchSpec.from_dict(spec.meta["base_spec"])
