"""Reading the spec arguments the training verbs accept: a registered name, a .json file, or a run dir."""

from __future__ import annotations

from pathlib import Path

from devbench.models import ArchSpec, resolve
from devbench.training.rundir import SPEC


def load_spec_arg(text: str) -> ArchSpec:
    """A run or stage directory gives its ``spec.json``; anything else goes through the model registry."""
    path = Path(text)
    if path.is_dir() and (path / SPEC).is_file():
        return ArchSpec.load(path / SPEC)
    return resolve(text)[0]
