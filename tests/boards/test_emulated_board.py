"""The emulated aarch64 board for real: qemu-user Python behind sshd, a cross-compiled network on it.

The root filesystem is built once into devbench's real cache (about 35 s cold, 6 s with warm apt/pip caches,
0 s when current) and shared; everything else (sshd, keys, wrapper, target file) lives in a
temporary cache dir with a free port, so the test never touches a board the user is running.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from devbench.boards import emulate
from devbench.boards.rootfs import build_rootfs
from devbench.boards.sshd import free_port, port_open
from devbench.doctor import doctor
from devbench.errors import DevbenchError
from devbench.paths import cache_dir
from devbench.targets import get_target
from devbench.transports.base import BoardJob
from devbench.transports.ssh import SSHTransport

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("qemu-aarch64-static") and shutil.which("aarch64-linux-gnu-g++")
             and (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd"))),
        reason="needs scripts/setup.sh (openssh-server, qemu-user-static, g++-aarch64-linux-gnu)",
    ),
]


class TinyResNet(torch.nn.Module):
    """conv-bn-relu, a residual conv, global pooling, a classifier: resnet's pieces, in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8)
        self.c2, self.fc = torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.b1(self.c1(x)))
        return self.fc(torch.relu(self.c2(y) + y).mean((2, 3)))


def cross_compile(model: torch.nn.Module, x: torch.Tensor, target_dict: dict, path: Path) -> None:
    import tvm
    from tvm.relax.frontend.torch import from_exported_program

    mod = from_exported_program(torch.export.export(model, (x,)), keep_params_as_input=False)
    executable = tvm.compile(mod, target=tvm.target.Target(target_dict))
    executable.export_library(str(path), cc="aarch64-linux-gnu-g++")


@pytest.fixture(scope="module")
def shared_rootfs() -> Path:
    rootfs = cache_dir("boards", emulate.NAME) / "rootfs"
    build_rootfs(rootfs)
    return rootfs


@pytest.fixture
def board(shared_rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DEVBENCH_TARGETS_DIR", str(tmp_path / "targets"))
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    emulate.root().mkdir(parents=True, exist_ok=True)
    (emulate.root() / "rootfs").symlink_to(shared_rootfs)
    status = emulate.start(free_port(), log=lambda _: None)
    yield status
    emulate.stop()


def test_emulated_board_runs_a_cross_compiled_network(board: emulate.BoardStatus, tmp_path: Path) -> None:
    assert board.running and board.build_s == 0.0  # the shared root filesystem was reused
    with pytest.raises(DevbenchError, match="already runs on port"):
        emulate.start(board.port + 1)
    target = get_target(emulate.NAME)  # the user target file written for the non-default port
    assert target.ssh.port == board.port and target.emulated

    diagnosis = doctor(target)
    assert diagnosis.probe["environment"]["machine"] == "aarch64"
    assert diagnosis.probe["environment"]["qemu"] is True
    assert diagnosis.ok, diagnosis.lines()  # tvm present, at the host's version

    torch.manual_seed(0)
    model, x = TinyResNet().eval(), torch.randn(1, 3, 32, 32)
    cross_compile(model, x, target.tvm_target_dict(), tmp_path / "net.so")
    np.save(tmp_path / "input.npy", x.numpy())
    job = BoardJob(
        files={"net.so": tmp_path / "net.so", "input.npy": tmp_path / "input.npy"},
        args=["--backend", "tvm", "--artifact", "net.so", "--input", "input.npy", "--threads", "1",
              "--warmup", "1", "--repeats", "3", "--out", "result.json"],
    )
    with SSHTransport(target) as t:
        result = t.run(job)
    assert "error" not in result, result
    assert result["environment"]["machine"] == "aarch64"
    np.testing.assert_allclose(np.array(result["output"]), model(x).detach().numpy(), atol=1e-4)

    assert emulate.stop() and not port_open(board.port)
    assert not emulate.status().running
