"""Run ``devbench`` in this process (a subprocess costs two CPU-seconds of imports) and check that a
bad input got what the README promises: exit code 2, one line on stderr, no traceback."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from devbench.cli import main

#: warnings Python hides unless asked; any other warning would reach a user's stderr as extra lines
_HIDDEN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@dataclass
class Outcome:
    code: int | str | None
    out: str
    err: str

    def assert_one_line_error(self, *words: str) -> str:
        """Exit 2, exactly one stderr line starting ``devbench: error:`` and naming ``words``; that line."""
        assert "Traceback" not in self.out + self.err, self.err
        assert self.code == 2, (self.code, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("devbench: error:"), lines[0]
        for word in words:
            assert word in lines[0], f"{word!r} missing from {lines[0]!r}"
        return lines[0]


@pytest.fixture
def devbench(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """``devbench(*args)`` -> :class:`Outcome`, with shown warnings counted as stderr lines."""

    def run(*args: str) -> Outcome:
        capsys.readouterr()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            for category in _HIDDEN:
                warnings.simplefilter("ignore", category)
            try:
                code: int | str | None = main([str(a) for a in args])
            except SystemExit as e:  # argparse's errors
                code = e.code
        captured = capsys.readouterr()
        shown = "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
        return Outcome(code, captured.out, captured.err + shown)

    return run
