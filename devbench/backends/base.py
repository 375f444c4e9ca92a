"""What every backend provides, on both sides of the board: one object per backend, ``BACKEND`` in
its module ``devbench/backends/<name>_backend.py``.

That module is also the backend's board side: transports upload it beside ``runner.py``, which
imports it as a plain module. So its top level imports only the standard library and
``protocol.py``; torch, the compilers and the runtimes are imported inside the methods that use
them. This module imports nothing heavy either: the registry, targets and transports read
backends' descriptions without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from devbench.board.protocol import BackendInfo, Loaded, Profiled, RunRequest

if TYPE_CHECKING:
    import numpy as np
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

    @property
    def board_files(self) -> dict[str, Path]:
        """What a board needs, by file name: the artifact, and what its backend built beside it
        (ExecuTorch's glue for the board's CPU)."""
        beside = self.meta.get("board_files", [])
        return {self.path.name: self.path, **{name: self.path.parent / name for name in beside}}


@dataclass(frozen=True)
class CompileRequest:
    """Everything a backend needs to compile one network for one target."""

    spec: ArchSpec
    module: torch.nn.Module
    target: Target
    batch: int = 1
    #: which tuning database a tuning backend applies: "none", "default" (the target's) or a folder
    tuning: str = "default"


class Backend(Protocol):
    """A backend: its description, host-side compilation, and the board-side loader."""

    info: BackendInfo

    def version_key(self, request: CompileRequest) -> str:
        """The tool versions and options that change the artifact (part of the cache key)."""
        ...

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        """Write the artifact to ``out_dir / info.artifact``; return its metadata."""
        ...

    def load(self, artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
        """On the board: the artifact loaded by the runtime with ``threads`` threads, ``x`` bound."""
        ...

    def profile(self, request: RunRequest, x: np.ndarray) -> Profiled:
        """On the board: per-operator times from the runtime's own profiler (``--mode profile``)."""
        ...

    # Optional, on the board: ``cannot_run(device) -> str | None``, why the runtime, though it imports,
    # cannot run on ``device`` here (the CPU build on a GPU board); ``devbench doctor``'s probe asks it.
