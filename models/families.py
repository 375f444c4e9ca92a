"""Model families, each described once: a :class:`Family` registered by its own module.

Everything that differs between WRN, ResNet and DenseNet-BC outside their layers is a field here
(how to build and count one, its training recipe, the narrowest an inner width may get, how it is
made smaller), so spec validation, pruning, reduction and training read the registration instead of
testing family names. A new family is one module that calls :func:`register_family` once.

This module imports neither torch nor the other model modules: :mod:`devbench.models.spec` checks a
spec's family against it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from devbench.errors import DevbenchError

if TYPE_CHECKING:
    from torch import nn

    from devbench.models.counts import Tally
    from devbench.models.spec import ArchSpec

#: the ways a network can be made smaller (``devbench reduce --by``); a family supports some of them
REDUCTIONS = ("bottleneck", "width", "depth")


@dataclass(frozen=True)
class Reducer:
    """One way of making a spec smaller: ``knob(spec, value)``, the value searched by bisection in
    (0, 1] when ``continuous``, else tried as every whole number of blocks per stage."""

    knob: Callable[[ArchSpec, float], ArchSpec]
    continuous: bool


def round_width(x: float, floor: int = 1) -> int:
    """``x`` rounded half up, at least ``floor``: a scaled channel count."""
    return max(floor, math.floor(x + 0.5))


def narrower_inner(base: ArchSpec, mult: float) -> ArchSpec:
    """Every inner width times ``mult`` (a removed block stays removed)."""
    inner = [[round_width(w * mult) if w else 0 for w in s] for s in base.inner]
    return base.with_inner(inner, name=f"{base.name}_b{mult:.3g}")


def fewer_blocks(base: ArchSpec, blocks: float) -> ArchSpec:
    """The first ``blocks`` blocks of every stage."""
    n = int(blocks)
    return base.with_inner([s[:n] for s in base.inner], name=f"{base.name}_d{n}")


def narrower_stages(base: ArchSpec, mult: float) -> ArchSpec:
    """Stage widths (WRN's k) and inner widths times ``mult``: the width of a residual family."""
    inner = [[round_width(w * mult) if w else 0 for w in s] for s in base.inner]
    stages = tuple(round_width(c * mult) for c in base.stage_channels)
    return replace(base, inner=tuple(map(tuple, inner)), stage_channels=stages, name=f"{base.name}_w{mult:.3g}")


BOTTLENECK = Reducer(narrower_inner, continuous=True)
DEPTH = Reducer(fewer_blocks, continuous=False)
#: what a residual family (WRN, ResNet) supports: all three reductions
RESIDUAL_REDUCTIONS: Mapping[str, Reducer] = MappingProxyType(
    {"bottleneck": BOTTLENECK, "width": Reducer(narrower_stages, continuous=True), "depth": DEPTH})


@dataclass(frozen=True)
class Family:
    """A model family: everything devbench needs to know about it outside its layers.

    ``schedule`` names a training recipe of :mod:`devbench.training.schedules` (models does not
    import training). ``min_inner`` is the narrowest an inner width may be: 0 where a block can
    vanish into its shortcut, 1 where a block must still produce its output (a DenseNet-BC layer
    adds its growth channels). ``concat`` families append each block's output to its input
    (DenseNet): their stage widths follow from ``growth``, and a transition sits between stages.
    ``reductions`` maps each name of :data:`REDUCTIONS` the family supports to how it is done.
    """

    name: str
    build: Callable[[ArchSpec], nn.Module]
    count: Callable[[ArchSpec], Tally]
    schedule: str
    reductions: Mapping[str, Reducer]
    min_inner: int = 0
    concat: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.reductions) - set(REDUCTIONS)
        if unknown:
            raise ValueError(f"family {self.name!r}: unknown reductions {sorted(unknown)} (known: {REDUCTIONS})")
        object.__setattr__(self, "reductions", MappingProxyType(dict(self.reductions)))

    def reducer(self, by: str) -> Reducer:
        """How this family is reduced ``by`` depth, width or bottleneck; a user error when it is not."""
        if by not in REDUCTIONS:
            raise DevbenchError(f"unknown reduction {by!r} (known: {', '.join(REDUCTIONS)})")
        if by not in self.reductions:
            raise DevbenchError(f"a {self.name} network cannot be reduced by {by} "
                                f"(it can by: {', '.join(self.reductions)})")
        return self.reductions[by]


_FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Make ``family`` known to spec files, builders, counters, pruning, reduction and training."""
    if family.name in _FAMILIES:
        raise ValueError(f"model family {family.name!r} is already registered")
    _FAMILIES[family.name] = family
    return family


def family_names() -> tuple[str, ...]:
    """The registered families, in registration order."""
    return tuple(_FAMILIES)


def get_family(name: str) -> Family:
    """The registration of family ``name``; an unknown name is a user error listing the known ones."""
    try:
        return _FAMILIES[name]
    except KeyError:
        raise DevbenchError(f"unknown model family {name!r} (known: {', '.join(_FAMILIES)})") from None
