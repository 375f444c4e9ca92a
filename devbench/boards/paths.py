"""Paths of boards that live on this machine, under devbench's cache (:func:`devbench.paths.cache_dir`).

Target files may write ``{cache}`` in a path; it expands to that cache directory, so a target that
lives on this machine (the emulated board) follows ``$DEVBENCH_CACHE_DIR`` when it is moved.
"""

from __future__ import annotations

import os
from pathlib import Path

from devbench.paths import cache_dir


def board_dir(name: str) -> Path:
    return cache_dir("boards", name)


def expand_path(text: str) -> str:
    """``~`` and ``{cache}`` expanded: the path forms target files may use for files on this machine."""
    if "{cache}" in text:
        text = text.replace("{cache}", str(cache_dir()))
    return os.path.expanduser(text)
