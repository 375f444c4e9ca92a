"""The local transport: the board is this machine. The runner still runs in its own process, so
thread settings and imports are exactly those of a remote board and nothing leaks from devbench."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
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

    def run(self, job: BoardJob) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="devbench-run-") as tmp:
            run_dir = Path(tmp)
            for name, path in {**BOARD_FILES, **job.files}.items():
                (run_dir / name).symlink_to(Path(path).resolve())
            # Its own session: a Ctrl-C in the terminal reaches devbench, which stops the runner
            # through cancel(), instead of killing it mid-round behind devbench's back.
            self._proc = proc = subprocess.Popen([self.python, "runner.py", *job.args], cwd=run_dir, text=True,
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                 start_new_session=True)
            try:
                stdout, stderr = proc.communicate(timeout=job.timeout_s)
            except subprocess.TimeoutExpired:
                self.cancel()
                raise DevbenchError(f"the benchmark on {self.target.name} ran past {job.timeout_s:.0f} s") from None
            finally:
                self._proc = None
            out = run_dir / job.request.out
            if not out.exists():
                tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
                return {"error": f"runner exited {proc.returncode} without a result: {tail[0]}"}
            return json.loads(out.read_text())

    def reach(self) -> None:
        """This machine is always there."""

    def cancel(self) -> None:
        """Stop the runner now (a timeout, or Ctrl-C from the thread that drives the run)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Nothing to release locally."""
