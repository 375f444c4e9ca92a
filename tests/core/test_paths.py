"""devbench's directories: today's Linux defaults under HOME, the XDG variables when set, and the
DEVBENCH_* overrides above both (an empty one is unset, not the current directory)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devbench import paths
from devbench.errors import DevbenchError
from tests.conftest import run_cli

VARIABLES = ("DEVBENCH_CACHE_DIR", "DEVBENCH_DB", "DEVBENCH_TARGETS_DIR", "DEVBENCH_KNOWN_HOSTS",
             "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME")


def _where() -> tuple[Path, Path, Path, Path]:
    return paths.cache_dir(), paths.default_db_path(), paths.user_targets_dir(), paths.known_hosts_path()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME in a temp dir with none of the variables set."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.mark.skipif(sys.platform != "linux", reason="the defaults below are Linux's")
def test_linux_defaults_are_todays(home: Path) -> None:
    assert _where() == (home / ".cache/devbench", home / ".local/share/devbench/results.sqlite",
                        home / ".config/devbench/targets", home / ".config/devbench/known_hosts")


@pytest.mark.skipif(sys.platform != "linux", reason="XDG base directories are Linux's")
def test_xdg_directories_are_followed(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, folder in (("XDG_CACHE_HOME", "c"), ("XDG_DATA_HOME", "d"), ("XDG_CONFIG_HOME", "e")):
        monkeypatch.setenv(name, str(home / folder))
    assert _where() == (home / "c/devbench", home / "d/devbench/results.sqlite", home / "e/devbench/targets",
                        home / "e/devbench/known_hosts")


def test_devbench_variables_win_and_empty_ones_do_not(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "e"))
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", "~/mycache")
    monkeypatch.setenv("DEVBENCH_DB", str(home / "r.sqlite"))
    monkeypatch.setenv("DEVBENCH_TARGETS_DIR", str(home / "t"))
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", "")
    cache, db, targets, known_hosts = _where()
    assert (cache, db, targets) == (home / "mycache", home / "r.sqlite", home / "t") and cache.is_dir()
    monkeypatch.delenv("DEVBENCH_KNOWN_HOSTS")
    assert known_hosts == paths.known_hosts_path()


@pytest.mark.parametrize("where", ["afile", "afile/sub", "/proc/devbench-cache"])
def test_a_cache_dir_that_cannot_be_made_is_one_line(home: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    (home / "afile").write_text("mine")
    root = home / where
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(root))
    with pytest.raises(DevbenchError, match=rf"^DEVBENCH_CACHE_DIR {root} cannot hold devbench's cache: making "
                                            rf"{root}/artifacts failed \(.*\); set DEVBENCH_CACHE_DIR to a folder"):
        paths.cache_dir("artifacts")
    done = run_cli("compile", "--model", "resnet8", "--backend", "onnxruntime")
    assert done.returncode == 2 and done.stderr.startswith(f"devbench: error: DEVBENCH_CACHE_DIR {root} cannot")
    assert len(done.stderr.splitlines()) == 1
    assert (home / "afile").read_text() == "mine"
