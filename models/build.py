"""Spec -> ``nn.Module`` with the builder of the spec's family (its :class:`~devbench.models.families.Family`)."""

from __future__ import annotations

from torch import nn

from devbench.errors import DevbenchError
from devbench.models.counts import count_params
from devbench.models.families import get_family
from devbench.models.spec import ArchSpec

#: 4 GB of float32 weights: a spec beyond it is a mistake, and building it would exhaust the host's memory
MAX_PARAMS = 1_000_000_000


def build_model(spec: ArchSpec) -> nn.Module:
    """A freshly initialised network for ``spec``; the spec rides along as ``model.spec``."""
    params = count_params(spec)
    if params > MAX_PARAMS:
        raise DevbenchError(f"spec {spec.name!r} has {params:,} parameters; devbench builds at most {MAX_PARAMS:,}")
    model = get_family(spec.family).build(spec)
    model.spec = spec
    return model
