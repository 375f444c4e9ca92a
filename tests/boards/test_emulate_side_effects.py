"""`board emulate` leaves the user's files alone, fails fast on a busy port, and never mistakes a
zombie sshd for a running one. No qemu, sshd or root filesystem needed: these run everywhere."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from devbench.boards import emulate
from devbench.boards.sshd import LOOPBACK, _pid_alive
from devbench.errors import DevbenchError


def test_a_zombie_is_not_a_running_process() -> None:
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while _pid_alive(child.pid) and time.monotonic() < deadline:  # exited, not yet reaped: a zombie
        time.sleep(0.01)
    try:
        os.kill(child.pid, 0)  # the kernel still has the pid...
        assert not _pid_alive(child.pid)  # ...but nothing runs there
    finally:
        child.wait()
    assert _pid_alive(os.getpid())


def test_busy_port_is_found_before_the_root_filesystem_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Path] = []
    monkeypatch.setattr(emulate, "build_rootfs", lambda rootfs, log: built.append(rootfs) or 0.0)
    monkeypatch.setattr("devbench.boards.sshd.shutil.which", lambda name: f"/usr/sbin/{name}")
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        with pytest.raises(DevbenchError, match="already in use"):
            emulate.start(busy.getsockname()[1], log=lambda _: None)
    assert built == []

