"""`devbench tune` on a board reached over plain SSH: TVM's RPC server started on the board through
the SSH connection, measured through a tracker on this machine, nothing left running afterwards.

The fast tests use a loopback sshd with this machine's Python as the board; the slow one tunes on
the emulated aarch64 board (qemu-user behind sshd, tests/boards/conftest.py) as a user would.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from devbench.bench import MeasureSettings, run_matrix
from devbench.boards import emulate
from devbench.boards.sshd import LOOPBACK, LoopbackSSHD, free_port, port_open
from devbench.errors import DevbenchError
from devbench.results import ResultStore
from devbench.targets import TRANSPORTS, Target, get_target, target_from_dict
from devbench.transports.ssh import SSHTransport
from devbench.tuning.database import open_database
from devbench.tuning.runners import RUNNERS
from devbench.tuning.ssh_rpc import _Server, _ToLocalPort, board_rpc
from tests.boards.conftest import NEEDS_EMULATION, board, shared_rootfs  # noqa: F401 (fixtures)
from tests.conftest import run_cli
from tests.transports.test_ssh_transport import board_target

#: what only the board script's processes have on their command line (the server and its sessions)
SERVER_MARK = "_connect_proxy_loop"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSSHD]:
    server = LoopbackSSHD(tmp_path_factory.mktemp("sshd"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def x86_board(sshd: LoopbackSSHD, tmp_path: Path) -> Target:
    """This machine's Python as an SSH board whose known_hosts trusts ``sshd``."""
    sshd.write_known_hosts(tmp_path / "known_hosts")
    return board_target(sshd, tmp_path)


def board_processes(link: paramiko.Transport) -> list[str]:
    """The board's live processes as ``pgid stat args``, zombies left out: an init that never reaps
    (a container's) keeps the dead children of a killed server listed, and they run nothing."""
    chan = link.open_session()
    chan.exec_command("ps -eo pgid=,stat=,args=")
    out = chan.makefile("rb").read().decode(errors="replace")
    chan.close()
    return [line for line in out.splitlines() if not line.split()[1].startswith("Z")]


def test_every_transport_can_be_tuned() -> None:
    assert set(RUNNERS) == set(TRANSPORTS)


