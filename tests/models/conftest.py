"""Shared helpers for the models tests: small specs of every family, pruned and with removed blocks."""

from __future__ import annotations

import pytest

from devbench.models import ArchSpec, densenet_bc_spec, resnet_spec, wrn_spec


def removed(spec: ArchSpec, *indices: int) -> ArchSpec:
    """``spec`` with the blocks at the given ``spec.widths`` positions removed (inner width 0)."""
    return spec.with_flat_widths([0 if i in indices else w for i, w in enumerate(spec.widths)])


def pruned(spec: ArchSpec) -> ArchSpec:
    """Uneven widths, as Fisher pruning leaves them."""
    return spec.with_flat_widths([max(1, w - 3 * i) for i, w in enumerate(spec.widths)])


@pytest.fixture(scope="session")
def small_specs() -> dict[str, ArchSpec]:
    """One spec per interesting case, all cheap to build and run."""
    wrn, res, dense = wrn_spec(16, 2), resnet_spec(20), densenet_bc_spec(40, growth=6)
    return {
        "wrn": wrn,
        "wrn_pruned_removed": removed(pruned(wrn), 1, 2, 4),  # identity and projection blocks removed
        "wrn_mnist": wrn_spec(10, 1, input_shape=(1, 28, 28)),
        "resnet": res,
        "resnet_pruned_removed": removed(pruned(res), 0, 3, 6),
        "resnet18_b0.25": resnet_spec(18, num_classes=7, bottleneck=0.25),
        "densenet": dense,
        "densenet_pruned_mnist": pruned(densenet_bc_spec(40, growth=6, num_classes=5, input_shape=(1, 28, 28))),
    }
