"""Prune once, get a family: scale one pruned network's width profile to any size budget.

The paper's exact fitting rule is not public; devbench's rule is documented and configurable:

1. *fit* (:data:`FAMILY_RULES`): turn the pruned inner widths of each stage into a smooth profile.
   ``linear`` (default) fits, per stage, a least-squares line of width against block position (so the
   trend pruning found within a stage is kept and per-block noise is dropped); ``profile`` keeps the
   pruned widths as they are.
2. *scale*: every profile width is multiplied by one factor ``alpha`` and rounded, at least the
   family's ``min_inner`` (1 for DenseNet-BC, whose layers cannot vanish; a residual block whose
   width rounds to 0 is removed). ``alpha``
   is found by bisection so the member's params (or MACs) hit the budget.

A budget below the smallest member (every inner width at its minimum) is a :class:`DevbenchError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from devbench.errors import DevbenchError
from devbench.models import ArchSpec
from devbench.models.families import get_family
from devbench.training.reduce import measure


def linear_fit(widths: list[int]) -> list[float]:
    """Least-squares line through ``(position, width)``, clipped at 0 (a single block keeps its width)."""
    n = len(widths)
    if n == 1:
        return [float(widths[0])]
    xs = range(n)
    mx, my = (n - 1) / 2, sum(widths) / n
    slope = sum((x - mx) * (w - my) for x, w in zip(xs, widths, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return [max(0.0, my + slope * (x - mx)) for x in xs]


FAMILY_RULES: dict[str, Callable[[list[int]], list[float]]] = {
    "linear": linear_fit,
    "profile": lambda widths: [float(w) for w in widths],
}


def scaled(pruned: ArchSpec, profile: list[list[float]], alpha: float, name: str = "") -> ArchSpec:
    """The member with profile widths times ``alpha``, none narrower than the family allows."""
    floor = get_family(pruned.family).min_inner
    inner = [[max(floor, math.floor(alpha * p + 0.5)) for p in stage] for stage in profile]
    return pruned.with_inner(inner, name=name or pruned.name)


def family_member(pruned: ArchSpec, budget: int, by: str = "params", rule: str = "linear",
                  tolerance: float = 0.02, name: str = "") -> ArchSpec:
    """The member of ``pruned``'s family whose ``by`` count is closest to ``budget``."""
    if rule not in FAMILY_RULES:
        raise DevbenchError(f"unknown family rule {rule!r} (known: {', '.join(FAMILY_RULES)})")
    profile = [FAMILY_RULES[rule](list(stage)) for stage in pruned.inner]
    if not any(p for stage in profile for p in stage):
        raise DevbenchError(f"{pruned.name!r} has no inner widths left to scale")
    smallest = measure(scaled(pruned, profile, 0.0), by)
    if budget < smallest:
        raise DevbenchError(f"budget {budget} {by} is below the smallest member of {pruned.name!r}'s family "
                            f"({smallest} {by}, every inner width at its minimum)")
    hi = 1.0
    while measure(scaled(pruned, profile, hi), by) < budget:
        hi *= 2
        if hi > 2**20:
            raise DevbenchError(f"budget {budget} {by} is out of reach for {pruned.name!r}'s family")
    lo, best = 0.0, None
    for _ in range(50):
        mid = (lo + hi) / 2
        size = measure(scaled(pruned, profile, mid), by)
        if best is None or abs(size - budget) < abs(best[1] - budget):
            best = (mid, size)
        lo, hi = (mid, hi) if size < budget else (lo, mid)
    alpha, size = best
    if abs(size - budget) > tolerance * budget:
        raise DevbenchError(f"no member of {pruned.name!r}'s family is within {tolerance:.0%} of {budget} {by} "
                            f"(closest: {size})")
    member = scaled(pruned, profile, alpha, name=name or f"{pruned.name}_fam_{format_count(budget)}")
    meta = {"family_of": pruned.name, "rule": rule, "by": by, "budget": budget, "alpha": alpha}
    return ArchSpec.from_dict({**member.to_dict(), "meta": meta})


def family(pruned: ArchSpec, budgets: list[int], by: str = "params", rule: str = "linear",
           tolerance: float = 0.02) -> list[ArchSpec]:
    """One member per budget (all checked before any is returned)."""
    return [family_member(pruned, b, by, rule, tolerance) for b in budgets]


def parse_count(text: str) -> int:
    """``"0.5M"`` -> 500000; ``"300k"``, ``"1.2G"`` and plain integers too."""
    scale = {"k": 1e3, "m": 1e6, "g": 1e9}
    t = text.strip().lower()
    try:
        value = float(t[:-1]) * scale[t[-1]] if t and t[-1] in scale else float(t)
    except ValueError:
        raise DevbenchError(f"bad count {text!r} (examples: 500000, 300k, 0.5M, 1.2G)") from None
    if value <= 0:
        raise DevbenchError(f"count must be positive, got {text!r}")
    return int(round(value))


def format_count(n: int) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:g}{unit}"
    return str(n)
