"""The conv template: every knob setting tuning may pick computes the same network as PyTorch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from devbench.backends import tvm_conv_template as template


class _Stage(torch.nn.Module):
    """Convs whose output channel blocks (3, then 2, at 16 lanes) and widths (12, 6) the tiles divide unevenly."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 48, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(48, 48, 3, padding=1)
        self.conv3 = torch.nn.Conv2d(48, 32, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv1(x))
        return self.conv3(torch.relu(self.conv2(y) + y))


def _prepared_stage() -> tuple[torch.nn.Module, torch.Tensor, Any, Any, list[Any]]:
    """:class:`_Stage`, its input, an AVX-512 target, the prepared module and its template convs' names."""
    import tvm
    from tvm import tirx

    from devbench.backends.tvm_backend import prepare

    torch.manual_seed(0)
    net, x = _Stage().eval(), torch.randn(1, 3, 12, 12)
    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    mod, _ = prepare(net, x, target)
    convs = [gv for gv, f in mod.functions_items() if isinstance(f, tirx.PrimFunc) and template.applies(f)]
    assert len(convs) == 3
    return net, x, target, mod, convs


@pytest.mark.parametrize("knobs", template.VARIANTS, ids=lambda k: f"reg{k.reg_n}-oc{k.oc_tile}")
def test_every_variant_matches_pytorch(knobs: template.Knobs) -> None:
    net, x, target, mod, convs = _prepared_stage()
    for gv in convs:
        mod[gv] = template.schedule(mod[gv], knobs).mod["main"].with_attr("tirx.is_scheduled", True)
    with torch.no_grad():
        np.testing.assert_allclose(run_scheduled(mod, target, x), net(x).numpy(), rtol=1e-4, atol=1e-4)


def run_scheduled(mod: Any, target: Any, x: torch.Tensor) -> np.ndarray:
    """``mod``'s output for ``x``, every kernel not scheduled yet given its untuned schedule."""
    import tvm
    from tvm import relax

    from devbench.backends.tvm_backend import _finish_pipeline, default_schedule

    with target:
        mod = default_schedule(mod, target)
    vm = relax.VirtualMachine(tvm.compile(mod, target=target, relax_pipeline=_finish_pipeline(target)), tvm.cpu())
    return vm["main"](tvm.runtime.tensor(x.numpy(), tvm.cpu())).numpy()


def test_the_default_tile_has_the_most_accumulators_then_the_most_channel_blocks() -> None:
    """16 accumulators where the width and blocks allow, taller where two tiles tie (each broadcast input
    pixel then serves more FMAs), never a short tile for the sake of height (a 7-wide row of 4 blocks)."""
    d = template.DEFAULT
    assert template.tile(32, 1, d) == (16, 1)  # one block: pixels only
    assert template.tile(16, 2, d) == (8, 2)  # resnet20's 16 -> 32 channel stride-2 conv (was 16 x 1)
    assert template.tile(8, 4, d) == (4, 4)
    assert template.tile(7, 4, d) == (7, 2)  # 14 accumulators, not 1 x 4
    assert template.tile(14, 4, d) == (7, 2)
    assert template.tile(7, 3, d) == (7, 1)
    assert template.tile(28, 6, template.Knobs(16, 4)) == (14, 3)  # explicit knobs: the largest divisors


def test_the_padded_rows_are_copied_a_channel_block_at_a_time() -> None:
    """Left to LLVM, a stride-2 conv's padding was copied a float at a time (nearly half its time)."""
    from tvm import tirx

    _, _, _, mod, convs = _prepared_stage()
    for gv in convs:
        sch = template.schedule(mod[gv])
        lanes = sch.get(sch.get_loops(sch.get_sblock("data_pad"))[-1])
        assert lanes.kind == tirx.ForKind.VECTORIZED
        assert int(lanes.extent) in (3, 16)  # the input's channel block: the image's 3 channels, then 16 of 48
