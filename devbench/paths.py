"""Where devbench keeps its files: the platform's per-user directories, each overridable.

The defaults come from platformdirs, which on Linux follows the XDG base directories: ``~/.cache``,
``~/.local/share`` and ``~/.config`` unless ``XDG_CACHE_HOME``, ``XDG_DATA_HOME`` or
``XDG_CONFIG_HOME`` say otherwise (macOS and Windows get their own conventions). A ``DEVBENCH_*``
variable, when set and not empty, wins (``~`` expanded), so tests and CI stay in a temp dir:

- ``DEVBENCH_CACHE_DIR`` (default ``~/.cache/devbench``): compiled artifacts, tuning databases,
  emulated boards.
- ``DEVBENCH_DB`` (default ``~/.local/share/devbench/results.sqlite``): the results database.
- ``DEVBENCH_TARGETS_DIR`` (default ``~/.config/devbench/targets``): the user's target files.
- ``DEVBENCH_KNOWN_HOSTS`` (default ``~/.config/devbench/known_hosts``): SSH host keys devbench trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import PlatformDirs

from devbench.errors import DevbenchError

# appauthor=False: no vendor folder on Windows. Its properties read the environment on every access.
_DIRS = PlatformDirs("devbench", appauthor=False)


def _override(variable: str, default: Path) -> Path:
    """``$variable`` when set and not empty (an empty one would otherwise mean the current directory)."""
    value = os.environ.get(variable)
    return Path(value).expanduser() if value else default


def cache_dir(*parts: str) -> Path:
    """``parts`` under the cache directory, created if missing. A cache directory that cannot be
    made (a file, ``/proc``) is the user's setting, so it is one line naming it, wherever the cache
    is first touched: the host-CPU memo when a target is loaded, the artifacts, the tuning records."""
    root = _override("DEVBENCH_CACHE_DIR", _DIRS.user_cache_path)
    path = root.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        named = "DEVBENCH_CACHE_DIR" if os.environ.get("DEVBENCH_CACHE_DIR") else "the cache directory"
        raise DevbenchError(f"{named} {root} cannot hold devbench's cache: making {path} failed ({e.strerror}); "
                            "set DEVBENCH_CACHE_DIR to a folder devbench can write") from None
    return path


def default_db_path() -> Path:
    """The results database used when ``--db`` is not given."""
    return _override("DEVBENCH_DB", _DIRS.user_data_path / "results.sqlite")


def user_targets_dir() -> Path:
    """The folder of the user's own target files (``devbench board add`` writes there)."""
    return _override("DEVBENCH_TARGETS_DIR", _DIRS.user_config_path / "targets")


def known_hosts_path() -> Path:
    """devbench's own SSH known_hosts file, beside the user's ``~/.ssh/known_hosts``."""
    return _override("DEVBENCH_KNOWN_HOSTS", _DIRS.user_config_path / "known_hosts")


def check_output_file(path: Path, name: str) -> Path:
    """``path`` if a file can be written there, refused before the work that makes it (a profile or a
    figure takes minutes, and failing after it loses them). ``name`` (``--plot``, ``--out``) leads
    the message. A missing directory is refused rather than made: a typo must not scatter folders.
    The file is opened for appending, which changes nothing in one that exists and is removed again
    if it did not: the one test that also catches what permission bits cannot tell (``/proc``, a
    read-only mount, a caller who is root)."""
    if path.is_dir():
        raise DevbenchError(f"{name} {path} is a directory; name a file in it")
    if not path.parent.is_dir():
        raise DevbenchError(f"{name} {path}: directory {path.parent} does not exist")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as e:
        raise DevbenchError(f"{name} {path}: cannot write there ({e.strerror})") from None
    if not existed:
        path.unlink()
    return path
