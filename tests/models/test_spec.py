"""Specs as data: JSON round-trip, one-line errors naming the file and line, family checks."""

from __future__ import annotations

import pytest

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, build_model, densenet_bc_spec, resnet_spec, wrn_spec


def test_round_trip_every_family(small_specs, tmp_path):
    for key, spec in small_specs.items():
        path = spec.save(tmp_path / f"{key}.json")
        loaded = ArchSpec.load(path)
        assert loaded == spec
        assert ArchSpec.from_dict(spec.to_dict()) == spec


def test_malformed_spec_file_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "family": "wrn",\n  "inner": [[16, 16],\n}\n')
    with pytest.raises(DevbenchError) as e:
        ArchSpec.load(path)
    msg = str(e.value)
    assert str(path) in msg and ":4:" in msg and "\n" not in msg


def test_unknown_field_is_an_error(tmp_path):
    d = wrn_spec(16, 2).to_dict() | {"widht": 3}
    with pytest.raises(DevbenchError, match="widht"):
        ArchSpec.from_dict(d, source="x.json")


def test_wrn_needs_three_stages():
    spec = resnet_spec(18)  # four stages
    bad = ArchSpec(family="wrn", inner=spec.inner, stem_channels=16, stage_channels=spec.stage_channels)
    with pytest.raises(DevbenchError, match="needs 3 stages"):
        build_model(bad)


def test_densenet_input_too_small_for_its_pools():
    with pytest.raises(DevbenchError, match="too small"):
        build_model(densenet_bc_spec(40, input_shape=(3, 3, 3)))


@pytest.mark.parametrize("make", [lambda: wrn_spec(15, 2), lambda: resnet_spec(50), lambda: densenet_bc_spec(99)])
def test_bad_depth_is_a_user_error(make):
    with pytest.raises(DevbenchError, match="depth"):
        make()


def test_bottleneck_scales_inner_widths_only():
    base, half = wrn_spec(16, 2), wrn_spec(16, 2, bottleneck=0.5)
    assert half.stage_channels == base.stage_channels
    assert half.widths == [w // 2 for w in base.widths]
    assert half.name == "wrn_16_2_b0.5"
    assert min(densenet_bc_spec(40, bottleneck=0.001).widths) == 1
