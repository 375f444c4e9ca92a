"""Compression: the dense network gives the masked network's outputs (zero-width blocks included)."""

import pytest
import torch

from devbench.models import build_model, count_params, densenet_bc_spec, resnet_spec
from devbench.training import Pruner, Random
from devbench.training.loop import sgd_step

from .conftest import tiny_wrn


def _randomise_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("make,zero_block", [
    (lambda: tiny_wrn(), 0),           # identity block pruned to nothing
    (lambda: tiny_wrn(), 2),           # a downsampling block: only its 1x1 shortcut remains
    (lambda: resnet_spec(8, input_shape=(3, 16, 16)).with_flat_widths([5, 6, 7], name="r"), None),
    (lambda: resnet_spec(8, input_shape=(3, 16, 16)).with_flat_widths([5, 6, 7], name="r"), 1),  # keeps bn2
    (lambda: densenet_bc_spec(10, growth=3, input_shape=(3, 16, 16)), None),
])
def test_compressed_matches_masked(make, zero_block):
    torch.manual_seed(0)
    spec = make()
    model = build_model(spec)
    _randomise_bn(model)
    pruner = Pruner(model, spec, Random(seed=3))
    g = torch.Generator().manual_seed(2)
    for i, m in enumerate(pruner.masks):
        drop = torch.randperm(len(m), generator=g)[: len(m) // 2]
        m[drop] = 0
        if i == zero_block:
            m.zero_()
    model.eval()
    x = torch.randn(4, *spec.input_shape)
    with torch.no_grad():
        masked = model(x)
    small_spec, small = pruner.compressed("small")
    small.eval()
    assert small_spec.widths == pruner.widths
    if zero_block is not None:
        assert small_spec.widths[zero_block] == 0
    assert count_params(small_spec) < count_params(spec)
    with torch.no_grad():
        torch.testing.assert_close(small(x), masked, rtol=1e-5, atol=1e-6)  # only summation order differs


def test_resnet_blocks_pruned_to_zero_compress_bitwise_exactly(synthetic):
    """A post-activation branch ends in ``bn2``: fully masked it still adds ``bn2(0)``, a per-channel
    constant (``beta - gamma * mean / sqrt(var + eps)``, or ``beta`` in training), not zero. The
    zero-width ResNet block keeps ``bn2`` for that, so removing whole blocks changes no bit: in eval
    and train mode, and in the running statistics, even after fine-tuning with the blocks masked has
    driven their ``bn2`` variance to ~0 (where ``1/sqrt(eps)`` would magnify any difference)."""
    torch.manual_seed(0)
    spec = resnet_spec(8, input_shape=synthetic.input_shape, num_classes=synthetic.num_classes)
    model = build_model(spec)
    _randomise_bn(model)
    pruner = Pruner(model, spec, Random(seed=3))
    pruner.masks[0].zero_()  # identity shortcut
    pruner.masks[1].zero_()  # downsampling block: 1x1 conv + BN shortcut
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = synthetic.train.images[:32].float() / 255, synthetic.train.labels[:32]
    for _ in range(60):
        sgd_step(model, opt, x, y)
    assert model.stages[1][0].bn2.running_var.max() < 0.01
    small_spec, small = pruner.compressed("small")
    assert small_spec.widths == [0, 0, 64]
    for mode in ("eval", "train"):
        with torch.no_grad():
            torch.testing.assert_close(getattr(small, mode)()(x), getattr(model, mode)()(x), rtol=0, atol=0)
    small_state = small.state_dict()
    for key, value in small_state.items():  # the train-mode pass updated the statistics identically
        torch.testing.assert_close(value, model.state_dict()[key], rtol=0, atol=0, msg=key)
