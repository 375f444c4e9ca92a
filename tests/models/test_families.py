"""A family is described once: registering a new one in one place makes specs, builds, counts,
pruning bounds, schedules and reductions accept it, with nothing else edited."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, Family, PrunableBlock, build_model, count_macs, count_params, families
from devbench.models.counts import Tally
from devbench.models.families import BOTTLENECK, DEPTH, get_family, register_family
from devbench.training import reduce, schedule_for
from devbench.training.family import family_member


class PlainBlock(PrunableBlock):
    """conv3x3 -> bn -> relu -> conv3x3, no shortcut: its inner width may not be 0."""

    def __init__(self, cin: int, inner: int, cout: int) -> None:
        super().__init__(inner)
        self.add_branch(cin, cout, kernel1=3, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x)


class Plain(nn.Module):
    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        layers, cin = [nn.Conv2d(spec.input_shape[0], spec.stem_channels, 3, 1, 1, bias=False)], spec.stem_channels
        for widths, cout in zip(spec.inner, spec.stage_channels, strict=True):
            for w in widths:
                layers.append(PlainBlock(cin, w, cout))
                cin = cout
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(cin, spec.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def count_plain(spec: ArchSpec) -> Tally:
    t, hw, cin = Tally(), spec.input_shape[1:], spec.stem_channels
    t.conv(spec.input_shape[0], cin, 3, hw)
    for widths, cout in zip(spec.inner, spec.stage_channels, strict=True):
        for w in widths:
            t.conv(cin, w, 3, hw)
            t.bn(w)
            t.conv(w, cout, 3, hw)
            cin = cout
    t.linear(cin, spec.num_classes)
    return t


TOY = Family("toy_plain", build=Plain, count=count_plain, schedule="densenet", min_inner=1,
             reductions={"bottleneck": BOTTLENECK, "depth": DEPTH})
SPEC = {"family": "toy_plain", "inner": [[8, 6], [4]], "stem_channels": 8, "stage_channels": [8, 12],
        "input_shape": [1, 12, 12], "num_classes": 5, "name": "toy"}


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> Family:
    """The toy family, registered for one test only (a copy of the registry is restored after it)."""
    monkeypatch.setattr(families, "_FAMILIES", dict(families._FAMILIES))
    return register_family(TOY)


def test_an_unregistered_family_is_a_schema_error():
    with pytest.raises(DevbenchError, match=r"x\.json: family: should be .*'wrn'.*, got 'toy_plain'"):
        ArchSpec.from_dict(SPEC, source="x.json")


def test_a_family_registered_in_one_place_is_a_valid_spec_that_builds_and_counts(toy, tmp_path):
    spec = ArchSpec.load(ArchSpec.from_dict(SPEC).save(tmp_path / "toy.json"))
    assert spec.family == "toy_plain" and get_family(spec.family) is toy
    model = build_model(spec)
    assert model(torch.zeros(2, 1, 12, 12)).shape == (2, 5)
    assert count_params(spec) == sum(p.numel() for p in model.parameters())
    # every conv keeps the 12x12 map; the linear layer counts once
    assert count_macs(spec) == 144 * (1 * 8 * 9 + 8 * 8 * 9 * 2 + 8 * 6 * 9 + 6 * 8 * 9 + 8 * 4 * 9 + 4 * 12 * 9) + 60


def test_the_registration_is_what_validation_training_and_reduction_read(toy):
    with pytest.raises(DevbenchError, match="every toy_plain block needs an inner width >= 1"):
        ArchSpec.from_dict(SPEC | {"inner": [[8, 0], [4]]})
    spec = ArchSpec.from_dict(SPEC)
    assert schedule_for("toy_plain").name == "densenet"
    assert min(family_member(spec, count_params(spec) // 2, rule="profile", tolerance=0.2).widths) >= 1
    assert reduce(spec, count_params(spec) * 3 // 4, by="bottleneck", tolerance=0.2).family == "toy_plain"
    with pytest.raises(DevbenchError, match="a toy_plain network cannot be reduced by width"):
        reduce(spec, count_params(spec) // 2, by="width")


def test_a_family_is_registered_once(toy):
    with pytest.raises(ValueError, match="already registered"):
        register_family(TOY)
