"""Content-addressed artifact cache: the same network, weights, target and tools compile once.

The key hashes everything that changes the compiled file: the spec, the weights, the target's
compiler settings, the batch and the backend's own version key (tool versions, options, tuning
state). A second ``devbench compile`` or ``run`` of the same thing finds the file and compiles nothing.
"""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import torch

from devbench.backends import Artifact, CompileRequest, get_backend
from devbench.paths import cache_dir


def weights_digest(module: torch.nn.Module) -> str:
    """SHA-256 over every tensor of the state dict, in order: equal weights, equal digest."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def artifact_key(backend_name: str, request: CompileRequest, weights: str) -> str:
    """The cache key. What of the target changes the compiled code is the backend's to say, in its
    ``version_key``: ONNX and PyTorch files are the same for every board, TVM's are not."""
    material = {
        "backend": backend_name,
        "version": get_backend(backend_name).version_key(request),
        "spec": {k: v for k, v in request.spec.to_dict().items() if k not in ("name", "meta")},
        "weights": weights,
        "batch": request.batch,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def compile_cached(backend_name: str, request: CompileRequest, weights: str | None = None) -> tuple[Artifact, bool]:
    """The artifact for ``request``, compiling only on a cache miss. Returns (artifact, was_cached)."""
    backend = get_backend(backend_name)
    weights = weights or weights_digest(request.module)
    key = artifact_key(backend_name, request, weights)
    root = cache_dir("artifacts")
    final = root / key[:24]
    meta_file = final / "meta.json"
    if meta_file.exists() and (final / backend.info.artifact).exists():
        return Artifact(backend_name, final / backend.info.artifact, key, json.loads(meta_file.read_text())), True
    # Compile into a scratch dir and rename: an interrupted compile never looks like a cached one.
    scratch = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=root))
    try:
        meta = backend.compile(request, scratch)
        # a compile leaves seconds of cyclic garbage (TVM's IR objects): collected now, before the
        # artifact is stored, not by a later GC pass that would hold a Ctrl-C for seconds in C (a run
        # compiles inside interrupts.native_section, whose watchdog ends a stuck process)
        gc.collect()
        (scratch / "meta.json").write_text(json.dumps(meta, sort_keys=True, default=str))
        if final.exists():
            shutil.rmtree(final)
        scratch.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Artifact(backend_name, final / backend.info.artifact, key, meta), False
