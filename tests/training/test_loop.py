"""Training loop: run directory contents, resume after a crash, bad checkpoints."""

import csv
import json
import pathlib

import pytest
import torch

import devbench.training.loop as loop
from devbench.errors import DevbenchError
from devbench.training import TrainConfig, train

from .conftest import tiny_wrn

CFG = TrainConfig(epochs=2, batch_size=64, lr=0.05, train_subset=256)


def test_run_dir_has_spec_weights_metrics_history(tiny_run):
    names = {p.name for p in tiny_run.iterdir()}
    assert {"spec.json", "weights.pt", "metrics.json", "history.csv"} <= names
    assert "checkpoint.pt" not in names and not tiny_run.with_name("tiny.partial").exists()
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert m["params"] > 0 and m["macs"] > 0 and 0 <= m["test_error"] <= 1
    rows = list(csv.DictReader(open(tiny_run / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    # the WRN recipe's decay (x0.2 at 30% of the run) scaled to 2 epochs: one step, after epoch 1
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.05, 0.01])


def test_tensorboard_holds_the_history_curves(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tiny_run / loop.TENSORBOARD))
    events.Reload()
    rows = list(csv.DictReader(open(tiny_run / "history.csv")))
    for tag, column in (("test/error", "test_error"), ("train/loss", "train_loss"), ("lr", "lr")):
        scalars = events.Scalars(tag)
        assert [e.step for e in scalars] == [1, 2]
        assert [e.value for e in scalars] == pytest.approx([float(r[column]) for r in rows], rel=1e-6)


def _interrupt_in_epoch_2(synthetic, out, monkeypatch):
    """Run until the end of epoch 2 and die there, after epoch 1's checkpoint (as a killed job would)."""
    real = loop._write_history

    def crash_in_epoch_2(work, history):
        real(work, history)
        if len(history) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "_write_history", crash_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_wrn(), synthetic, out, CFG, progress=False)
    monkeypatch.setattr(loop, "_write_history", real)
    assert not out.exists() and (out.with_name(out.name + ".partial") / "checkpoint.pt").exists()


def test_resume_continues_where_it_stopped(synthetic, tmp_path, monkeypatch):
    straight = train(tiny_wrn(), synthetic, tmp_path / "a", CFG, progress=False)
    _interrupt_in_epoch_2(synthetic, tmp_path / "b", monkeypatch)

    resumed = train(tiny_wrn(), synthetic, tmp_path / "b", CFG, resume=True, progress=False)
    a = torch.load(straight / "weights.pt")
    b = torch.load(resumed / "weights.pt")
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert len(list(csv.DictReader(open(resumed / "history.csv")))) == 2


def test_checkpoint_of_another_spec_is_refused(synthetic, tmp_path, monkeypatch):
    _interrupt_in_epoch_2(synthetic, tmp_path / "c", monkeypatch)
    other = tiny_wrn().with_flat_widths([2, 2, 2, 2, 2, 2], name="other")
    with pytest.raises(DevbenchError, match="checkpoint of another spec"):
        train(other, synthetic, tmp_path / "c", CFG, resume=True, progress=False)


def test_finished_run_is_not_overwritten(synthetic, tiny_run):
    with pytest.raises(DevbenchError, match="already exists"):
        train(tiny_wrn(), synthetic, tiny_run, CFG, progress=False)


class _RunsCode:
    """Unpickling this calls ``Path.touch``: a stand-in for the shell command a crafted checkpoint ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_checkpoint_that_would_run_code_is_refused_and_does_not_run(synthetic, tmp_path, monkeypatch):
    _interrupt_in_epoch_2(synthetic, tmp_path / "d", monkeypatch)
    ckpt = tmp_path / "d.partial" / "checkpoint.pt"
    marker = tmp_path / "code-ran"
    good = torch.load(ckpt, weights_only=True)
    torch.save({**good, "history": _RunsCode(marker)}, ckpt)
    with pytest.raises(DevbenchError, match="refused: a checkpoint file may hold only tensors") as e:
        train(tiny_wrn(), synthetic, tmp_path / "d", CFG, resume=True, progress=False)
    assert "\n" not in str(e.value)
    assert not marker.exists()


def test_checkpoint_of_the_wrong_shape_is_refused(synthetic, tmp_path, monkeypatch):
    _interrupt_in_epoch_2(synthetic, tmp_path / "e", monkeypatch)
    ckpt = tmp_path / "e.partial" / "checkpoint.pt"
    torch.save({"epoch": "1"}, ckpt)
    with pytest.raises(DevbenchError, match="is not a devbench checkpoint"):
        train(tiny_wrn(), synthetic, tmp_path / "e", CFG, resume=True, progress=False)
