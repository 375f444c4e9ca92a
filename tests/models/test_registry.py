"""Names -> specs: registered names, bottleneck suffixes, shipped spec files, paths and weights."""

from __future__ import annotations

import pickle

import pytest
import torch

from devbench.errors import DevbenchError
from devbench.models import count_params, create_model, get_spec, list_models, registry, resolve, wrn_spec


def test_required_names_exist():
    names = list_models()
    for name in ("wrn_40_2", "wrn_16_2", "wrn_10_1", "resnet56", "resnet34", "resnet18", "resnet8",
                 "densenet_bc_100", "densenet_bc_100_k24", "wrn_40_2_b0.5", "resnet56_b0.25"):
        assert name in names
    assert len(names) == len(set(names))
    assert not any(n.startswith("pruned_") and n not in registry._spec_files() for n in names)


def test_pattern_filters_with_fnmatch():
    assert list_models("resnet5?") == ["resnet56"]
    assert list_models("resnet5*") == ["resnet56", "resnet56_b0.25", "resnet56_b0.5", "resnet56_b0.75"]
    assert all(n.startswith("densenet_bc_100") for n in list_models("densenet_bc_100*"))
    assert list_models("nothing*") == []


def test_get_spec_names_and_families():
    spec = get_spec("wrn_40_2")
    assert spec.family == "wrn" and spec.name == "wrn_40_2"
    assert spec.widths == [32] * 6 + [64] * 6 + [128] * 6
    assert get_spec("densenet_bc_100_k24").growth == 24
    assert get_spec("resnet34").inner == ((64,) * 3, (128,) * 4, (256,) * 6, (512,) * 3)


def test_bottleneck_suffix_on_any_name():
    spec = get_spec("densenet_bc_100_b0.5")  # not listed for 0.5? it is; an unlisted multiplier parses too
    assert set(spec.widths) == {24} and spec.name == "densenet_bc_100_b0.5"
    odd = get_spec("wrn_16_2_b0.3")
    assert odd.widths[0] == 10 and count_params(odd) < count_params(get_spec("wrn_16_2"))


def test_unknown_name_suggests_close_matches():
    with pytest.raises(DevbenchError) as e:
        get_spec("resnet55")
    msg = str(e.value)
    assert "resnet56" in msg and "devbench models" in msg and "\n" not in msg


def test_spec_files_register_under_their_stem_with_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "SPEC_DIR", tmp_path)
    spec = wrn_spec(10, 1).with_flat_widths([5, 0, 7], name="pruned_tiny")
    spec.save(tmp_path / "pruned_tiny.json")
    assert "pruned_tiny" in list_models("pruned_*")
    assert resolve("pruned_tiny") == (spec, None)

    trained = create_model("pruned_tiny")
    torch.save(trained.state_dict(), tmp_path / "pruned_tiny.pt")
    got, weights = resolve("pruned_tiny")
    assert got == spec and weights == tmp_path / "pruned_tiny.pt"
    loaded = create_model("pruned_tiny")
    expected = trained.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    assert resolve("pruned_tiny_b0.5")[1] is None  # scaled variants never reuse weights


def test_json_path_and_weights_pt_beside_it(tmp_path):
    run = tmp_path / "run1"
    path = wrn_spec(10, 1).save(run / "spec.json")
    assert resolve(str(path)) == (get_spec(str(path)), None)
    torch.save(create_model("wrn_10_1").state_dict(), run / "weights.pt")
    assert resolve(path)[1] == run / "weights.pt"


def test_weights_that_do_not_fit_are_a_user_error(tmp_path):
    path = wrn_spec(10, 1).save(tmp_path / "net.json")
    torch.save(create_model("resnet8").state_dict(), tmp_path / "net.pt")
    with pytest.raises(DevbenchError, match="do not fit"):
        create_model(path)
    assert create_model(path, weights=False) is not None


@pytest.mark.parametrize("content, words", [
    (b"", "not a weights file written by torch.save"),
    (b"hello\n", "not a weights file written by torch.save"),
    (pickle.dumps({"a": 1}), "refused: a weights file may hold only tensors"),
])
def test_a_file_that_is_not_torch_weights_is_a_one_line_error(tmp_path, content, words):
    path = wrn_spec(10, 1).save(tmp_path / "net.json")
    (tmp_path / "net.pt").write_bytes(content)
    with pytest.raises(DevbenchError, match=words) as e:
        create_model(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("weights", ["net.pt", "weights.pt"])
def test_a_folder_where_the_weights_would_be_is_an_error_not_random_weights(tmp_path, weights):
    path = wrn_spec(10, 1).save(tmp_path / "net.json")
    (tmp_path / weights).mkdir()
    with pytest.raises(DevbenchError, match=f"{weights} is not a weights file"):
        resolve(path)


@pytest.mark.parametrize("obj", [[1, 2], {"stem.0.weight": 1}, {0: torch.ones(1)}])
def test_a_torch_file_that_is_not_a_state_dict_is_a_one_line_error(tmp_path, obj):
    path = wrn_spec(10, 1).save(tmp_path / "net.json")
    torch.save(obj, tmp_path / "net.pt")
    with pytest.raises(DevbenchError, match="is not a state_dict"):
        create_model(path)


def test_a_run_directory_is_a_model_name_named_after_the_run(tmp_path):
    import torch

    from devbench.models import build_model, get_spec, resolve

    run = tmp_path / "reduced_try3"
    run.mkdir()
    get_spec("resnet8").save(run / "spec.json")
    torch.save(build_model(get_spec("resnet8")).state_dict(), run / "weights.pt")
    spec, weights = resolve(str(run))
    assert spec.name == "reduced_try3" and weights == run / "weights.pt"
    assert spec.inner == get_spec("resnet8").inner
