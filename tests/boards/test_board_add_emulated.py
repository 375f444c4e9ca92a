"""Issue 18's "done" on the emulated board: `board add` writes a target that `run` measures with no
further flags, and a `Host jetson` of ~/.ssh/config pointing at the board is a target as it is."""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path

import pytest

from devbench.boards import emulate
from devbench.targets import get_target
from tests.boards.conftest import NEEDS_EMULATION
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, NEEDS_EMULATION]


def test_an_added_board_and_an_ssh_config_host_measure_on_the_emulated_board(board: emulate.BoardStatus) -> None:
    user, key = getpass.getuser(), str(board.key_file)
    refused = run_cli("board", "add", "mypi", "--host", f"{user}@127.0.0.1:{board.port}", "--key", key)
    assert refused.returncode == 2 and "unknown host key" in refused.stderr  # the rules of `run`
    added = run_cli("board", "add", "mypi", "--host", f"{user}@127.0.0.1:{board.port}", "--key", key,
                    "--trust-new-host")
    assert added.returncode == 0, added.stderr
    assert "probed: python 3.11" in added.stdout and "tvm 0.27" in added.stdout  # what the board has
    written = tomllib.loads(Path(get_target("mypi").source).read_text())
    # qemu seen; what imports there (executorch needs no torch: onnxruntime and torch are not there)
    assert written["emulated"] is True and written["backends"] == ["tvm", "executorch"]
    assert written["tvm"]["target"]["mtriple"] == "aarch64-linux-gnu" and written["ssh"]["python"] == "python3"

    measured = run_cli("run", "--target", "mypi", "--model", "pruned_resnet")  # no --backend: the target's
    assert measured.returncode == 0, measured.stderr
    assert "| mypi " in measured.stdout and "| tvm " in measured.stdout and "| executorch " in measured.stdout

    ssh = Path(os.environ["HOME"]) / ".ssh"
    ssh.mkdir()
    (ssh / "config").write_text(f"Host jetson\n  HostName 127.0.0.1\n  Port {board.port}\n  User {user}\n"
                                f"  IdentityFile {key}\n")
    (ssh / "known_hosts").write_text(board.known_hosts.read_text())  # as a first `ssh jetson` leaves it
    jetson = run_cli("run", "--target", "jetson", "--model", "pruned_resnet", "--backend", "tvm")
    assert jetson.returncode == 0, jetson.stderr
    assert "| jetson " in jetson.stdout
    assert "jetson-orin-nano defaults" in jetson.stderr and "no Jetson GPU" in jetson.stderr
