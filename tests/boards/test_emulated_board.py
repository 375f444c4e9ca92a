"""The emulated aarch64 board for real: qemu-user Python behind sshd, a cross-compiled network on it,
measured in one matrix with this machine.

The root filesystem is built once into the repository's ``.devbench/cache`` (about 35 s cold, 6 s with
warm apt/pip caches, 0 s when current) and shared by every run of the suite; everything else (sshd, keys,
wrapper, target file) lives in a temporary cache dir with a free port, so the test never touches a board
the user is running.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devbench.bench import MeasureSettings, run_matrix
from devbench.boards import emulate
from devbench.boards.rootfs import build_rootfs
from devbench.boards.sshd import free_port, port_open
from devbench.doctor import doctor
from devbench.errors import DevbenchError
from devbench.results import ResultStore
from devbench.targets import get_target
from tests.conftest import SHARED_CACHE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("qemu-aarch64-static") and shutil.which("aarch64-linux-gnu-g++")
             and (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd"))),
        reason="needs scripts/setup.sh (openssh-server, qemu-user-static, g++-aarch64-linux-gnu)",
    ),
]


@pytest.fixture(scope="module")
def shared_rootfs() -> Path:
    rootfs = SHARED_CACHE / "boards" / emulate.NAME / "rootfs"
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

    # The farm path as a user runs it: one matrix, the emulated board and this machine in parallel,
    # each cross-/compiled by the TVM backend, each output checked against PyTorch.
    store = ResultStore(tmp_path / "r.sqlite")
    rows = run_matrix(["resnet8"], [emulate.NAME, "local"], ["tvm"], MeasureSettings(), store, progress=False)
    by_target = {r.target: r for r in rows}
    emulated = by_target[emulate.NAME]
    assert emulated.status == "ok" and emulated.output_check == "pass", emulated.error
    assert emulated.emulated and emulated.environment["machine"] == "aarch64"
    assert emulated.n_samples == 3  # the target's [measure] defaults: emulated runs are slow
    assert by_target["local"].status == "ok" and not by_target["local"].emulated
    assert len(store.rows()) == 2

    assert emulate.stop() and not port_open(board.port)
    assert not emulate.status().running
