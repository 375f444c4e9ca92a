"""What every transport does: put files in a fresh run directory on the board, run the board
script there with the board's Python, and bring its JSON result home. Nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from devbench.backends import board_modules
from devbench.board.protocol import RunRequest
from devbench.targets import Target

_BOARD_DIR = Path(__file__).resolve().parent.parent / "board"
#: the board script, the contract it imports and every registered backend's module (their board
#: side), uploaded into every run directory
BOARD_FILES = {"runner.py": _BOARD_DIR / "runner.py", "protocol.py": _BOARD_DIR / "protocol.py", **board_modules()}


@dataclass(frozen=True)
class BoardJob:
    """One call of the board runner: ``request`` names files in the run directory, ``files``
    maps those names to local paths. The runner itself is always uploaded."""

    files: dict[str, Path]
    request: RunRequest
    timeout_s: float = 600.0

    @property
    def args(self) -> list[str]:
        """The runner's command line."""
        return self.request.to_argv()


class Transport(Protocol):
    """Reaches one target. ``run`` returns the runner's JSON (a dict, maybe with an 'error')."""

    target: Target

    def reach(self) -> None:
        """Raise a one-line :class:`DevbenchError` now if the board cannot be reached."""
        ...

    def run(self, job: BoardJob) -> dict[str, Any]: ...

    def cancel(self) -> None:
        """Called from another thread (Ctrl-C): stop the board's process now, run nothing more."""
        ...

    def close(self) -> None: ...
