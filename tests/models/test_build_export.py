"""Built networks: gates in spec order, clean identity gates, torch.export and small inputs."""

from __future__ import annotations

import pytest
import torch

from devbench.models import ChannelGate, build_model, densenet_bc_spec, gates, get_spec, resnet_spec, wrn_spec


def test_gates_follow_spec_widths(small_specs):
    for key, spec in small_specs.items():
        model = build_model(spec)
        assert [g.channels for g in gates(model)] == [w for w in spec.widths if w], key
        assert all(isinstance(g, ChannelGate) for g in gates(model))
        assert model.spec == spec


def test_every_block_names_its_parts_alike(small_specs):
    model = build_model(small_specs["densenet"])
    for g, module in zip(gates(model), [m for m in model.modules() if hasattr(m, "gate")], strict=True):
        assert module.gate is g and module.conv1.out_channels == g.channels == module.bn_inner.num_features
        assert module.conv2.in_channels == g.channels


@pytest.mark.parametrize(
    "spec",
    [
        wrn_spec(10, 1).with_flat_widths([8, 0, 20]),
        resnet_spec(8, input_shape=(1, 28, 28)).with_flat_widths([16, 0, 9]),
        densenet_bc_spec(10, growth=4, num_classes=3, input_shape=(1, 28, 28)),
    ],
    ids=["wrn", "resnet_mnist", "densenet_mnist"],
)
def test_torch_export_matches_eager(spec):
    model = build_model(spec).eval()
    x = torch.randn(1, *spec.input_shape)
    program = torch.export.export(model, (x,))
    ops = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not any("gate" in op for op in ops)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))
    assert model(x).shape == (1, spec.num_classes)


def test_registered_mini_network_is_tiny():
    assert sum(p.numel() for p in build_model(get_spec("wrn_10_1")).parameters()) < 100_000
