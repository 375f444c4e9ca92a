"""Faults on boards behind real sshds. Each is one row's error (or one line when it strikes before
anything is measured), every other row is stored, and ``--resume`` finishes the rest."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import paramiko
import psutil
import pytest

from devbench.board.protocol import RunRequest
from devbench.errors import DevbenchError
from devbench.results import ResultRow
from devbench.transports import ssh as ssh_module
from devbench.transports.base import BOARD_FILES
from devbench.transports.ssh import SSHTransport
from tests.conftest import has_ended, run_cli
from tests.faults.conftest import (
    MODELS,
    Board,
    assert_every_job_ok_once,
    first_runner_pid,
    jobs_for,
    measure,
    slow_python,
    stored,
    wait_for,
)
from tests.transports.test_ssh_transport import measure_job, tiny_onnx

QUICK = ["--rounds", "2", "--repeats", "3", "--warmup", "1", "--min-time", "0", "--backend", "onnxruntime"]


def errors_of(rows: list[ResultRow], board: Board) -> list[str]:
    return [r.error for r in rows if r.target == board.name and r.status != "ok"]


def ok_targets(rows: list[ResultRow]) -> list[str]:
    return sorted(r.target for r in rows if r.status == "ok")


def in_background(action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` beside the measurement; the test joins it (and so sees its assertion errors)."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as e:  # noqa: BLE001 - handed to the test thread by join_checked
            failures.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.failures = failures  # type: ignore[attr-defined]
    thread.start()
    return thread


def join_checked(thread: threading.Thread) -> None:
    thread.join(timeout=60)
    assert not thread.is_alive(), "the fault was never injected"
    if thread.failures:  # type: ignore[attr-defined]
        raise thread.failures[0]  # type: ignore[attr-defined]


def test_sshd_killed_mid_upload(boards: Callable[..., Board], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = boards("A"), boards("B")
    jobs, db = jobs_for(a, b), tmp_path / "r.sqlite"
    killed = threading.Event()
    put = paramiko.SFTPClient.put

    def put_and_crash(self: paramiko.SFTPClient, localpath: str, remotepath: str, **kwargs: object) -> object:
        def progress(done: int, total: int) -> None:
            if remotepath.startswith(str(b.workdir)) and done < total and not killed.is_set():
                killed.set()
                b.kill_sshd()  # 32 KiB of the network are on the board, the rest never arrives

        return put(self, localpath, remotepath, callback=progress)

    monkeypatch.setattr(paramiko.SFTPClient, "put", put_and_crash)
    rows = measure(jobs, db)
    assert killed.is_set()
    assert ok_targets(rows) == ["A", "A"]
    errors = errors_of(rows, b)
    assert len(errors) == 2 and all(re.search(r"(lost the connection to|cannot reach) board B at 127", e)
                                    for e in errors), errors
    b.sshd.start()
    measure(jobs, db, resume=True)
    assert_every_job_ok_once(jobs, db)


def test_sshd_killed_mid_run(boards: Callable[..., Board], tmp_path: Path) -> None:
    a, b = boards("A"), boards("B", python=slow_python(tmp_path / "bin", 1.0))
    jobs, db = jobs_for(a, b), tmp_path / "r.sqlite"
    crash = in_background(lambda: (wait_for(lambda: first_runner_pid(b), 60, "a runner on B"), b.kill_sshd()))
    rows = measure(jobs, db)
    join_checked(crash)
    assert ok_targets(rows) == ["A", "A"]
    errors = errors_of(rows, b)
    assert len(errors) == 2 and all("board B at 127" in e for e in errors), errors
    b.sshd.start()
    measure(jobs, db, resume=True)
    assert_every_job_ok_once(jobs, db)


def test_hung_board_process_is_ended_by_the_run_timeout(boards: Callable[..., Board], tmp_path: Path) -> None:
    a, b = boards("A"), boards("B", run_timeout_s=10.0)
    jobs, db = jobs_for(a, b), tmp_path / "r.sqlite"
    stopped: list[int] = []

    def stop_runner() -> None:
        pid = wait_for(lambda: first_runner_pid(b), 60, "a runner on B")
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)

    hang = in_background(stop_runner)
    rows = measure(jobs, db)
    join_checked(hang)
    assert ok_targets(rows) == ["A", "A", "B"]  # the other job of the hung board is stored too
    assert errors_of(rows, b) == [f"board B at 127.0.0.1:{b.sshd.port} did not finish within 10 s"]
    assert has_ended(stopped[0])
    assert b.run_dirs() == []
    measure(jobs, db, resume=True)
    assert_every_job_ok_once(jobs, db)


def test_full_disk_on_the_board_is_named_not_retried(boards: Callable[..., Board], tmp_path: Path) -> None:
    a, b = boards("A"), boards("B")
    b.workdir.mkdir(parents=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(b.workdir)], capture_output=True,
                           text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs as the board's disk: {mount.stderr.strip()}")
    try:
        # room for the runner and backend modules (page-rounded), not for the network that follows them
        room = sum(-(-p.stat().st_size // 4096) * 4096 for p in BOARD_FILES.values()) + 16384
        filler = b.workdir / "filler"
        filler.write_bytes(b"\0" * (2**20 - room))
        jobs, db = jobs_for(a, b), tmp_path / "r.sqlite"
        t0 = time.monotonic()
        rows = measure(jobs, db)
        assert ok_targets(rows) == ["A", "A"]
        errors = errors_of(rows, b)
        assert len(errors) == 2 and all(
            re.fullmatch(r"no space left on board B at 127\.0\.0\.1:\d+ \(while uploading model\.onnx to \S+/run-\w+\)"
                         r": \d+ KiB free there, model\.onnx is \d+ KiB", e) for e in errors), errors
        assert time.monotonic() - t0 < 60
        assert sorted(p.name for p in b.workdir.iterdir()) == ["filler"]  # the failed jobs' directories are gone
        filler.unlink()
        measure(jobs, db, resume=True)
        assert_every_job_ok_once(jobs, db)
    finally:
        subprocess.run(["umount", "-l", str(b.workdir)], check=False)


def test_changed_host_key_fails_the_rows_then_the_run_until_accepted(boards: Callable[..., Board], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssh_module, "BACKOFF_S", 1.0)  # the reconnect comes after the new sshd is up
    a, b = boards("A"), boards("B", python=slow_python(tmp_path / "bin", 1.0))
    jobs, db = jobs_for(a, b), tmp_path / "r.sqlite"

    def reinstall() -> None:  # the board comes back with a new host key in the middle of a run
        wait_for(lambda: first_runner_pid(b), 60, "a runner on B")
        b.kill_sshd()
        for key in b.sshd.root.glob("ssh_host_*"):
            key.unlink()
        b.sshd.start()

    swap = in_background(reinstall)
    rows = measure(jobs, db)
    join_checked(swap)
    assert ok_targets(rows) == ["A", "A"]
    errors = errors_of(rows, b)
    assert len(errors) == 2 and all(re.match(r"host key of board B at 127\S+ has CHANGED", e) for e in errors), errors

    targets = tmp_path / "boards.toml"
    targets.write_text(a.toml() + b.toml())
    args = ["run", "--targets-file", str(targets), "--target", "A,B", "--model", ",".join(MODELS), *QUICK,
            "--db", str(db), "--resume"]
    before = len(stored(db))
    proc = run_cli(*args, "--trust-new-host")  # trusting new keys never accepts a changed one
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "host key of board B" in proc.stderr and "CHANGED" in proc.stderr and "Traceback" not in proc.stderr
    assert len(stored(db)) == before  # refused before anything was measured
    b.sshd.write_known_hosts(b.known_hosts)  # the user checked the new key and accepted it
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert_every_job_ok_once(jobs, db)


def garbage_python(root: Path) -> Path:
    """A board whose python lies: its nth run prints nonsense and writes the nth kind of garbage as
    its result. It logs where it ran and that directory's mode."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "python3"
    path.write_text(
        "#!/bin/sh\n"
        f"echo \"$(pwd) $(stat -c %a .)\" >> {root}/calls\n"
        f"case $(wc -l < {root}/calls) in\n"
        "1) echo 'Segmentation fault ]]]'; printf '}{ not json' > result.json ;;\n"
        "2) printf '[1, 2, 3]' > result.json ;;\n"
        "*) printf '{\"samples_ms\": \"fast\", \"output\": \"yes\"}' > result.json ;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return path


def test_board_returning_garbage(boards: Callable[..., Board], tmp_path: Path) -> None:
    assert RunRequest().out == "result.json"  # where the fake python writes
    python = garbage_python(tmp_path / "bin")
    a, b = boards("A"), boards("B", python=str(python))
    jobs, db = jobs_for(a, b, models=[*MODELS, "resnet8"]), tmp_path / "r.sqlite"
    rows = measure(jobs, db)
    assert ok_targets(rows) == ["A", "A", "A"]
    errors = sorted(errors_of(rows, b))
    assert len(errors) == 3, errors
    assert re.fullmatch(r"runner on board B at \S+ wrote a malformed result \(not a JSON object, exit 0\): ", errors[0])
    assert re.fullmatch(r"runner on board B at \S+ wrote a malformed result \(not a JSON object, exit 0\): "
                        r"Segmentation fault \]\]\]", errors[1])
    assert errors[2] == "the board returned no latency samples"
    # every run had its own unpredictable mode-0700 directory, removed although the job failed
    calls = [line.split() for line in (tmp_path / "bin" / "calls").read_text().splitlines()]
    assert len({d for d, _ in calls}) == 3 and {m for _, m in calls} == {"700"}
    assert all(re.fullmatch(rf"{re.escape(str(b.workdir))}/run-[A-Za-z0-9]{{10}}", d) for d, _ in calls)
    assert b.run_dirs() == []
    python.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")  # the board is repaired
    measure(jobs, db, resume=True)
    assert_every_job_ok_once(jobs, db)


def serve(greeting: bytes) -> tuple[socket.socket, int]:
    """A TCP server on loopback that is no SSH server: it sends ``greeting`` (and then closes), or
    nothing at all and keeps the connection open."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if greeting:
                conn.sendall(greeting)
                conn.close()
            else:
                held.append(conn)

    threading.Thread(target=loop, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.parametrize(("greeting", "why"), [
    (b"hello\n", "it closed the connection without an SSH banner"),
    (b"220 mail.example.com ESMTP\r\n" * 101, "it sends text, not an SSH banner"),
    (b"", "no SSH banner within 2 s"),
], ids=["hello", "chatty", "silent"])
def test_a_port_that_is_not_an_ssh_server_is_one_line(greeting: bytes, why: str, tmp_path: Path) -> None:
    server, port = serve(greeting)
    targets = tmp_path / "t.toml"
    targets.write_text('name = "web"\ntransport = "ssh"\nthreads = 1\nbackends = ["onnxruntime"]\n'
                       f'[ssh]\nhost = "127.0.0.1"\nport = {port}\nconnect_timeout_s = 2.0\n')
    try:
        t0 = time.monotonic()
        proc = run_cli("run", "--targets-file", str(targets), "--target", "web", "--model", "resnet8", *QUICK)
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert re.match(rf"devbench: error: cannot reach board web at 127\.0\.0\.1:\d+: not an SSH server \({why}\);",
                    proc.stderr), proc.stderr
    assert elapsed < 30  # a silent port is not waited for three times


def test_refused_upload_is_one_line_not_retried(boards: Callable[..., Board], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A permission error during the upload (as root, the board's real one cannot be provoked)."""
    board = boards("B")
    x = tmp_path / "input.npy"
    np.save(x, np.ones((1, 4), dtype=np.float32))
    model = tiny_onnx(tmp_path / "tiny.onnx")
    refused: list[str] = []
    put = paramiko.SFTPClient.put

    def refuse(self: paramiko.SFTPClient, localpath: str, remotepath: str, **kwargs: object) -> object:
        if remotepath.endswith("tiny.onnx"):
            refused.append(remotepath)
            raise PermissionError(errno.EACCES, "Permission denied")
        return put(self, localpath, remotepath, **kwargs)

    monkeypatch.setattr(paramiko.SFTPClient, "put", refuse)
    with SSHTransport(board.target()) as t, pytest.raises(
            DevbenchError, match=r"^permission denied on board B at 127\S+ \(while uploading tiny\.onnx to \S+\)$"):
        t.run(measure_job("tiny.onnx", model, x))
    assert len(refused) == 1 and board.run_dirs() == []


def test_a_dropped_link_is_retried_and_its_orphaned_runner_removed(boards: Callable[..., Board],
                                                                   tmp_path: Path) -> None:
    board = boards("B", python=slow_python(tmp_path / "bin", 1.5))
    x = tmp_path / "input.npy"
    np.save(x, np.ones((1, 4), dtype=np.float32))
    model = tiny_onnx(tmp_path / "tiny.onnx")
    orphans: list[int] = []

    def drop_session() -> None:  # the link dies, the board's sshd and the runner live on
        orphans.append(wait_for(lambda: first_runner_pid(board), 60, "a runner"))
        for p in psutil.Process(board.sshd.pid()).children():
            p.kill()

    drop = in_background(drop_session)
    with SSHTransport(board.target()) as t:
        result = t.run(measure_job("tiny.onnx", model, x))
    join_checked(drop)
    assert "samples_ms" in result, result
    assert has_ended(orphans[0])
    assert board.run_dirs() == []
