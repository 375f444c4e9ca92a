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

    def run(self, job: BoardJob) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="devbench-run-") as tmp:
            run_dir = Path(tmp)
            for name, path in {**BOARD_FILES, **job.files}.items():
                (run_dir / name).symlink_to(Path(path).resolve())
            try:
                proc = subprocess.run(
                    [self.python, "runner.py", *job.args],
                    cwd=run_dir, capture_output=True, text=True, timeout=job.timeout_s,
                )
            except subprocess.TimeoutExpired:
                raise DevbenchError(f"the benchmark on {self.target.name} ran past {job.timeout_s:.0f} s") from None
            out = run_dir / job.request.out
            if not out.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                return {"error": f"runner exited {proc.returncode} without a result: {tail[0]}"}
            return json.loads(out.read_text())

    def close(self) -> None:
        """Nothing to release locally."""
