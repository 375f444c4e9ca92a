"""Spec -> ``nn.Module``: one builder per family, registered by family name."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from devbench.errors import DevbenchError
from devbench.models.counts import count_params
from devbench.models.spec import ArchSpec

#: 4 GB of float32 weights: a spec beyond it is a mistake, and building it would exhaust the host's memory
MAX_PARAMS = 1_000_000_000

Builder = Callable[[ArchSpec], nn.Module]
_BUILDERS: dict[str, Builder] = {}


def register_builder(family: str) -> Callable[[Builder], Builder]:
    """Decorator: ``@register_builder("wrn")`` makes ``build_model`` use the function for that family."""

    def deco(fn: Builder) -> Builder:
        if family in _BUILDERS:
            raise ValueError(f"a builder for family {family!r} is already registered")
        _BUILDERS[family] = fn
        return fn

    return deco


def build_model(spec: ArchSpec) -> nn.Module:
    """A freshly initialised network for ``spec``; the spec rides along as ``model.spec``."""
    try:
        builder = _BUILDERS[spec.family]
    except KeyError:
        raise DevbenchError(f"no builder for family {spec.family!r} (known: {', '.join(_BUILDERS)})") from None
    params = count_params(spec)
    if params > MAX_PARAMS:
        raise DevbenchError(f"spec {spec.name!r} has {params:,} parameters; devbench builds at most {MAX_PARAMS:,}")
    model = builder(spec)
    model.spec = spec
    return model
