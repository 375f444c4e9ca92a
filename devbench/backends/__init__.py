"""Backends by name: each compiles a PyTorch network into one artifact file for one target.

A new backend is one module with a class following :class:`~devbench.backends.base.Backend` plus
one line here, and a loader of the same name in ``devbench/board/runner.py``.
"""

from __future__ import annotations

import importlib

from devbench.backends.base import Artifact, Backend, CompileRequest
from devbench.errors import DevbenchError

#: backend name -> "module:class" (imported on first use: TVM takes a second to import)
BACKENDS = {
    "tvm": "devbench.backends.tvm_backend:TVMBackend",
    "onnxruntime": "devbench.backends.ort_backend:ONNXRuntimeBackend",
    "torch": "devbench.backends.torch_backend:TorchBackend",
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; an unknown name is an error listing the known ones."""
    if name not in BACKENDS:
        raise DevbenchError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    module_name, _, cls_name = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module_name), cls_name)()


__all__ = ["Artifact", "Backend", "CompileRequest", "BACKENDS", "get_backend"]
