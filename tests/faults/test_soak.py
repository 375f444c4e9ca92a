"""The soak: four boards behind their own sshds, 25 jobs each, measured in parallel into one
database by ``devbench run``, interrupted once half-way and resumed: every job stored exactly
once, all ``ok``, and the database intact."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devbench.bench import MeasureSettings, make_jobs
from devbench.models import get_spec
from tests.conftest import REPO, run_cli
from tests.faults.conftest import Board, assert_every_job_ok_once, stored

BOARDS = 4
JOBS_PER_BOARD = 25


def spec_variants(root: Path, count: int) -> list[str]:
    """``count`` distinct small ResNets (the inner widths of the first two stages vary), as spec files."""
    root.mkdir(parents=True, exist_ok=True)
    base = get_spec("resnet8_b0.25").to_dict()
    paths = []
    for i in range(count):
        path = root / f"soak_{i:02d}.json"
        path.write_text(json.dumps({**base, "name": path.stem, "inner": [[1 + i % 5], [1 + i // 5], [4]]}))
        paths.append(str(path))
    return paths


def stored_count(db: Path) -> int:
    """Rows stored so far, read beside the writer (WAL lets a reader in at any time)."""
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # the run has not created its table yet
        return 0


@pytest.mark.slow
def test_four_boards_in_parallel_interrupted_once_and_resumed(boards: Callable[..., Board], tmp_path: Path) -> None:
    fleet = [boards(f"soak{i}") for i in range(BOARDS)]
    targets = tmp_path / "boards.toml"
    targets.write_text("".join(b.toml() for b in fleet))
    models = spec_variants(tmp_path / "specs", JOBS_PER_BOARD)
    db = tmp_path / "soak.sqlite"
    args = ["run", "--targets-file", str(targets), "--target", ",".join(b.name for b in fleet),
            "--model", ",".join(models), "--backend", "onnxruntime", "--rounds", "1", "--repeats", "3",
            "--warmup", "1", "--min-time", "0", "--db", str(db), "--format", "json"]
    total = BOARDS * JOBS_PER_BOARD

    proc = subprocess.Popen([sys.executable, "-m", "devbench", *args], cwd=REPO, env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 150
    while stored_count(db) < total // 2:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "half the jobs were never stored"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    first = stored(db)
    assert total // 2 <= len(first) < total and all(r.status == "ok" for r in first), err
    assert len(json.loads(out)) == len(first)  # the table printed is what was stored
    assert [b.run_dirs() for b in fleet] == [[]] * BOARDS  # the interrupted runs were cleaned up on the boards

    proc = run_cli(*args, "--resume", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == total  # the resumed run shows the whole matrix
    rows = stored(db)
    assert all(r.status == "ok" for r in rows) and len(rows) == total
    jobs = make_jobs(models, [b.target() for b in fleet], ["onnxruntime"],
                     MeasureSettings(rounds=1, repeats=3, warmup=1, min_time_s=0.0))
    assert_every_job_ok_once(jobs, db)
    assert [b.run_dirs() for b in fleet] == [[]] * BOARDS
