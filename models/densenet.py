"""DenseNet-BC (Huang et al.): three dense blocks of n = (depth-4)/6 bottleneck layers, compression 0.5.

Stem conv3x3 to 2k channels. A layer appends ``conv2(gate(relu(bn_inner(conv1(relu(bn1(x)))))))``
(1x1 to the 4k bottleneck, then 3x3 to k) to its input; a transition is bn-relu-conv1x1 to
floor(compression * C)-avgpool2; the head is bn-relu-avgpool-linear. The prunable width is each
layer's bottleneck, which stays >= 1 (a layer must add its k channels).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from devbench.errors import DevbenchError
from devbench.models.counts import Tally
from devbench.models.families import BOTTLENECK, DEPTH, Family, Reducer, register_family, round_width
from devbench.models.layers import PrunableBlock, init_weights
from devbench.models.registry import register_model, scale_inner
from devbench.models.spec import ArchSpec

FAMILY = "densenet_bc"


class DenseLayer(PrunableBlock):
    def __init__(self, cin: int, inner: int, growth: int) -> None:
        super().__init__(inner)
        self.bn1 = nn.BatchNorm2d(cin)
        self.add_branch(cin, growth, kernel1=1, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.branch(F.relu(self.bn1(x)))], 1)


class Transition(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(F.relu(self.bn(x))))


def _plan(spec: ArchSpec) -> tuple[list[list[int]], list[tuple[int, int]], int]:
    """Input channels of every layer, (in, out) of every transition, and the final channel count."""
    if spec.stage_channels:
        raise DevbenchError(f"densenet_bc spec {spec.name!r}: stage_channels must be empty (widths follow growth)")
    layer_in, transitions, c = [], [], spec.stem_channels
    for s, stage in enumerate(spec.inner):
        layer_in.append([c + i * spec.growth for i in range(len(stage))])
        c += len(stage) * spec.growth
        if s < len(spec.inner) - 1:
            transitions.append((c, int(spec.compression * c)))
            c = transitions[-1][1]
    if min(spec.input_shape[1:]) >> len(transitions) < 1:
        raise DevbenchError(
            f"densenet_bc spec {spec.name!r}: input {list(spec.input_shape)} is too small for "
            f"{len(transitions)} 2x2 average pools"
        )
    return layer_in, transitions, c


class DenseNetBC(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        layer_in, transitions, c = _plan(spec)
        self.stem = nn.Conv2d(spec.input_shape[0], spec.stem_channels, 3, 1, 1, bias=False)
        self.stages = nn.ModuleList(
            nn.Sequential(*(DenseLayer(cin, w, spec.growth) for cin, w in zip(ins, widths, strict=True)))
            for ins, widths in zip(layer_in, spec.inner, strict=True)
        )
        self.transitions = nn.ModuleList(Transition(cin, cout) for cin, cout in transitions)
        self.bn = nn.BatchNorm2d(c)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, spec.num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)
        return self.fc(torch.flatten(self.pool(F.relu(self.bn(x))), 1))


def count(spec: ArchSpec) -> Tally:
    layer_in, transitions, c = _plan(spec)
    t, (h, w) = Tally(), spec.input_shape[1:]
    t.conv(spec.input_shape[0], spec.stem_channels, 3, (h, w))
    for s, (ins, widths) in enumerate(zip(layer_in, spec.inner, strict=True)):
        for cin, inner in zip(ins, widths, strict=True):
            t.bn(cin)
            t.conv(cin, inner, 1, (h, w))
            t.bn(inner)
            t.conv(inner, spec.growth, 3, (h, w))
        if s < len(transitions):
            t.bn(transitions[s][0])
            t.conv(*transitions[s], 1, (h, w))
            h, w = h // 2, w // 2
    t.bn(c)
    t.linear(c, spec.num_classes)
    return t


def smaller_growth(base: ArchSpec, mult: float) -> ArchSpec:
    """DenseNet-BC's width: the growth rate times ``mult``, the stem and bottlenecks in proportion."""
    growth = round_width(base.growth * mult)
    ratio = growth / base.growth
    inner = [[round_width(w * ratio) for w in s] for s in base.inner]
    return replace(base, inner=tuple(map(tuple, inner)), growth=growth,
                   stem_channels=round_width(base.stem_channels * ratio), name=f"{base.name}_g{growth}")


# a layer must add its growth channels, so its bottleneck keeps at least one
register_family(Family(FAMILY, build=DenseNetBC, count=count, schedule="densenet", min_inner=1, concat=True,
                       reductions={"bottleneck": BOTTLENECK, "width": Reducer(smaller_growth, continuous=True),
                                   "depth": DEPTH}))


def densenet_bc_spec(
    depth: int,
    growth: int = 12,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    bottleneck: float = 1.0,
    compression: float = 0.5,
) -> ArchSpec:
    """DenseNet-BC-depth with growth k and a 4k bottleneck per layer, scaled by ``bottleneck``."""
    if depth < 10 or (depth - 4) % 6:
        raise DevbenchError(f"DenseNet-BC depth must be 6n+4 with n >= 1 (40, 64, 76, 88, 100, ...), got {depth}")
    if growth < 1:
        raise DevbenchError(f"DenseNet-BC growth must be >= 1, got {growth}")
    n = (depth - 4) // 6
    name = f"densenet_bc_{depth}" + (f"_k{growth}" if growth != 12 else "")
    name += f"_b{bottleneck:g}" if bottleneck != 1 else ""
    spec = ArchSpec(
        family=FAMILY,
        inner=((4 * growth,) * n,) * 3,
        stem_channels=2 * growth,
        growth=growth,
        compression=compression,
        input_shape=input_shape,
        num_classes=num_classes,
        name=name,
    )
    return scale_inner(spec, bottleneck, name=name)


for _depth in (40, 64, 76, 88, 100):
    register_model(partial(densenet_bc_spec, _depth), name=f"densenet_bc_{_depth}")
for _growth in (8, 16, 24):
    register_model(partial(densenet_bc_spec, 100, _growth), name=f"densenet_bc_100_k{_growth}")
