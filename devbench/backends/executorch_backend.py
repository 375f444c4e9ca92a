"""ExecuTorch with its XNNPACK delegate, PyTorch's on-device runtime: one ``.pte`` program.

``torch.export`` -> ``to_edge_transform_and_lower`` with the XNNPACK partitioner (convs, linears,
pooling and elementwise ops become XNNPACK subgraphs; what it does not take runs on ExecuTorch's
optimized kernels) -> ``to_executorch``. The program holds the weights and no target-specific code
(XNNPACK picks its kernels for the CPU it finds at load time).

On the board, no torch: ExecuTorch's Python runtime links libtorch, and PyPI's aarch64 torch wheel
is a CUDA build that does not import without NVIDIA's libraries, so a Raspberry Pi could not run
it. Its C++ libraries (the wheel's ``lib/``) need only the C++ runtime, so the host also builds
``executorch_glue.cpp`` for the target's CPU (its cross compiler) beside each program, and the
runner loads both with ctypes: the board needs ``pip install --no-deps executorch`` and numpy.
XNNPACK runs on CPUs only.

Threads: XNNPACK runs on ExecuTorch's own thread pool, sized to the performance cores at first use
and deaf to OMP_NUM_THREADS; ``load`` resizes it before the program loads (safe then: nothing runs
on it yet) and checks the size it reports.

Board-side code too (see :mod:`devbench.backends.base`): the top level imports only the standard
library and ``protocol.py``.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__:  # on the host, as devbench.backends.executorch_backend
    from devbench.board.protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime
else:  # on the board, beside protocol.py
    from protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime

if TYPE_CHECKING:
    import numpy as np

    from devbench.backends.base import CompileRequest
    from devbench.targets import Target

#: bump when the export below changes in a way that changes the artifact
PIPELINE_VERSION = "2"
#: the glue, built for the target beside each program and uploaded with it
GLUE = "devbench_executorch.so"
GLUE_SOURCE = Path(__file__).with_name("executorch_glue.cpp")
#: ExecuTorch's libraries in the order they need each other; loading the XNNPACK one registers the
#: delegate, the optimized kernels one the operators XNNPACK does not take
LIBRARIES = ("libexecutorch.so", "libexecutorch_threadpool.so", "libexecutorch_kernels_optimized.so",
             "libexecutorch_backend_xnnpack.so")


class ExecuTorchBackend:
    # the package alone: its declared dependencies include torch, which the board does not use
    info = BackendInfo(name="executorch", artifact="model.pte",
                       runtime=Runtime("executorch", ("executorch",), same_version_as_host=True, keep_out=("torch",),
                                       no_deps=True))

    def version_key(self, request: CompileRequest) -> str:
        # installed versions, read without importing ExecuTorch (seconds) on a cache hit; the glue, by
        # its source and the compiler that builds it for the target's CPU
        glue = hashlib.sha256(GLUE_SOURCE.read_bytes()).hexdigest()[:16]
        return (f"executorch={metadata.version('executorch')};torch={metadata.version('torch')};"
                f"pipeline={PIPELINE_VERSION};glue={glue};cc={request.target.cross_compiler}")

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        import torch

        from devbench.backends.example_input import example_input

        with torch.no_grad():
            program = torch.export.export(request.module.eval(), (example_input(request),))
        # ExecuTorch's and torchao's import-time deprecation notices (warnings, and a torch log line):
        # nothing a user can act on
        pytree_log = logging.getLogger("torch.utils._pytree")
        level = pytree_log.level
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pytree_log.setLevel(logging.ERROR)
            try:
                from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
                from executorch.exir import to_edge_transform_and_lower
            finally:
                pytree_log.setLevel(level)
            edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            graph = edge.exported_program().graph_module.graph
            (out_dir / self.info.artifact).write_bytes(edge.to_executorch().buffer)
        build_glue(out_dir / GLUE, request.target)
        calls = [n for n in graph.nodes if n.op == "call_function"]
        delegated = sum(1 for n in calls if "executorch_call_delegate" in str(n.target))
        # ops left to ExecuTorch's portable kernels (slow, single-threaded): getitem only unpacks results
        portable = sorted({str(n.target) for n in calls
                           if "executorch_call_delegate" not in str(n.target) and "getitem" not in str(n.target)})
        return {"delegate": "xnnpack", "xnnpack_subgraphs": delegated, "portable_ops": portable,
                "board_files": [GLUE]}

    def cannot_run(self, device: str) -> str | None:
        """On the board (``devbench doctor``): a GPU target's device is not one XNNPACK runs on."""
        return None if device == "cpu" else f"ExecuTorch's XNNPACK delegate runs on CPUs, not {device}"

    def load(self, artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
        import numpy as np
        from executorch.version import __version__  # a file of strings: no torch

        if why := self.cannot_run(device):
            raise ValueError(why)
        glue = open_glue(Path(artifact).resolve().with_name(GLUE))
        if glue.devbench_et_threads(threads) != threads:
            raise RuntimeError(f"ExecuTorch's thread pool has {glue.devbench_et_threads(0)} threads, "
                               f"not the {threads} asked for")
        err = ctypes.create_string_buffer(512)
        program = glue.devbench_et_load(artifact.encode(), (ctypes.c_int64 * x.ndim)(*x.shape), x.ndim, err, len(err))
        if not program:
            raise RuntimeError(err.value.decode())
        dims = (ctypes.c_int64 * 8)()
        out = np.empty([dims[i] for i in range(glue.devbench_et_output_shape(program, dims, len(dims)))], np.float32)

        def infer(a: np.ndarray) -> np.ndarray:
            a = np.ascontiguousarray(a, dtype=np.float32)
            if glue.devbench_et_run(program, a.ctypes.data, out.ctypes.data, out.size, err, len(err)) != out.size:
                raise RuntimeError(err.value.decode() or "ExecuTorch's output is not the size the program declares")
            return out.copy()

        bound = np.ascontiguousarray(x, dtype=np.float32)
        return Loaded(lambda: infer(bound), infer, None, __version__)

    def profile(self, request: RunRequest, x: np.ndarray) -> Profiled:
        """Not wired in: ExecuTorch's per-operator times come as an ETDump that only its devtools
        (with pandas) can read, which a board should not need."""
        raise ValueError("devbench cannot profile ExecuTorch programs per operator yet; use another backend")


def build_glue(out: Path, target: Target) -> None:
    """Compile ``executorch_glue.cpp`` for ``target``'s CPU against the host's ExecuTorch headers.

    Its ExecuTorch symbols stay undefined (a shared library may leave them so): the board's own
    libraries, loaded first, provide them. The headers include a CMake-generated one of torch's that
    the wheel leaves out; it only says torch was built as shared libraries, so an empty one does.
    """
    from devbench.errors import DevbenchError

    compiler = target.cross_compiler or os.environ.get("CXX", "g++")
    if shutil.which(compiler) is None:
        raise DevbenchError(f"the executorch backend builds its glue for {target.name} with {compiler}, which is not "
                            "installed (scripts/setup.sh installs g++ and the aarch64 cross compiler)")
    include = Path(_package_dir("executorch")) / "include"
    with tempfile.TemporaryDirectory(prefix="devbench-et-") as tmp:
        stub = Path(tmp, "torch", "headeronly", "macros", "cmake_macros.h")
        stub.parent.mkdir(parents=True)
        stub.write_text("#pragma once\n")
        proc = subprocess.run([compiler, "-std=c++17", "-O2", "-shared", "-fPIC", f"-I{tmp}", f"-I{include}",
                               f"-I{include / 'executorch/runtime/core/portable_type/c10'}", "-o", str(out),
                               str(GLUE_SOURCE)], capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line] or proc.stderr.splitlines()[-1:]
        raise DevbenchError(f"building ExecuTorch's glue for {target.name} with {compiler} failed: "
                            f"{errors[0] if errors else 'exit ' + str(proc.returncode)}")


def _package_dir(name: str) -> str:
    """Where package ``name`` is installed, found without importing it (ExecuTorch's is a namespace
    package: no ``__init__`` to run, no ``__file__``)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed")
    return list(spec.submodule_search_locations)[0]


def open_glue(path: Path) -> ctypes.CDLL:
    """ExecuTorch's libraries from the installed package, then the glue, with the glue's C signatures."""
    lib = Path(_package_dir("executorch")) / "lib"
    for name in LIBRARIES:
        ctypes.CDLL(str(lib / name), mode=ctypes.RTLD_GLOBAL)
    glue = ctypes.CDLL(str(path))
    text, ptr, i64 = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64
    glue.devbench_et_threads.argtypes, glue.devbench_et_threads.restype = [ctypes.c_uint32], ctypes.c_int
    glue.devbench_et_load.argtypes = [text, ptr, ctypes.c_int, text, ctypes.c_int]
    glue.devbench_et_load.restype = ptr
    glue.devbench_et_run.argtypes, glue.devbench_et_run.restype = [ptr, ptr, ptr, i64, text, ctypes.c_int], i64
    glue.devbench_et_output_shape.argtypes = [ptr, ptr, ctypes.c_int]
    glue.devbench_et_output_shape.restype = ctypes.c_int
    return glue


BACKEND = ExecuTorchBackend()
