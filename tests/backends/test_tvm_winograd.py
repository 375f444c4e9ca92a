"""Winograd convs: which convs take them, and that every variant tuning may pick computes the network."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from devbench.backends import tvm_winograd as winograd
from tests.backends.test_tvm_conv_template import run_scheduled

AVX512 = {"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2}
ZEN4 = {"kind": "llvm", "mcpu": "znver4", "num-cores": 2}
NEON = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72", "mattr": ["+neon"], "num-cores": 4}


class _Wide(torch.nn.Module):
    """Two convs that take Winograd (48 channels in blocks of 16, 56 in blocks of 14, at 16x20) with
    a residual add and ReLU fused after them, around convs that do not (the stem, a stride-2 conv)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 48, 3, padding=1)
        self.conv1 = torch.nn.Conv2d(48, 48, 3, padding=1)
        self.widen = torch.nn.Conv2d(48, 56, 1)
        self.conv2 = torch.nn.Conv2d(56, 56, 3, padding=1, bias=False)
        self.down = torch.nn.Conv2d(56, 32, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.stem(x))
        y = torch.relu(self.conv1(y) + y)
        y = self.widen(y)
        return self.down(torch.relu(self.conv2(y) + y))


def _kernels(mod: Any) -> list[Any]:
    from tvm import tirx

    return [gv for gv, f in mod.functions_items() if isinstance(f, tirx.PrimFunc) and winograd.applies(f)]


LAYOUTS = {None: "auto", True: "tile-major", False: "point-major"}


@pytest.mark.parametrize("knobs", winograd.VARIANTS, ids=lambda k: f"tiles{k.tiles}-{LAYOUTS[k.tile_major]}")
def test_every_variant_matches_pytorch_with_a_batch_uneven_blocks_and_a_wide_image(knobs: winograd.Knobs) -> None:
    import tvm

    from devbench.backends.tvm_backend import prepare

    torch.manual_seed(0)
    net, x = _Wide().eval(), torch.randn(2, 3, 16, 20)
    target = tvm.target.Target(AVX512)
    mod, _ = prepare(net, x, target)
    kernels = _kernels(mod)
    assert len(kernels) == 2 and all(gv.name_hint.startswith("fused_conv2d_winograd") for gv in kernels), kernels
    for gv in kernels:
        mod[gv] = winograd.schedule(mod[gv], knobs).mod["main"].with_attr("tirx.is_scheduled", True)
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(run_scheduled(mod, target, x), expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize(("channels", "size", "stride", "target", "takes"), [
    (32, 32, 1, AVX512, True),    # narrow, but 1024 output pixels
    (32, 16, 1, AVX512, False),   # narrow and 256 pixels: the transforms cost more than they save
    (64, 16, 1, AVX512, True),
    (64, 8, 1, AVX512, False),    # 4 tiles: each transformed weight (4x the direct conv's) read for 4 tiles only
    (64, 16, 2, AVX512, False),
    (64, 18, 1, AVX512, False),   # no whole 4x4 tiles
    (64, 16, 1, NEON, False),     # not measured with 4-float vectors
    (32, 16, 1, ZEN4, True),      # one 512-bit FMA a cycle: the multiplies saved weigh more
    (64, 8, 1, ZEN4, True),
    (16, 32, 1, ZEN4, True),      # 64 tiles: laid out tile by tile, 0.65x the direct conv's time
    (16, 16, 1, ZEN4, False),     # under 1024 pixels (28x28 ones made a pruned WRN slower)
    (64, 4, 1, ZEN4, False),      # one tile: not measured
])
def test_a_conv_takes_winograd_only_where_it_was_measured_faster(
        channels: int, size: int, stride: int, target: dict[str, Any], takes: bool) -> None:
    import tvm

    from devbench.backends.tvm_backend import prepare

    net = torch.nn.Sequential(torch.nn.Conv2d(16, channels, 1), torch.nn.ReLU(),
                              torch.nn.Conv2d(channels, channels, 3, stride=stride, padding=1)).eval()
    mod, _ = prepare(net, torch.randn(1, 16, size, size), tvm.target.Target(target))
    assert bool(_kernels(mod)) is takes


def test_a_boundary_given_to_prepare_overrides_the_targets() -> None:
    import tvm

    from devbench.backends.tvm_backend import prepare

    net = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 1), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, padding=1)).eval()
    x, zen4 = torch.randn(1, 16, 16, 16), tvm.target.Target(ZEN4)
    assert _kernels(prepare(net, x, zen4)[0])  # Zen 4's own boundary takes it
    assert not _kernels(prepare(net, x, zen4, winograd=winograd.TWO_FMA_UNITS)[0])  # the Xeon's does not
    assert not _kernels(prepare(net, x, zen4, winograd=False)[0])


@pytest.mark.parametrize(("channels", "size", "tile_major"), [
    (32, 16, True),    # 74 KB of transformed input, 147 KB of transformed weights: tile by tile
    (128, 8, False),   # 2.4 MB of transformed weights: point by point
])
def test_the_transformed_buffers_are_laid_out_tile_by_tile_unless_the_weights_outgrow_l2(
        channels: int, size: int, tile_major: bool) -> None:
    import tvm

    from devbench.backends.tvm_backend import prepare

    net = torch.nn.Sequential(torch.nn.Conv2d(16, channels, 1), torch.nn.ReLU(),
                              torch.nn.Conv2d(channels, channels, 3, padding=1)).eval()
    mod, _ = prepare(net, torch.randn(1, 16, size, size), tvm.target.Target(ZEN4))
    (gv,) = _kernels(mod)

    def points_last(knobs: winograd.Knobs) -> list[bool]:
        """For the transformed input and the product: whether the 6x6 points are its inner axes."""
        root = winograd.schedule(mod[gv], knobs).mod["main"].body.block
        shapes = {b.name: [int(d) for d in b.shape] for b in root.alloc_buffers}
        shapes = [shapes[winograd.INPUT], shapes[winograd.PRODUCT]]
        assert all(shape[:2] == [winograd.ALPHA] * 2 or shape[4:6] == [winograd.ALPHA] * 2 for shape in shapes)
        return [shape[4:6] == [winograd.ALPHA] * 2 for shape in shapes]

    assert points_last(winograd.DEFAULT) == [tile_major] * 2
    assert points_last(winograd.Knobs(tile_major=not tile_major)) == [not tile_major] * 2
