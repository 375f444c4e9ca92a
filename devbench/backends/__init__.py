"""Backends by name: each compiles a PyTorch network into one artifact file on the host and runs it
on the board.

A backend is one module, ``devbench/backends/<name>_backend.py``, whose ``BACKEND`` holds its
description (:class:`~devbench.board.protocol.BackendInfo`), its compiler and its board-side loader
(:class:`~devbench.backends.base.Backend`), plus one line in :data:`REGISTERED`. The CLI's backend
names, the targets' default backends, ``devbench doctor``, the files transports upload and the
runner's probe all read it from here.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

from devbench.backends.base import Artifact, Backend, CompileRequest
from devbench.errors import DevbenchError

#: the registered backends, one line each: the name of a module devbench/backends/<name>_backend.py
REGISTERED = (
    "tvm",
    "onnxruntime",
    "torch",
    "executorch",
    "onnxruntime_trt",
)

#: backend name -> backend (cheap to import: a backend module's top level is board-side code)
BACKENDS: dict[str, Backend] = {name: importlib.import_module(f"{__name__}.{name}_backend").BACKEND
                                for name in REGISTERED}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; an unknown name is an error listing the known ones."""
    if name not in BACKENDS:
        raise DevbenchError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    return BACKENDS[name]


def cpu_backends() -> tuple[str, ...]:
    """The backends a target offers when its file lists none: those every CPU board can run."""
    return tuple(name for name, b in BACKENDS.items() if b.info.cpu_default)


def board_modules() -> dict[str, Path]:
    """Each backend's module under the name the board runner imports it by (``<name>_backend.py``)."""
    return {f"{name}_backend.py": Path(inspect.getfile(type(b))) for name, b in BACKENDS.items()}


__all__ = ["Artifact", "Backend", "CompileRequest", "BACKENDS", "REGISTERED", "board_modules", "cpu_backends",
           "get_backend"]
