"""The local board and Ctrl-C: the next run must not start, and a run in devbench's own thread ends with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from devbench.board.protocol import RunRequest
from devbench.errors import DevbenchError
from devbench.targets import get_target
from devbench.transports.base import BoardJob
from devbench.transports.local import LocalTransport
from tests.conftest import REPO, run_cli


def test_a_cancel_between_two_runs_refuses_the_next_one() -> None:
    transport = LocalTransport(get_target("local"))
    probe = BoardJob(files={}, request=RunRequest(mode="probe", out="probe.json"))
    assert "error" not in transport.run(probe)
    transport.cancel()  # no runner in flight: the flag alone must stop what comes next
    with pytest.raises(DevbenchError, match="^interrupted"):
        transport.run(probe)


@pytest.mark.parametrize(("sig", "ignored"), [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)])
def test_ctrl_c_in_profile_leaves_no_runner_behind(sig: signal.Signals, ignored: bool, tmp_path: Path) -> None:
    """The runner has its own session, so the terminal's Ctrl-C reaches devbench only; where the run
    is in devbench's main thread (profile, doctor's probe) the interrupt must kill it. It used to run
    on after devbench had exited 130; SIGTERM killed devbench and left it running, and a devbench
    started with SIGINT ignored (a shell's background job) went on profiling after SIGINT."""
    runs = tmp_path / "tmp"
    runs.mkdir()

    def runners() -> list[psutil.Process]:
        # the run directory is made under TMPDIR, so a runner of this test is one whose cwd is there
        found = []
        for p in psutil.process_iter(["cmdline"]):
            try:
                if "runner.py" in " ".join(p.info["cmdline"] or []) and p.cwd().startswith(str(runs)):
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        return found

    # repeats for a few seconds of profiling: the runner is killed long before it ends
    proc = subprocess.Popen([sys.executable, "-m", "devbench", "profile", "--model", "resnet8", "--backend",
                             "onnxruntime", "--repeats", "20000"], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "TMPDIR": str(runs), "DEVBENCH_CACHE_DIR": str(tmp_path / "cache")},
                            preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                             signal.SIG_IGN if ignored else signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not runners():
        assert proc.poll() is None and time.monotonic() < deadline, "the runner never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "devbench: interrupted", err
    assert not runners()


@pytest.mark.parametrize("verb", [["run", "--model", "resnet8"], ["compare", "--model", "resnet8,resnet20"],
                                  ["profile", "--model", "resnet8"]])
def test_a_gpu_target_without_its_gpu_is_one_line_before_anything_compiles(verb: list[str], tmp_path: Path) -> None:
    """Every job used to compile (TVM's CUDA build takes seconds a network) and then fail on the board
    with the runtime's own words, one row each."""
    from devbench.transports.local import gpu_missing

    target = get_target("gpu-sm90", [str(REPO / "benchmarks" / "gpu-sm90.toml")])
    if gpu_missing(target) is None:
        pytest.skip("this machine has a CUDA GPU")
    r = run_cli(*verb, "--targets-file", "benchmarks/gpu-sm90.toml", "--target", "gpu-sm90",
                env={"DEVBENCH_CACHE_DIR": str(tmp_path), "DEVBENCH_DB": str(tmp_path / "r.sqlite")})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert "gpu-sm90 runs on this machine's GPU, but" in r.stderr
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").iterdir())
