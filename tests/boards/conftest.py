"""The emulated board for the tests that need it for real: qemu-user Python behind a loopback sshd.

The root filesystem is built once into the repository's ``.devbench/cache`` (about 35 s cold, 6 s with
warm apt/pip caches, 0 s when current) and shared by every run of the suite; everything else (sshd, keys,
wrapper, target file) lives in a temporary cache dir with a free port, so a test never touches a board
the user is running.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devbench.boards import emulate
from devbench.boards.rootfs import build_rootfs
from devbench.boards.sshd import free_port
from tests.conftest import SHARED_CACHE

#: skip marker of the tests that start the emulated board
NEEDS_EMULATION = pytest.mark.skipif(
    not (shutil.which("qemu-aarch64-static") and shutil.which("aarch64-linux-gnu-g++")
         and (shutil.which("sshd") or os.path.exists("/usr/sbin/sshd"))),
    reason="needs scripts/setup.sh (openssh-server, qemu-user-static, g++-aarch64-linux-gnu)",
)


@pytest.fixture(scope="session")
def shared_rootfs() -> Path:
    rootfs = SHARED_CACHE / "boards" / emulate.NAME / "rootfs"
    build_rootfs(rootfs)
    return rootfs


@pytest.fixture
def board(shared_rootfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[emulate.BoardStatus]:
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DEVBENCH_TARGETS_DIR", str(tmp_path / "targets"))
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    emulate.root().mkdir(parents=True, exist_ok=True)
    (emulate.root() / "rootfs").symlink_to(shared_rootfs)
    status = emulate.start(free_port(), log=lambda _: None)
    yield status
    emulate.stop()
