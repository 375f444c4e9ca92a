"""ResNet with post-activation basic blocks: the CIFAR ResNet-6n+2 (He et al.) and ResNet-18/34 for 32x32.

A block is ``relu(bn2(conv2(gate(relu(bn_inner(conv1(x)))))) + shortcut(x))``; the shortcut is ``x``,
or a 1x1 conv + BN projection when the shape changes. CIFAR depths (6n+2: 20, 32, 44, 56, 110) have a
stem conv3x3 16 and stages 16, 32, 64; ResNet-18/34 keep their ImageNet stages 64..512 ([2,2,2,2] /
[3,4,6,3]) behind a stride-1 conv3x3 64 stem without max-pool, the usual adaptation to 32x32 inputs.
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

FAMILY = "resnet"
#: ImageNet-style depths: blocks per stage, adapted to small inputs
IMAGENET_LAYOUTS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class ResNetBlock(PrunableBlock):
    """Post-activation basic block.

    ``bn2`` stays when the inner width is 0: a fully masked branch still adds ``bn2(0)`` (its bias,
    shifted by the running mean in eval mode), so the empty block feeds zeros to ``bn2`` to give
    exactly the masked block's output and running-stat updates, in train and eval mode alike.
    """

    def __init__(self, cin: int, inner: int, cout: int, stride: int) -> None:
        super().__init__(inner)
        self.add_branch(cin, cout, kernel1=3, stride=stride)
        self.bn2 = nn.BatchNorm2d(cout)
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inner:
            out = self.bn2(self.branch(x))
        else:  # two zeros per channel in training: BN refuses a batch of one value
            out = self.bn2(x.new_zeros(2 if self.training else 1, self.bn2.num_features, 1, 1))[:1]
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(spec.input_shape[0], spec.stem_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(spec.stem_channels),
            nn.ReLU(),
        )
        self.stages = nn.ModuleList(nn.Sequential(*(ResNetBlock(*b) for b in stage)) for stage in residual_plan(spec))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(spec.stage_channels[-1], spec.num_classes)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def count(spec: ArchSpec) -> Tally:
    t, hw = Tally(), spec.input_shape[1:]
    t.conv(spec.input_shape[0], spec.stem_channels, 3, hw)
    t.bn(spec.stem_channels)
    for stage in residual_plan(spec):
        for cin, inner, cout, stride in stage:
            out_hw = conv_out(hw, stride)
            if inner:
                t.conv(cin, inner, 3, out_hw)
                t.bn(inner)
                t.conv(inner, cout, 3, out_hw)
            t.bn(cout)
            if cin != cout or stride != 1:
                t.conv(cin, cout, 1, out_hw)
                t.bn(cout)
            hw = out_hw
    t.linear(spec.stage_channels[-1], spec.num_classes)
    return t


# ResNet trains with WRN's recipe
register_family(Family(FAMILY, build=ResNet, count=count, schedule="wrn", reductions=RESIDUAL_REDUCTIONS))


def resnet_spec(
    depth: int,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    bottleneck: float = 1.0,
) -> ArchSpec:
    """ResNet-``depth``: 18 or 34 (ImageNet stages), else CIFAR 6n+2; ``bottleneck`` scales inner widths."""
    if depth in IMAGENET_LAYOUTS:
        stem, widths, counts = 64, (64, 128, 256, 512), IMAGENET_LAYOUTS[depth]
    elif depth >= 8 and (depth - 2) % 6 == 0 and depth not in (50, 152):
        stem, widths, counts = 16, (16, 32, 64), ((depth - 2) // 6,) * 3
    else:
        raise DevbenchError(
            f"ResNet depth must be 18, 34 or 6n+2 (8, 20, 32, 44, 56, 110, ...) with basic blocks, got {depth}"
        )
    name = f"resnet{depth}" + (f"_b{bottleneck:g}" if bottleneck != 1 else "")
    spec = ArchSpec(
        family=FAMILY,
        inner=tuple((w,) * n for w, n in zip(widths, counts, strict=True)),
        stem_channels=stem,
        stage_channels=widths,
        input_shape=input_shape,
        num_classes=num_classes,
        name=name,
    )
    return scale_inner(spec, bottleneck, name=name)


for _depth in (8, 20, 32, 44, 56, 110, 18, 34):
    register_model(partial(resnet_spec, _depth), name=f"resnet{_depth}")
