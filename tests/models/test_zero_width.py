"""A block of inner width 0 is exactly the full block with every inner channel masked to zero."""

from __future__ import annotations

import pytest
import torch

from devbench.models import blocks, build_model, gates, resnet_spec, wrn_spec

from .conftest import removed


def masked_and_removed(spec, index):
    """The full model with block ``index`` masked by a gate hook, and the spec without it, same weights."""
    torch.manual_seed(0)
    full = build_model(spec)
    for m in full.modules():  # non-trivial BN statistics, so bn2(0) is not just its bias
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    gates(full)[index].register_forward_hook(lambda mod, inp, out: out * 0)
    small = build_model(removed(spec, index))
    small_keys = small.state_dict().keys()
    small.load_state_dict({k: v for k, v in full.state_dict().items() if k in small_keys})
    return full, small


# index 0: first block (stride 1, same width), 2 / 3: a stage's first block, which has a conv shortcut
@pytest.mark.parametrize("index", [0, 2, 3])
@pytest.mark.parametrize("make", [lambda: wrn_spec(16, 2), lambda: resnet_spec(20)], ids=["wrn", "resnet"])
def test_removed_block_equals_masked_block(make, index):
    spec = make()
    full, small = masked_and_removed(spec, index)
    removed_block = blocks(small)[index]
    assert not hasattr(removed_block, "conv1") and not hasattr(removed_block, "gate")
    assert len(gates(small)) == len(spec.widths) - 1
    x = torch.randn(2, *spec.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(small.eval()(x), full.eval()(x), rtol=0, atol=1e-6)
        torch.testing.assert_close(small.train()(x), full.train()(x), rtol=0, atol=1e-5)
    # training updates the statistics the same way (the removed ResNet block keeps bn2)
    for k, v in small.state_dict().items():
        torch.testing.assert_close(v, full.state_dict()[k], rtol=0, atol=1e-6, msg=k)


def test_all_blocks_removed_still_runs():
    spec = wrn_spec(10, 1).with_flat_widths([0, 0, 0])
    model = build_model(spec).eval()
    assert gates(model) == [] and len(blocks(model)) == 3
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
