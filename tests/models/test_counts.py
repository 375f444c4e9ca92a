"""Exact counts from the spec, checked against the real module (parameters and hooked conv/linear MACs)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from devbench.models import build_model, count_macs, count_params, get_spec


def hooked_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of every Conv2d and Linear, read from the shapes they actually produce."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        else:
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return total


@pytest.mark.parametrize("batch", [1, 2])
def test_counts_match_the_module(small_specs, batch):
    for key, spec in small_specs.items():
        model = build_model(spec).eval()
        assert count_params(spec) == sum(p.numel() for p in model.parameters()), key
        x = torch.randn(batch, *spec.input_shape)
        assert count_macs(spec, batch=batch) == hooked_macs(model, x), key


def test_macs_agree_with_torch_flop_counter(small_specs):
    from torch.utils.flop_counter import FlopCounterMode

    spec = small_specs["densenet_pruned_mnist"]
    model = build_model(spec).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, *spec.input_shape))
    assert counter.get_total_flops() == 2 * count_macs(spec)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("wrn_40_2", 2.20e6, 2.25e6),  # 2.2M in Zagoruyko & Komodakis
        ("wrn_16_2", 0.68e6, 0.70e6),  # 0.69M
        ("resnet56", 0.85e6, 0.86e6),  # 0.85M (He et al.; projection shortcuts add 2.7k)
        ("densenet_bc_100", 0.76e6, 0.80e6),  # 0.8M in Huang et al.
        ("resnet18", 11.1e6, 11.2e6),  # 11.2M, CIFAR adaptation
        ("resnet34", 21.2e6, 21.3e6),
    ],
)
def test_params_match_the_literature(name, low, high):
    assert low <= count_params(get_spec(name)) <= high


def test_literature_macs():
    assert 125e6 < count_macs(get_spec("resnet56")) < 127e6  # ~125M
    assert 0.28e9 < count_macs(get_spec("densenet_bc_100")) < 0.30e9  # ~0.29G
