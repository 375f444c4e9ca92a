"""Where devbench keeps what it can rebuild: ``$DEVBENCH_CACHE_DIR``, default ``~/.cache/devbench``.

Target files may write ``{cache}`` in a path; it expands to this directory, so a target that lives
on this machine (the emulated board) keeps working when the cache is moved.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("DEVBENCH_CACHE_DIR") or Path.home() / ".cache" / "devbench").expanduser()


def board_dir(name: str) -> Path:
    return cache_dir() / "boards" / name


def expand_path(text: str) -> str:
    """``~`` and ``{cache}`` expanded: the path forms target files may use for files on this machine."""
    return os.path.expanduser(text.replace("{cache}", str(cache_dir())))
