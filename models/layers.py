"""Pieces every family shares: the channel gate, the prunable block and its inner branch.

Pruning code must not care which family it prunes, so every prunable block names its parts the same
way: ``conv1`` makes the inner (prunable) channels, ``bn_inner`` normalises them, ``gate`` marks them
and ``conv2`` consumes them. A block whose inner width is 0 has none of the four.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from devbench.models.spec import ArchSpec


class ChannelGate(nn.Identity):
    """A marker at a prunable point (after ``relu(bn_inner(conv1(x)))``).

    It computes nothing, so exported graphs stay clean; training code attaches forward hooks to it
    to mask channels and to read activations and their gradients (Fisher pruning).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


class PrunableBlock(nn.Module):
    """A block with one prunable inner width; subclasses add their shortcut and outer layers."""

    def __init__(self, inner: int) -> None:
        super().__init__()
        self.inner = inner

    def add_branch(self, cin: int, cout: int, kernel1: int, stride: int) -> None:
        """Create ``conv1 -> bn_inner -> relu -> gate -> conv2`` (nothing when the inner width is 0)."""
        if not self.inner:
            return
        self.conv1 = nn.Conv2d(cin, self.inner, kernel1, stride, kernel1 // 2, bias=False)
        self.bn_inner = nn.BatchNorm2d(self.inner)
        self.gate = ChannelGate(self.inner)
        self.conv2 = nn.Conv2d(self.inner, cout, 3, 1, 1, bias=False)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.gate(F.relu(self.bn_inner(self.conv1(x)))))


def blocks(model: nn.Module) -> list[PrunableBlock]:
    """Every prunable block, in ``spec.widths`` order (zero-width blocks included)."""
    return [m for m in model.modules() if isinstance(m, PrunableBlock)]


def gates(model: nn.Module) -> list[ChannelGate]:
    """The gates in ``spec.widths`` order; a zero-width block has no gate, so it is skipped."""
    return [b.gate for b in blocks(model) if b.inner]


def residual_plan(spec: ArchSpec) -> list[list[tuple[int, int, int, int]]]:
    """``(in_channels, inner, out_channels, stride)`` of every residual block, stage by stage.

    The first block of every stage but the first halves the resolution; shared by the builders and
    the counters of the residual families so both walk the same layout.
    """
    plan, cin = [], spec.stem_channels
    for s, (widths, cout) in enumerate(zip(spec.inner, spec.stage_channels, strict=True)):
        stage = []
        for b, w in enumerate(widths):
            stage.append((cin, w, cout, 2 if s > 0 and b == 0 else 1))
            cin = cout
        plan.append(stage)
    return plan


def init_weights(model: nn.Module) -> None:
    """He init for convs, unit BN, zero biases: the usual CIFAR recipe (the training code may re-init)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
