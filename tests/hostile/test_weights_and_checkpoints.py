"""Hostile weights files (``register --from RUN``) and checkpoints (``train --resume``): nothing in
them may run code, and anything that is not what devbench wrote is a one-line error."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from devbench.models import create_model, wrn_spec


class RunsCode:
    """Unpickles by calling ``os.system``: what a crafted checkpoint did before weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _torch_file(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


#: case -> function(marker) -> bytes of weights.pt
WEIGHTS = {
    "empty": lambda m: b"",
    "text": lambda m: b"these are not weights\n",
    "code in a pickle": lambda m: pickle.dumps(RunsCode(m)),
    "code in a torch file": lambda m: _torch_file({"stem.0.weight": RunsCode(m)}),
    "a list": lambda m: _torch_file([1, 2, 3]),
    "numbers, not tensors": lambda m: _torch_file({"stem.0.weight": 1.0}),
    "another network": lambda m: _torch_file(create_model("resnet8").state_dict()),
    "truncated": lambda m: _torch_file(create_model("wrn_10_1").state_dict())[:5000],
}


@pytest.mark.parametrize("case", list(WEIGHTS))
def test_hostile_weights(devbench, tmp_path: Path, case: str) -> None:
    run, marker = tmp_path / "run", tmp_path / "code-ran"
    wrn_spec(10, 1).save(run / "spec.json")
    (run / "weights.pt").write_bytes(WEIGHTS[case](marker))
    devbench("register", "--from", run, "--name", "x", "--to", tmp_path / "to").assert_one_line_error("weights.pt")
    assert not marker.exists() and not (tmp_path / "to").exists()


CHECKPOINTS = {
    "code in a torch file": lambda m: _torch_file({"epoch": 1, "history": RunsCode(m)}),
    "code in a pickle": lambda m: pickle.dumps(RunsCode(m)),
    "garbage": lambda m: os.urandom(4096),
    "a list": lambda m: _torch_file([1]),
    "wrong types": lambda m: _torch_file({"spec": {}, "settings": {}, "epoch": "1", "model": {}, "optimizer": {},
                                          "generator": torch.zeros(1), "history": []}),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_hostile_checkpoint(devbench, tmp_path: Path, case: str) -> None:
    out, marker = tmp_path / "out", tmp_path / "code-ran"
    (tmp_path / "out.partial").mkdir()
    (tmp_path / "out.partial" / "checkpoint.pt").write_bytes(CHECKPOINTS[case](marker))
    devbench("train", "--model", "wrn_10_1", "--dataset", "synthetic", "--out", out, "--resume", "--epochs", "1",
             "--train-subset", "64", "--test-subset", "64", "--no-progress").assert_one_line_error("checkpoint.pt")
    assert not marker.exists() and not out.exists()
