"""Every test writes results into its own database; nothing touches the user's files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _private_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "results.sqlite"
    monkeypatch.setenv("DEVBENCH_DB", str(db))
    return db


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty artifact cache, for tests about caching itself."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(cache))
    return cache


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m devbench ARGS`` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "devbench", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=REPO,
    )
