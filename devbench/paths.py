"""Where devbench keeps its files. One root, overridable, so tests and CI stay in a temp dir.

- ``DEVBENCH_CACHE_DIR`` (default ``~/.cache/devbench``): compiled artifacts, tuning databases,
  emulated boards.
- ``DEVBENCH_DB`` (default ``~/.local/share/devbench/results.sqlite``): the results database.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    root = Path(os.environ.get("DEVBENCH_CACHE_DIR", Path.home() / ".cache" / "devbench")).expanduser()
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_path() -> Path:
    default = Path.home() / ".local" / "share" / "devbench" / "results.sqlite"
    return Path(os.environ.get("DEVBENCH_DB", default)).expanduser()
