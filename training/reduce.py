"""Reduced networks: the base architecture made smaller by depth, width or a uniform bottleneck
multiplier, sized to match another network's parameter or MAC count (the paper's fair comparison).

How a family is made smaller is part of its registration (``Family.reductions``: a knob
``(base spec, value) -> spec`` per supported reduction); continuous knobs (width, bottleneck) are
searched by bisection, depth (blocks per stage) by trying every count.
"""

from __future__ import annotations

from collections.abc import Callable

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, count_macs, count_params
from devbench.models.families import get_family

MEASURES: dict[str, Callable[[ArchSpec], int]] = {"params": count_params, "macs": count_macs}


def measure(spec: ArchSpec, by: str) -> int:
    if by not in MEASURES:
        raise DevbenchError(f"unknown size measure {by!r} (known: {', '.join(MEASURES)})")
    return MEASURES[by](spec)


def reduce(base: ArchSpec, target: int, by: str = "bottleneck", match: str = "params", tolerance: float = 0.05,
           name: str = "") -> ArchSpec:
    """The reduction of ``base`` along ``by`` whose ``match`` count is closest to ``target``.

    Raises :class:`DevbenchError` when the closest one is more than ``tolerance`` (relative) away.
    """
    reducer = get_family(base.family).reducer(by)
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
