"""Registering a run as a named model: the spec and weights pair the registry reads, and its refusals."""

import json
from pathlib import Path

import pytest
import torch

from devbench.cli import main
from devbench.errors import DevbenchError
from devbench.models import ArchSpec, create_model, resolve
from devbench.training import load_run, register_network


def test_register_writes_a_pair_the_registry_loads(tiny_run, tmp_path):
    spec_path, weights_path = register_network(tiny_run, "pruned_tiny", tmp_path)
    assert (spec_path.name, weights_path.name) == ("pruned_tiny.json", "pruned_tiny.pt")
    spec, found_weights = resolve(spec_path)
    assert spec.name == "pruned_tiny" and found_weights == weights_path
    run = load_run(tiny_run)
    assert spec.to_dict() | {"name": "", "meta": {}} == run.spec.to_dict() | {"name": "", "meta": {}}
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert spec.meta["trained"]["test_error"] == metrics["test_error"] and spec.meta["source"] == str(tiny_run)
    x = torch.randn(2, *spec.input_shape)
    with torch.no_grad():
        torch.testing.assert_close(create_model(spec_path).eval()(x), run.model.eval()(x), rtol=0, atol=0)
    assert not list(tmp_path.glob("*.tmp"))


def test_register_refuses_overwrite_builtin_names_and_bad_names(tiny_run, tmp_path):
    specs = tmp_path / "specs"  # tmp_path itself also holds this test's HOME
    specs.mkdir()
    register_network(tiny_run, "mine", specs)
    with pytest.raises(DevbenchError, match="already exists; pass --force"):
        register_network(tiny_run, "mine", specs)
    register_network(tiny_run, "mine", specs, force=True)
    for bad in ("resnet20", "wrn_16_8_b0.5", "../escape", "x.json", ""):
        with pytest.raises(DevbenchError):
            register_network(tiny_run, bad, specs)
    with pytest.raises(DevbenchError, match="not a finished run directory"):
        register_network(specs, "other", specs)
    assert sorted(p.name for p in specs.iterdir()) == ["mine.json", "mine.pt"]


def test_register_cli(tiny_run, tmp_path, capsys):
    assert main(["register", "--from", str(tiny_run), "--name", "cli_net", "--to", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cli_net.json" in out and "params" in out
    assert ArchSpec.load(tmp_path / "cli_net.json").name == "cli_net"
    assert main(["register", "--from", str(tiny_run), "--name", "cli_net", "--to", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_register_to_a_file_or_an_unwritable_place_is_one_line(tiny_run, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    for to, message in ((afile, f"--to {afile} is a file, not a folder; name a folder (made if missing)"),
                        (afile / "sub", f"--to {afile / 'sub'}: cannot write there (Not a directory)"),
                        (Path("/proc/devbench-regto"), "--to /proc/devbench-regto: cannot write there (")):
        assert main(["register", "--from", str(tiny_run), "--name", "ok1", "--to", str(to)]) == 2
        assert capsys.readouterr().err.startswith(f"devbench: error: {message}")
    assert afile.read_text() == "mine"
