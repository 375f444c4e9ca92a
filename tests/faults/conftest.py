"""Boards behind real loopback sshds that can be broken on purpose.

Each board is this machine's Python behind its own OpenSSH server (its own port, keys, known_hosts
and work directory), so a fault is injected where it happens on a real board: the sshd is killed,
the runner is stopped, the disk fills, the host key changes, the board's python lies. The networks
are small resnet8 variants measured with onnxruntime, so a job takes about a second.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from devbench.bench import Job, MeasureSettings, make_jobs, run_jobs
from devbench.boards.sshd import LoopbackSSHD, free_port
from devbench.results import ResultRow, ResultStore
from devbench.targets import Target, target_from_dict
from devbench.transports import ssh as ssh_module

#: two rounds, so a fault can land between the rounds of a job; as few samples as give a row
SETTINGS = MeasureSettings(rounds=2, repeats=3, warmup=1, min_time_s=0.0)
#: two small networks: every board gets two jobs, one of which a fault may spare
MODELS = ["resnet8_b0.25", "resnet8_b0.5"]


@dataclass
class Board:
    """One loopback board: its sshd, work directory and target (``python`` runs the runner)."""

    name: str
    sshd: LoopbackSSHD
    root: Path
    python: str = sys.executable
    run_timeout_s: float = 60.0

    @property
    def workdir(self) -> Path:
        return self.root / "work"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    def ssh_table(self) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.sshd.port, "key_file": str(self.sshd.client_key),
                "known_hosts": str(self.known_hosts), "python": self.python, "workdir": str(self.workdir),
                "connect_timeout_s": 5.0, "run_timeout_s": self.run_timeout_s}

    def target(self) -> Target:
        return target_from_dict({"name": self.name, "transport": "ssh", "threads": 1, "backends": ["onnxruntime"],
                                 "ssh": self.ssh_table()}, "test")

    def toml(self) -> str:
        """This board as a ``[[target]]`` of a targets file, for the CLI."""
        ssh = "\n".join(f"{k} = {_toml_value(v)}" for k, v in self.ssh_table().items())
        return (f'[[target]]\nname = "{self.name}"\ntransport = "ssh"\nthreads = 1\nbackends = ["onnxruntime"]\n'
                f"[target.ssh]\n{ssh}\n")

    def kill_sshd(self) -> None:
        """The board's sshd dies as in a crash: the listener and every session, with SIGKILL."""
        pid = self.sshd.pid()
        if pid is None:
            return
        master = psutil.Process(pid)
        procs = [*master.children(recursive=True), master]
        for p in procs:
            if "sshd" in p.name():
                p.kill()
        psutil.wait_procs(procs, timeout=5)
        self.sshd.pid_file.unlink(missing_ok=True)

    def run_dirs(self) -> list[Path]:
        return sorted(self.workdir.glob("run-*")) if self.workdir.is_dir() else []


def _toml_value(v: object) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


@pytest.fixture(scope="session")
def shared_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One artifact cache for the fault tests: each network compiles once, not once per test."""
    return tmp_path_factory.mktemp("fault-artifacts")


@pytest.fixture(autouse=True)
def _fast_faults(shared_artifacts: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(shared_artifacts))
    monkeypatch.setattr(ssh_module, "BACKOFF_S", 0.1)  # a dead board is known in a second, not in three


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[Callable[..., Board]]:
    """A factory of started boards; all are stopped, and their orphaned runners killed, at the end."""
    made: list[Board] = []

    def make(name: str, **kwargs: object) -> Board:
        root = tmp_path / name
        board = Board(name, LoopbackSSHD(root / "sshd", free_port()), root, **kwargs)
        board.sshd.start()
        board.sshd.write_known_hosts(board.known_hosts)
        made.append(board)
        return board

    yield make
    for board in made:
        board.sshd.stop()
    kill_runners_under(tmp_path)


def kill_runners_under(root: Path) -> None:
    """Runners a killed sshd orphaned: they would outlive the test."""
    for p in psutil.process_iter(["cwd"]):
        if str(root) in (p.info.get("cwd") or ""):
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
            except psutil.NoSuchProcess:
                pass


def jobs_for(*boards: Board, models: list[str] = MODELS) -> list[Job]:
    return make_jobs(models, [b.target() for b in boards], ["onnxruntime"], SETTINGS)


def measure(jobs: list[Job], db: Path, resume: bool = False) -> list[ResultRow]:
    store = ResultStore(db)
    try:
        return run_jobs(jobs, store, resume=resume, progress=False)
    finally:
        store.close()


def stored(db: Path) -> list[ResultRow]:
    store = ResultStore(db)
    try:
        return store.rows(latest_only=False)
    finally:
        store.close()


def assert_every_job_ok_once(jobs: list[Job], db: Path) -> None:
    """What a finished matrix looks like: one ``ok`` row per job, none twice, an intact database."""
    ok = [r.job_id for r in stored(db) if r.status == "ok"]
    assert sorted(ok) == sorted(j.job_id for j in jobs), "a job is missing or stored twice"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> object:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def first_runner_pid(board: Board) -> int | None:
    """The pid of a runner started on ``board`` (its shell writes ``.pid`` before exec-ing python)."""
    for pid_file in board.workdir.glob("run-*/.pid"):
        text = pid_file.read_text().strip() if pid_file.exists() else ""
        if text.isdigit():
            return int(text)
    return None


def slow_python(root: Path, seconds: float) -> str:
    """A board python that takes ``seconds`` to start: a fault can be injected while it runs."""
    path = root / "slow-python"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\nsleep {seconds}\nexec {sys.executable} \"$@\"\n")
    path.chmod(0o755)
    return str(path)

