"""Hostile spec files and model names: wrong types, absurd sizes, deep nesting, not JSON at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devbench.models import wrn_spec

GOOD = {k: v for k, v in wrn_spec(10, 1).to_dict().items() if k != "name"}  # named by its file: net

#: case -> file content (a dict is the good spec with these fields replaced; ... removes a field)
SPECS: dict[str, str | bytes | dict] = {
    "a JSON list": "[1, 2]",
    "unknown family": {"family": "vgg"},
    "boolean channels": {"stem_channels": True},
    "10^9 channels": {"stem_channels": 10**9},
    "10^400 width": {"inner": [[10**400], [16], [16]]},
    "NaN compression": '{"family": "densenet_bc", "inner": [[4]], "stem_channels": 8, "growth": 4, '
                       '"compression": NaN}',
    "deep nesting": '{"family": "wrn", "inner": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "string widths": {"inner": [["a"], [16], [16]]},
    "zero classes": {"num_classes": 0},
    "misspelled field": {"widht": 3},
    "missing inner": {"inner": ...},
    "empty stage": {"inner": [[], [16], [16]]},
    "name is a number": {"name": 5},
    "meta is a string": {"meta": "x"},
    "huge input": {"input_shape": [3, 100_000, 100_000]},
    "float width": {"inner": [[16.5], [16], [16]]},
    "not UTF-8": b"\xff\xfe{\x00",
    "too big to build": {"inner": [[16384], [16384], [16384]], "stage_channels": [16384] * 3},
}


def _write(path: Path, content: str | bytes | dict) -> Path:
    if isinstance(content, dict):
        d = {k: v for k, v in {**GOOD, **content}.items() if v is not ...}
        content = json.dumps(d)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _train(devbench, tmp_path: Path, model: str):
    """``train`` checks its spec before it trains; the limits keep a spec that passes (a bug) short."""
    return devbench("train", "--model", model, "--dataset", "synthetic", "--out", tmp_path / "out",
                    "--epochs", "1", "--train-subset", "64", "--test-subset", "64", "--no-progress")


@pytest.mark.parametrize("case", list(SPECS))
def test_hostile_spec_file(devbench, tmp_path: Path, case: str) -> None:
    spec = _write(tmp_path / "net.json", SPECS[case])
    _train(devbench, tmp_path, str(spec)).assert_one_line_error("net")


@pytest.mark.parametrize("path", ["missing.json", "dir.json"])
def test_spec_path_that_is_not_a_file(devbench, tmp_path: Path, path: str) -> None:
    (tmp_path / "dir.json").mkdir()
    _train(devbench, tmp_path, str(tmp_path / path)).assert_one_line_error("cannot read spec file")


@pytest.mark.parametrize("name", ["resnet20_b" + "9" * 400, "resnet20_b0", "resnet20_b5000"])
def test_hostile_bottleneck_name(devbench, tmp_path: Path, name: str) -> None:
    _train(devbench, tmp_path, name).assert_one_line_error()
