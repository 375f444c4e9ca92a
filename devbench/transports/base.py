"""What every transport does: put files in a fresh run directory on the board, run the board
script there with the board's Python, and bring its JSON result home. Nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from devbench.targets import Target

RUNNER_SCRIPT = Path(__file__).resolve().parent.parent / "board" / "runner.py"


@dataclass(frozen=True)
class BoardJob:
    """One call of ``runner.py`` on a board.

    ``files`` maps a plain file name in the run directory to a local path; ``args`` are the
    runner's arguments, which refer to those names. The runner itself is always uploaded.
    """

    files: dict[str, Path]
    args: list[str]
    timeout_s: float = 600.0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def result_name(self) -> str:
        """The file the runner writes its JSON to (the value of ``--out``)."""
        return self.args[self.args.index("--out") + 1]


class Transport(Protocol):
    """Reaches one target. ``run`` returns the runner's JSON (a dict, maybe with an 'error')."""

    target: Target

    def run(self, job: BoardJob) -> dict[str, Any]: ...

    def close(self) -> None: ...
