"""What every backend provides: host-side compilation to an :class:`Artifact`.

The board side of a backend is a loader function in ``devbench/board/runner.py`` (that script
imports nothing of devbench), keyed by the same backend name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from devbench.models.spec import ArchSpec
from devbench.targets import Target


@dataclass(frozen=True)
class Artifact:
    """A compiled network on disk, ready to upload: one file plus what made it."""

    backend: str
    path: Path
    key: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompileRequest:
    """Everything a backend needs to compile one network for one target."""

    spec: ArchSpec
    module: torch.nn.Module
    target: Target
    batch: int = 1


class Backend(Protocol):
    """A host-side compiler. ``name`` is also the board-side loader's key."""

    name: str
    #: what the board must be able to import to run this backend's artifacts
    runtime_module: str
    #: file name of the artifact inside its cache directory
    artifact_name: str

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        """Write the artifact to ``out_dir / artifact_name``; return its metadata."""
        ...

    def version_key(self, request: CompileRequest) -> str:
        """The tool versions and options that change the artifact (part of the cache key)."""
        ...
