"""Criteria and the pruner: masks, Fisher bookkeeping, choice of the channel to remove."""

import pytest
import torch
import torch.nn.functional as F

from devbench.models import blocks, build_model
from devbench.training import L1, Fisher, Pruner, Random
from devbench.training.data import Batches

from .conftest import tiny_wrn


def _model(seed=0):
    torch.manual_seed(seed)
    spec = tiny_wrn()
    return spec, build_model(spec)


def test_fisher_accumulates_half_mean_squared_sum_of_a_times_g(synthetic):
    spec, model = _model()
    pruner = Pruner(model, spec, Fisher())
    acts: dict[int, torch.Tensor] = {}

    def capture(i):  # independent capture of the (masked) gate activations and their gradients
        def hook(module, inputs, out):
            out.retain_grad()
            acts[i] = out

        return hook

    for i, b in enumerate(blocks(model)):
        b.gate.register_forward_hook(capture(i))
    expected = [torch.zeros(w) for w in spec.widths]
    for x, y in list(Batches(synthetic, synthetic.train, 16, train=True))[:2]:
        F.cross_entropy(model(x), y).backward()
        for i, a in acts.items():
            expected[i] += 0.5 * (a * a.grad).sum((2, 3)).pow(2).mean(0).detach()
    for got, want in zip(pruner.criterion.scores(pruner.blocks), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-12)


def test_prune_removes_exactly_the_lowest_saliency_channel_and_resets():
    spec, model = _model()
    crit = Fisher()
    pruner = Pruner(model, spec, crit)
    for i, w in enumerate(spec.widths):
        crit.acc[i] = torch.arange(w, dtype=torch.float) + 10.0 * (i + 1)
    crit.acc[3][5] = 0.5  # the global minimum
    event = pruner.prune_one()
    assert (event.block, event.channel, event.saliency) == (3, 5, 0.5)
    assert pruner.widths == [4, 4, 6, 5, 8, 8]
    assert crit.acc == {}
    # a removed channel is never chosen again, even if its score is the smallest
    crit.acc = {i: torch.full((w,), 1.0) for i, w in enumerate(spec.widths)}
    crit.acc[3][5] = -1.0
    crit.acc[0][2] = 0.25
    assert (pruner.prune_one().block, pruner.widths[0]) == (0, 3)


def test_masked_channel_outputs_zero(synthetic):
    spec, model = _model()
    pruner = Pruner(model, spec, Random())
    pruner.masks[1][2] = 0
    seen = {}
    blocks(model)[1].gate.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
    model(next(iter(Batches(synthetic, synthetic.test, 8, train=False)))[0])
    assert seen["out"][:, 2].abs().max() == 0 and seen["out"][:, 1].abs().max() > 0


def test_l1_ranks_by_absolute_value():
    spec, model = _model()
    b0 = blocks(model)[0]
    with torch.no_grad():
        for b in blocks(model):
            b.conv1.weight.fill_(1.0)
        b0.conv1.weight[0].fill_(-5.0)  # most negative sum, but the largest magnitude
        b0.conv1.weight[1].fill_(0.1)
    scores = L1().scores(blocks(model))
    assert scores[0].argmax().item() == 0
    event = Pruner(model, spec, L1()).prune_one()
    assert (event.block, event.channel) == (0, 1)


def test_densenet_layers_keep_one_channel():
    from devbench.models import densenet_bc_spec

    spec = densenet_bc_spec(10, growth=2, input_shape=(3, 8, 8))
    spec = spec.with_flat_widths([1] * len(spec.widths), name="thin")
    pruner = Pruner(build_model(spec), spec, Random())
    assert pruner.prunable() == 0
    with pytest.raises(Exception, match="no prunable channels"):
        pruner.prune_one()
