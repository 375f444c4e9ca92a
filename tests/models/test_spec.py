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


@pytest.mark.parametrize("field, value, words", [
    ("stem_channels", True, "stem_channels: should be a valid integer, got True"),
    ("stem_channels", 16.0, "stem_channels: should be a valid integer"),
    ("compression", float("nan"), "compression: should be a finite number"),
    ("inner", [[10**9, 16], [16, 16], [16, 16]], "inner[0][0]: should be less than or equal to 16384"),
    ("inner", [[[16]], [16], [16]], "inner[0][0]: should be a valid integer"),
    ("num_classes", "10", "num_classes: should be a valid integer, got '10'"),
    ("input_shape", [3, 32], "input_shape: List should have at least 3 items"),
    ("meta", {"trained": {"test_error": 5.0}}, "meta.trained.test_error: should be less than or equal to 1"),
    ("meta", {"trained": {"test_error": "abc"}}, "meta.trained.test_error: should be a valid number"),
    ("meta", {"trained": 5}, "meta.trained: should be a valid dictionary"),
])
def test_wrong_types_and_absurd_sizes_are_one_line_errors_naming_the_field(field, value, words):
    d = wrn_spec(10, 1).to_dict() | {field: value}
    with pytest.raises(DevbenchError) as e:
        ArchSpec.from_dict(d, source="x.json")
    assert str(e.value).startswith("x.json: ") and words in str(e.value) and "\n" not in str(e.value)


def test_meta_stays_free_form_but_for_the_recorded_test_error():
    meta = {"trained": {"test_error": 0.25, "epochs": 3, "dataset": "x"}, "anything": [1, {"a": None}]}
    assert ArchSpec.from_dict(wrn_spec(10, 1).to_dict() | {"meta": meta}).meta == meta


def test_a_field_error_in_a_file_names_its_line(tmp_path):
    path = wrn_spec(10, 1).save(tmp_path / "net.json")
    path.write_text(path.read_text().replace('"num_classes": 10', '"num_classes": true'))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "num_classes" in text)
    with pytest.raises(DevbenchError, match=rf"net\.json:{line}: num_classes: should be a valid integer"):
        ArchSpec.load(path)


def test_deeply_nested_json_is_a_one_line_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"family": "wrn", "inner": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DevbenchError, match="nested too deeply"):
        ArchSpec.load(path)


def test_specs_made_in_code_are_bounded_too():
    from devbench.models import get_spec

    with pytest.raises(DevbenchError, match=r"resnet20_b2000'?: inner\[0\]\[0\]: should be less than"):
        get_spec("resnet20_b2000")
    with pytest.raises(DevbenchError, match="bottleneck multiplier"):
        get_spec("resnet20_b" + "9" * 400)  # float('9' * 400) is inf


def test_a_spec_too_big_to_build_is_refused_before_allocating():
    spec = wrn_spec(16, 2).with_flat_widths([16384] * 6, name="huge")
    huge = ArchSpec.from_dict(spec.to_dict() | {"stage_channels": [16384] * 3})
    with pytest.raises(DevbenchError, match="huge.* parameters; devbench builds at most"):
        build_model(huge)
