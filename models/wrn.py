"""Wide ResNet WRN-d-k with pre-activation basic blocks (Zagoruyko & Komodakis; BayesWatch pytorch-prunes).

Stem conv3x3 to 16, three stages of n = (d-4)/6 blocks of widths 16k, 32k, 64k with strides 1, 2, 2,
then bn-relu-avgpool-linear. A block is ``o = relu(bn1(x))``, ``conv2(gate(relu(bn_inner(conv1(o)))))``
plus the shortcut: ``x`` when the shape is kept, else a 1x1 conv of ``o``.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from devbench.errors import DevbenchError
from devbench.models.counts import Tally, conv_out
from devbench.models.families import RESIDUAL_REDUCTIONS, Family, register_family
from devbench.models.layers import PrunableBlock, init_weights, residual_plan
from devbench.models.registry import register_model, scale_inner
from devbench.models.spec import ArchSpec

FAMILY = "wrn"


class WRNBlock(PrunableBlock):
    """Pre-activation basic block. With inner width 0 it is its shortcut (``x``, or conv1x1(relu(bn1(x))))."""

    def __init__(self, cin: int, inner: int, cout: int, stride: int) -> None:
        super().__init__(inner)
        self.identity = cin == cout and stride == 1
        if inner or not self.identity:
            self.bn1 = nn.BatchNorm2d(cin)
        self.add_branch(cin, cout, kernel1=3, stride=stride)
        if not self.identity:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.identity and not self.inner:
            return x
        o = F.relu(self.bn1(x))
        out = x if self.identity else self.shortcut(o)
        return out + self.branch(o) if self.inner else out


class WideResNet(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        _check(spec)
        self.stem = nn.Conv2d(spec.input_shape[0], spec.stem_channels, 3, 1, 1, bias=False)
        self.stages = nn.ModuleList(nn.Sequential(*(WRNBlock(*b) for b in stage)) for stage in residual_plan(spec))
        self.bn = nn.BatchNorm2d(spec.stage_channels[-1])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(spec.stage_channels[-1], spec.num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.fc(torch.flatten(self.pool(F.relu(self.bn(x))), 1))


def _check(spec: ArchSpec) -> None:
    if len(spec.inner) != 3:
        raise DevbenchError(f"wrn spec {spec.name!r}: needs 3 stages, got {len(spec.inner)}")


def count(spec: ArchSpec) -> Tally:
    _check(spec)
    t, hw = Tally(), spec.input_shape[1:]
    t.conv(spec.input_shape[0], spec.stem_channels, 3, hw)
    for stage in residual_plan(spec):
        for cin, inner, cout, stride in stage:
            out_hw = conv_out(hw, stride)
            identity = cin == cout and stride == 1
            if inner or not identity:
                t.bn(cin)
            if inner:
                t.conv(cin, inner, 3, out_hw)
                t.bn(inner)
                t.conv(inner, cout, 3, out_hw)
            if not identity:
                t.conv(cin, cout, 1, out_hw)
            hw = out_hw
    t.bn(spec.stage_channels[-1])
    t.linear(spec.stage_channels[-1], spec.num_classes)
    return t


register_family(Family(FAMILY, build=WideResNet, count=count, schedule="wrn", reductions=RESIDUAL_REDUCTIONS))


def wrn_spec(
    depth: int,
    k: int,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    bottleneck: float = 1.0,
) -> ArchSpec:
    """WRN-depth-k; ``bottleneck`` scales every inner width (the paper's reduced networks)."""
    if depth < 10 or (depth - 4) % 6:
        raise DevbenchError(f"WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...), got {depth}")
    if k < 1:
        raise DevbenchError(f"WRN width factor k must be >= 1, got {k}")
    n = (depth - 4) // 6
    widths = (16 * k, 32 * k, 64 * k)
    name = f"wrn_{depth}_{k}" + (f"_b{bottleneck:g}" if bottleneck != 1 else "")
    spec = ArchSpec(
        family=FAMILY,
        inner=tuple((w,) * n for w in widths),
        stem_channels=16,
        stage_channels=widths,
        input_shape=input_shape,
        num_classes=num_classes,
        name=name,
    )
    return scale_inner(spec, bottleneck, name=name)


for _depth in (10, 16, 22, 28, 40):
    for _k in (1, 2, 4, 8):
        register_model(partial(wrn_spec, _depth, _k), name=f"wrn_{_depth}_{_k}")
