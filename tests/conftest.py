"""Hermetic tests: every test gets its own results database, artifact cache, target and config
directories and HOME, so nothing reads or writes the user's files (or another test's).

Two things are shared on purpose, under the repository's own ``.devbench/`` (ignored by git): the
emulated board's root filesystem (``SHARED_CACHE``, about 450 MB and half a minute to build),
matplotlib's font cache and hypothesis's unicode tables (its example database is off).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
#: the cache whose ``boards/emulated-pi/rootfs`` every run of the suite reuses
SHARED_CACHE = REPO / ".devbench" / "cache"


def pytest_configure(config: pytest.Config) -> None:
    """Before collection, where hypothesis first writes (a ``.hypothesis`` in the working directory)."""
    os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(REPO / ".devbench" / "hypothesis")


def _isolate(mp: pytest.MonkeyPatch, root: Path) -> None:
    """Point every place devbench (or a library it uses) reads or writes below ``root``."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    mp.setenv("HOME", str(home))
    mp.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    mp.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    mp.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    mp.setenv("DEVBENCH_DB", str(root / "results.sqlite"))
    mp.setenv("DEVBENCH_CACHE_DIR", str(root / "cache"))
    mp.setenv("DEVBENCH_TARGETS_DIR", str(root / "targets"))
    mp.setenv("DEVBENCH_KNOWN_HOSTS", str(root / "known_hosts"))
    mp.setenv("MPLCONFIGDIR", str(REPO / ".devbench" / "matplotlib"))
    mp.delenv("SSH_AUTH_SOCK", raising=False)  # the user's agent keys must not decide a test


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """For module- and session-scoped fixtures, which run before any test's own directories exist."""
    with pytest.MonkeyPatch.context() as mp:
        _isolate(mp, tmp_path_factory.mktemp("session"))
        yield


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _isolate(monkeypatch, tmp_path)


@pytest.fixture
def fresh_cache(tmp_path: Path) -> Path:
    """This test's artifact cache (empty at the start, as every test's is), for tests about caching."""
    return tmp_path / "cache"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m devbench ARGS`` as a user would, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "devbench", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, cwd=REPO,
    )


def has_ended(pid: int) -> bool:
    """Whether a process is gone or a zombie; one read, since it may be reaped between two."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