def test_the_forward_reaches_a_port_here_from_the_board(x86_board: Target) -> None:
    """A connection the board makes to the forwarded port is piped to a port on this machine, both ways."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(1)

        def echo() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(conn.recv(100).upper())

        threading.Thread(target=echo, daemon=True).start()
        with SSHTransport(x86_board) as ssh:
            link = ssh.link()
            forwarded = link.request_port_forward(LOOPBACK, 0, handler=_ToLocalPort(listener.getsockname()[1]))
            with socket.create_connection((LOOPBACK, forwarded), timeout=10) as board_side:  # the board's loopback
                board_side.sendall(b"ping")
                assert board_side.recv(100) == b"PING"
            link.cancel_port_forward(LOOPBACK, forwarded)
            assert not port_open(forwarded)


def test_a_server_that_ignores_the_closed_channel_is_killed_by_pid(x86_board: Target) -> None:
    with SSHTransport(x86_board) as ssh:
        link = ssh.link()
        server = _Server(link, "exec sleep 600", 5.0)  # sleep never reads its stdin
        deadline = time.monotonic() + 10
        while server.pid is None and time.monotonic() < deadline:
            time.sleep(0.05)
        server.stop(link, 1.0)
        assert [line for line in board_processes(link) if line.split()[0] == str(server.pid)] == []


def test_a_board_without_tvm_is_one_line(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    python = tmp_path / "python-without-site-packages"  # this machine's Python, TVM out of its path
    python.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    python.chmod(0o755)
    sshd.write_known_hosts(tmp_path / "known_hosts")
    target = board_target(sshd, tmp_path, python=str(python))
    with pytest.raises(DevbenchError, match="has no TVM Python package") as e:
        with board_rpc(target):
            pass
    assert "\n" not in str(e.value) and "install apache-tvm==" in str(e.value)


def test_the_server_serves_sessions_and_is_gone_after_ctrl_c(x86_board: Target) -> None:
    from tvm import rpc

    with pytest.raises(KeyboardInterrupt), board_rpc(x86_board) as served:
        tracker = rpc.connect_tracker(served.tracker_host, served.tracker_port)
        for _ in range(2):  # one session per measured candidate: the server comes back for the next
            session = tracker.request(served.key, session_timeout=60)
            assert session.device("cpu", 0).exist
            del session
        with SSHTransport(x86_board) as ssh:
            running = board_processes(ssh.link())
            assert any(line.split()[0] == str(served.server_pid) and SERVER_MARK in line for line in running)
        raise KeyboardInterrupt  # Ctrl-C while tuning
    with SSHTransport(x86_board) as ssh:
        left = [line for line in board_processes(ssh.link()) if line.split()[0] == str(served.server_pid)]
    assert left == []


def test_devbench_killed_while_tuning_leaves_nothing_running(sshd: LoopbackSSHD, tmp_path: Path) -> None:
    """kill -9: no cleanup runs here. The server sees its stdin close and kills its group; the
    tracker and proxy processes see their parent gone."""
    sshd.write_known_hosts(tmp_path / "known_hosts")
    ssh = {"host": LOOPBACK, "port": sshd.port, "key_file": str(sshd.client_key), "python": sys.executable,
           "known_hosts": str(tmp_path / "known_hosts"), "workdir": str(tmp_path / "work")}
    target = {"name": "x86-loopback", "transport": "ssh", "threads": 1, "backends": ["tvm"], "ssh": ssh}
    script = ("import json, sys, time\n"
              "from devbench.targets import target_from_dict\n"
              "from devbench.tuning.ssh_rpc import board_rpc\n"
              "with board_rpc(target_from_dict(json.loads(sys.argv[1]), 'test')) as b:\n"
              "    print(b.server_pid, b.tracker_port, flush=True)\n"
              "    time.sleep(600)\n")
    tuning = subprocess.Popen([sys.executable, "-c", script, json.dumps(target)], stdout=subprocess.PIPE, text=True)
    try:
        server_pid, tracker_port = (int(w) for w in tuning.stdout.readline().split())
    finally:
        tuning.kill()
        tuning.wait()
    deadline = time.monotonic() + 30
    with SSHTransport(target_from_dict(target, "test")) as board_ssh:
        while time.monotonic() < deadline:
            left = [line for line in board_processes(board_ssh.link()) if line.split()[0] == str(server_pid)]
            if not left and not port_open(tracker_port):
                break
            time.sleep(0.5)
    assert left == [] and not port_open(tracker_port)


@pytest.mark.slow
@NEEDS_EMULATION
def test_tune_over_ssh_on_the_emulated_board(board: emulate.BoardStatus, tmp_path: Path) -> None:  # noqa: F811
    r = run_cli("tune", "--model", "resnet8", "--target", emulate.NAME, "--trials", "4", "--format", "json",
                timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["seeded"] > 0 and report["trials"] > 0

    # Records of aarch64 kernels with times: only the board can have run those.
    target = get_target(emulate.NAME)
    records = open_database(target, create=False).get_all_tuning_records()
    assert len(records) == report["trials"]
    assert all("aarch64" in str(rec.target) and rec.run_secs and float(rec.run_secs[0]) > 0 for rec in records)

    with SSHTransport(target) as ssh:
        assert [line for line in board_processes(ssh.link()) if SERVER_MARK in line] == []

    # The next run on the board applies the tuning, and its row says so.
    store = ResultStore(tmp_path / "r.sqlite")
    (row,) = run_matrix(["resnet8"], [emulate.NAME], ["tvm"], MeasureSettings(), store, progress=False)
    assert row.status == "ok" and row.output_check == "pass", row.error
    assert row.tuned and row.trials == report["trials"]
    assert row.tuning_choice == "default" and row.tuned_via == ""  # the target's database, tuned for resnet8
