"""Exact parameter and MAC counts, computed from the spec alone (no module is built).

MACs are the multiply-accumulates of conv and linear layers (BN, ReLU, pooling and additions are
not counted), the usual convention of the pruning literature. Each family's registration
(:class:`devbench.models.families.Family`) has one counter that walks its layout with a :class:`Tally`.
"""

from __future__ import annotations

from dataclasses import dataclass

from devbench.models.families import get_family
from devbench.models.spec import ArchSpec

HW = tuple[int, int]


@dataclass
class Tally:
    """Running totals for one network at batch 1."""

    params: int = 0
    macs: int = 0

    def conv(self, cin: int, cout: int, kernel: int, out_hw: HW) -> None:
        """A bias-free conv producing an ``out_hw`` map."""
        weights = cin * cout * kernel * kernel
        self.params += weights
        self.macs += weights * out_hw[0] * out_hw[1]

    def bn(self, channels: int) -> None:
        self.params += 2 * channels

    def linear(self, cin: int, cout: int) -> None:
        self.params += cin * cout + cout
        self.macs += cin * cout


def conv_out(hw: HW, stride: int) -> HW:
    """Output size of a "same"-padded conv (3x3 pad 1 or 1x1 pad 0) with ``stride``."""
    return ((hw[0] - 1) // stride + 1, (hw[1] - 1) // stride + 1)


def _tally(spec: ArchSpec) -> Tally:
    return get_family(spec.family).count(spec)


def count_params(spec: ArchSpec) -> int:
    """Sum of ``numel`` over all parameters of ``build_model(spec)`` (buffers excluded)."""
    return _tally(spec).params


def count_macs(spec: ArchSpec, batch: int = 1) -> int:
    """Multiply-accumulates of all conv and linear layers for one forward pass of ``batch`` inputs."""
    return _tally(spec).macs * batch
