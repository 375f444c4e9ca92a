"""The emulated Raspberry Pi: an aarch64 Python under qemu-user, reached over SSH on loopback.

Everything lives in ``{cache}/boards/emulated-pi`` (see :mod:`devbench.boards.paths`)::

    rootfs/          aarch64 Debian python3.11 + numpy + TVM runtime (~420 MB; built once, ~35 s cold)
    bin/python3      the board's python: qemu-aarch64-static -L rootfs rootfs/usr/bin/python3.11
    ssh/             sshd config, host key, client key, pid file, log
    home/            the board user's home directory
    known_hosts      the host key of 127.0.0.1:PORT, which the ``emulated-pi`` target trusts
    state.json       the port the board was last started on

Its sessions find ``bin/`` first on their PATH and have ``home/`` as HOME, so ``python3`` on this
board is its aarch64 Python, as on a real Pi. A start writes the ``emulated-pi`` target into the
user's target directory (``~/.config/devbench/targets/emulated-pi.toml``) with ``devbench board
add``'s own code, from a probe of the running board: nothing tells it from a real board but
``emulated = true``, which the probe sets because qemu runs its Python. A start that finds the file
up to date leaves it alone; a file of that name that devbench did not write is the user's and stays
(the built-in ``targets/emulated-pi.toml`` is the target before the board ever ran).
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devbench.boards import add
from devbench.boards.add import BoardRequest
from devbench.boards.paths import board_dir
from devbench.boards.rootfs import GUEST_PYTHON, SITE_DIR, build_rootfs
from devbench.boards.sshd import LOOPBACK, LoopbackSSHD
from devbench.errors import DevbenchError

NAME = "emulated-pi"
DEFAULT_PORT = 2222


@dataclass(frozen=True)
class BoardStatus:
    name: str
    host: str
    port: int
    pid: int | None
    python: Path
    known_hosts: Path
    key_file: Path
    build_s: float = 0.0

    @property
    def running(self) -> bool:
        return self.pid is not None


def root() -> Path:
    return board_dir(NAME)


def python_wrapper() -> Path:
    return root() / "bin" / "python3"


def known_hosts() -> Path:
    return root() / "known_hosts"


def _state_file() -> Path:
    return root() / "state.json"


def _saved_port() -> int:
    try:
        return int(json.loads(_state_file().read_text())["port"])
    except (OSError, ValueError, KeyError):
        return DEFAULT_PORT


def write_python_wrapper(rootfs: Path, path: Path) -> None:
    """The board's ``python3``: the aarch64 interpreter under qemu, with the wheels on its path."""
    qemu = shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise DevbenchError("qemu-aarch64-static not found; install it with: apt-get install qemu-user-static")
    r = shlex.quote(str(rootfs))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        "# devbench emulated aarch64 board: Debian's python3.11 for arm64 under qemu-user.\n"
        "unset PYTHONHOME\n"
        f"export PYTHONPATH={r}/{SITE_DIR} PYTHONNOUSERSITE=1 DEVBENCH_EMULATED=1\n"
        f"exec {shlex.quote(qemu)} -L {r} {r}/{GUEST_PYTHON} \"$@\"\n"
    )
    path.chmod(0o755)


def _sshd(port: int) -> LoopbackSSHD:
    return LoopbackSSHD(root() / "ssh", port, path_first=python_wrapper().parent, home=root() / "home")


def board_request(port: int) -> BoardRequest:
    """The emulated board as ``board add`` sees it: loopback, its own client key and known_hosts
    (under ``{cache}``, so the target follows ``$DEVBENCH_CACHE_DIR``), the Pi 4's core assumed
    (qemu-user shows the host's /proc/cpuinfo)."""
    board = f"{{cache}}/boards/{NAME}"
    return BoardRequest(NAME, LOOPBACK, port, key_file=f"{board}/ssh/client_ed25519",
                        known_hosts=f"{board}/known_hosts", workdir="/tmp/devbench-emulated", like="pi4")


def write_target(port: int) -> Path | None:
    """Write the ``emulated-pi`` target as ``board add`` writes any board's; the file when it was
    (re)written, ``None`` when it was up to date or is the user's own."""
    path = add.target_path(NAME)
    if path.exists() and not add.written_by_devbench(path):
        if port != DEFAULT_PORT:
            raise DevbenchError(f"{path} exists and was not written by devbench; set its [ssh] port = {port} yourself")
        return None
    added = add.add_board(board_request(port))
    return added.path if added.changed else None


def status() -> BoardStatus:
    sshd = _sshd(_saved_port())
    return BoardStatus(
        NAME, LOOPBACK, sshd.port, sshd.pid(), python_wrapper(), known_hosts(), sshd.client_key
    )


def start(port: int = DEFAULT_PORT, log: Callable[[str], None] = print) -> BoardStatus:
    """Build (or reuse) the root filesystem and start the board's sshd on ``127.0.0.1:port``."""
    current = status()
    if current.running:
        if current.port == port:
            return current
        raise DevbenchError(f"{NAME} already runs on port {current.port}; stop it first: devbench board emulate --stop")
    sshd = _sshd(port)
    sshd.check_startable()  # a bad or busy port, or no sshd, before the slow root filesystem build
    rootfs = root() / "rootfs"
    build_s = build_rootfs(rootfs, log=log)
    write_python_wrapper(rootfs, python_wrapper())
    sshd.start()
    sshd.write_known_hosts(known_hosts())
    _state_file().write_text(json.dumps({"port": port}))
    written = write_target(port)
    if written is not None:
        log(f"target {NAME} written to {written}")
    s = status()
    return BoardStatus(s.name, s.host, s.port, s.pid, s.python, s.known_hosts, s.key_file, build_s)


def stop() -> bool:
    """Stop the board's sshd; ``True`` if it was running."""
    return _sshd(_saved_port()).stop()
