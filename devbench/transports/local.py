"""The local transport: the board is this machine. The runner still runs in its own process, so
thread settings and imports are exactly those of a remote board and nothing leaks from devbench."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from devbench.errors import DevbenchError
from devbench.targets import Target
from devbench.transports.base import BOARD_FILES, BoardJob


class LocalTransport:
    """Runs ``runner.py`` with this interpreter in a fresh temporary run directory."""

    def __init__(self, target: Target, trust_new_host: bool = False) -> None:
        # No host key to trust here: the flag is accepted so that every transport opens alike.
        self.target = target
        self.python = sys.executable
        self._proc: subprocess.Popen[str] | None = None
        # cancel() may come between two runs, or while one starts: the lock makes "start a runner"
        # and "cancel" happen one after the other, and the flag refuses every later start
        self._lock = threading.Lock()
        self._cancelled = False

    def run(self, job: BoardJob) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="devbench-run-") as tmp:
            run_dir = Path(tmp)
            for name, path in {**BOARD_FILES, **job.files}.items():
                (run_dir / name).symlink_to(Path(path).resolve())
            # Its own session: a Ctrl-C in the terminal reaches devbench, which stops the runner
            # through cancel(), instead of killing it mid-round behind devbench's back.
            with self._lock:
                if self._cancelled:
                    raise DevbenchError(f"interrupted: nothing more runs on {self.target.name}")
                self._proc = proc = subprocess.Popen([self.python, "runner.py", *job.args], cwd=run_dir,
                                                     text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                     start_new_session=True)
            try:
                stdout, stderr = proc.communicate(timeout=job.timeout_s)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                raise DevbenchError(f"the benchmark on {self.target.name} ran past {job.timeout_s:.0f} s") from None
            except BaseException:  # Ctrl-C in this very thread (doctor, profile): its own session kept the
                self._kill(proc)   # signal from the runner, which must not run on after devbench
                raise
            finally:
                self._proc = None
            out = run_dir / job.request.out
            if not out.exists():
                tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
                return {"error": f"runner exited {proc.returncode} without a result: {tail[0]}"}
            return json.loads(out.read_text())

    def reach(self) -> None:
        """This machine is always there; for a CUDA target, so must its GPU be, or every job would fail
        on the board after its artifacts were compiled."""
        if reason := gpu_missing(self.target):
            raise DevbenchError(f"target {self.target.name} runs on this machine's GPU, but {reason}: run devbench "
                                "on the GPU machine, or through a target that reaches it (transport ssh)")

    def cancel(self) -> None:
        """Ctrl-C, from the thread that drives the run: stop the runner now and start no other."""
        with self._lock:
            self._cancelled = True
            proc = self._proc
        if proc is not None:
            self._kill(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Nothing to release locally."""


def gpu_missing(target: Target) -> str | None:
    """Why a CUDA target measured on this machine cannot run here (no driver, no GPU), else None."""
    if target.transport != "local" or target.device != "cuda":
        return None
    from devbench.board.protocol import no_gpu_reason
    from devbench.board.runner import cuda_gpus

    return no_gpu_reason(cuda_gpus())
