"""A setting torch would refuse deep in its own code (a device it cannot parse or this machine
lacks, a learning rate of -1) is one line, exit 2, before ``train`` makes its ``.partial``
directory; an ``--out`` that is a file or cannot be made is said as such."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from devbench.errors import DevbenchError
from devbench.training import PruneConfig, TrainConfig, check_device, train
from tests.conftest import run_cli
from tests.training.conftest import tiny_wrn


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "CUDA", "meta", "cuda:-1"])
def test_device_torch_cannot_train_on_is_named(device: str) -> None:
    with pytest.raises(DevbenchError, match=rf"--device '{device}' is not a device devbench trains on; use cpu, cuda"):
        check_device(device)


def test_gpu_this_machine_lacks_is_named() -> None:
    with pytest.raises(DevbenchError, match=r"--device 'cuda:99': this machine has"):
        check_device("cuda:99")
    if not torch.cuda.is_available():
        with pytest.raises(DevbenchError, match="no CUDA GPU"):
            check_device("cuda")


def test_cpu_and_the_default_are_devices() -> None:
    assert check_device("cpu") == torch.device("cpu")
    assert check_device(None).type in ("cpu", "cuda")


@pytest.mark.parametrize("lr", [-1.0, 0.0, float("nan"), float("inf")])
def test_learning_rate_must_be_above_zero(lr: float) -> None:
    with pytest.raises(DevbenchError, match=r"--lr .* it must be a finite number above 0"):
        TrainConfig(lr=lr)
    with pytest.raises(DevbenchError, match=r"--lr .* it must be a finite number above 0"):
        PruneConfig(lr=lr)


def test_other_prune_settings_are_checked() -> None:
    with pytest.raises(DevbenchError, match="weight_decay -0.1 is not allowed"):
        PruneConfig(weight_decay=-0.1)
    with pytest.raises(DevbenchError, match="--prune-every 0 is not allowed"):
        PruneConfig(prune_every=0)


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """An empty folder for run directories (tmp_path itself holds the test's HOME)."""
    (tmp_path / "runs").mkdir()
    return tmp_path / "runs"


def test_a_refused_device_leaves_no_partial_directory(synthetic, runs: Path) -> None:
    with pytest.raises(DevbenchError, match="cuda:99"):
        train(tiny_wrn(), synthetic, runs / "run", TrainConfig(epochs=1, device="cuda:99"), progress=False)
    assert list(runs.iterdir()) == []


@pytest.mark.parametrize(("flags", "message"), [
    (["--lr", "-1"], "--lr -1.0 is not allowed: it must be a finite number above 0"),
    (["--device", "tpu"], "--device 'tpu' is not a device devbench trains on; use cpu, cuda, cuda:N or mps"),
])
def test_cli_refuses_before_any_directory(runs: Path, flags: list[str], message: str) -> None:
    done = run_cli("train", "--model", "resnet8", "--dataset", "synthetic", "--epochs", "1",
                   "--out", str(runs / "tr"), *flags)
    assert (done.returncode, done.stderr) == (2, f"devbench: error: {message}\n")
    assert list(runs.iterdir()) == []


def test_out_that_is_a_file_is_called_a_file(synthetic, runs: Path) -> None:
    (runs / "afile").write_text("mine")
    with pytest.raises(DevbenchError, match=r"afile is a file, not a run directory; choose another --out"):
        train(tiny_wrn(), synthetic, runs / "afile", TrainConfig(epochs=1), progress=False)
    with pytest.raises(DevbenchError, match=r"cannot make .*afile/x"):
        train(tiny_wrn(), synthetic, runs / "afile" / "x", TrainConfig(epochs=1), progress=False)
    assert [p.name for p in runs.iterdir()] == ["afile"]


def test_out_that_cannot_be_made_is_one_line(synthetic) -> None:
    with pytest.raises(DevbenchError, match=r"cannot make /proc/devbench-run"):
        train(tiny_wrn(), synthetic, Path("/proc/devbench-run"), TrainConfig(epochs=1), progress=False)
