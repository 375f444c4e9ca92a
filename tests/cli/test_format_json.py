"""Every verb that prints a result can print it as one JSON document: stdout parses, nothing else is on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devbench.cli import main
from devbench.models import wrn_spec
from devbench.results import ResultStore


@pytest.fixture
def specs(tmp_path: Path) -> dict[str, Path]:
    pruned = wrn_spec(16, 2, input_shape=(1, 28, 28)).with_flat_widths([20, 9, 50, 31, 100, 60], name="pruned_x")
    base = wrn_spec(16, 2, input_shape=(1, 28, 28)).save(tmp_path / "base.json")
    return {"pruned": pruned.save(tmp_path / "pruned_x.json"), "base": base}


def _empty_results(path: Path) -> Path:
    """A results database with no rows yet (reading one that is not there is an error)."""
    store = ResultStore(path)
    store.prepare()
    store.close()
    return path


CHEAP = {  # verbs that need no training, compiling or measuring
    "models": lambda t, s: ["models", "wrn_*"],
    "targets": lambda t, s: ["targets"],
    "board list": lambda t, s: ["board", "list", "--no-check"],
    "report": lambda t, s: ["report", "--db", str(_empty_results(t / "results.db"))],
    "family": lambda t, s: ["family", "--from", str(s["pruned"]), "--budgets", "0.3M,600k", "--out", str(t / "fam")],
    "reduce": lambda t, s: ["reduce", "--like", str(s["pruned"]), "--base", str(s["base"]), "--by", "width",
                            "--out", str(t / "red.json")],
    "experiment --dry-run": lambda t, s: ["experiment", "smoke", "--dry-run", "--device", "cpu"],
}


@pytest.mark.parametrize("verb", CHEAP)
def test_format_json_prints_one_document(verb: str, tmp_path: Path, specs: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CHEAP[verb](tmp_path, specs), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert isinstance(doc, list | dict)
    if verb in ("family", "reduce"):  # what a program needs: where the spec is, and its widths
        for item in doc if isinstance(doc, list) else [doc]:
            assert Path(item["path"]).is_file() and item["widths"]


def test_doctor_format_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["doctor", "--target", "local", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["target"] == "local" and doc["ok"] == (code == 0) and {c["backend"] for c in doc["checks"]}


def test_train_prune_register_format_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = ["--dataset", "synthetic", "--epochs", "1", "--batch-size", "32", "--no-progress", "--format", "json"]
    assert main(["train", "--model", "wrn_10_1", *small, "--out", str(tmp_path / "run")]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["run"] == str(tmp_path / "run") and 0 <= run["test_error"] <= 1 and run["params"] > 0
    assert main(["prune", "--from", run["run"], "--prunes", "4", "--save-every", "2", "--prune-every", "1",
                 "--dataset", "synthetic", "--no-progress", "--format", "json"]) == 0
    stages = json.loads(capsys.readouterr().out)
    assert [s["prunes"] for s in stages] == [2, 4] and stages[1]["params"] < stages[0]["params"]
    assert main(["register", "--from", stages[1]["path"], "--name", "json_net", "--to", str(tmp_path / "specs"),
                 "--format", "json"]) == 0
    [registered] = json.loads(capsys.readouterr().out)
    assert Path(registered["spec"]).is_file() and registered["params"] == stages[1]["params"]


@pytest.mark.parametrize("verb", ["compile", "tune", "board", "doctor", "family", "reduce", "models", "targets",
                                  "train", "prune", "register", "plot", "experiment"])
def test_every_result_verb_offers_json(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["board", "list"] if verb == "board" else [verb]
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    assert "json" in capsys.readouterr().out
