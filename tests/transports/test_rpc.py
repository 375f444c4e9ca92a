"""A real TVM RPC tracker and server on loopback, and a network run through them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devbench.bench import MeasureSettings, run_matrix
from devbench.errors import DevbenchError
from devbench.results import ResultStore
from devbench.targets import load_target_file
from devbench.transports import open_transport

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_key(tracker_port: int, key: str, timeout_s: float = 60) -> None:
    from tvm import rpc

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if key in rpc.connect_tracker("127.0.0.1", tracker_port).text_summary():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"no RPC server registered as {key}")


@pytest.fixture
def farm(tmp_path: Path):
    """A tracker and one server registered under key 'loopback-board'; both stopped afterwards."""
    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1",
                               "--port", str(port), "--port-end", str(port + 1), "--silent"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    time.sleep(1.0)
    procs.append(subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_server", "--host", "127.0.0.1",
                                   "--port", str(free_port()), "--port-end", "65000",
                                   "--tracker", f"127.0.0.1:{port}", "--key", "loopback-board"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    try:
        wait_for_key(port, "loopback-board")
        target_file = tmp_path / "farm.toml"
        target_file.write_text(
            f'name = "farm-board"\ntransport = "rpc"\nthreads = 1\nbackends = ["tvm"]\n'
            f'[tvm]\ntarget = {{kind = "llvm"}}\n'
            f'[rpc]\ntracker_host = "127.0.0.1"\ntracker_port = {port}\nkey = "loopback-board"\n'
        )
        yield target_file
    finally:
        # whole process groups: the server runs each session in a worker process of its own
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=10)


def test_network_runs_through_tracker_and_output_is_checked(farm: Path, tmp_path: Path):
    store = ResultStore(tmp_path / "r.sqlite")
    rows = run_matrix(["wrn_10_1"], ["farm-board"], ["tvm"], MeasureSettings(repeats=5, warmup=1), store,
                      targets_files=[str(farm)], progress=False)
    (row,) = rows
    assert row.status == "ok", row.error
    assert row.output_check == "pass" and row.max_abs_err < 1e-3
    assert row.n_samples >= 5 and row.median_ms > 0
    assert row.environment["rpc_key"] == "loopback-board"
    assert [r.model for r in store.rows()] == ["wrn_10_1"]


def test_unknown_device_key_is_a_clear_error(farm: Path):
    (target,) = load_target_file(farm)
    bad = target.__class__(**{**target.__dict__, "rpc": target.rpc.__class__(
        tracker_host="127.0.0.1", tracker_port=target.rpc.tracker_port, key="no-such-board", session_timeout_s=5)})
    with pytest.raises(DevbenchError, match="no board with key 'no-such-board'.*registered: loopback-board"):
        open_transport(bad)._session()
