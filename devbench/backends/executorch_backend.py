"""ExecuTorch with its XNNPACK delegate, PyTorch's on-device runtime: one ``.pte`` program.

``torch.export`` -> ``to_edge_transform_and_lower`` with the XNNPACK partitioner (convs, linears,
pooling and elementwise ops become XNNPACK subgraphs; what it does not take runs on ExecuTorch's
portable kernels) -> ``to_executorch``. The program holds the weights and no target-specific code
(XNNPACK picks its kernels for the CPU it finds at load time), so one artifact serves every CPU.

On the board the runner imports ``executorch.runtime``, whose native module links libtorch and
takes torch tensors: the board needs torch beside ExecuTorch, both at the host's versions. That
rules out the emulated aarch64 board: PyPI's aarch64 torch wheel is a CUDA build that does not
import without NVIDIA's libraries, which a Raspberry Pi root filesystem does not have (a real Pi
takes torch's CPU wheel instead). XNNPACK runs on CPUs only.

Threads: XNNPACK runs on ExecuTorch's own thread pool, sized to the performance cores at first use
and deaf to OMP_NUM_THREADS; ``load`` resizes it with the runtime's ``_unsafe_reset_threadpool``
before the program loads (safe then: nothing runs on it yet) and checks the size it reports.

Board-side code too (see :mod:`devbench.backends.base`): the top level imports only the standard
library and ``protocol.py``.
"""

from __future__ import annotations

import logging
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

#: bump when the export below changes in a way that changes the artifact
PIPELINE_VERSION = "1"


class ExecuTorchBackend:
    info = BackendInfo(name="executorch", artifact="model.pte",
                       runtime=Runtime("executorch.runtime", ("executorch", "torch"), same_version_as_host=True))

    def version_key(self, request: CompileRequest) -> str:
        # installed versions, read without importing ExecuTorch (seconds) on a cache hit
        return (f"executorch={metadata.version('executorch')};torch={metadata.version('torch')};"
                f"pipeline={PIPELINE_VERSION}")

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
        calls = [n for n in graph.nodes if n.op == "call_function"]
        delegated = sum(1 for n in calls if "executorch_call_delegate" in str(n.target))
        # ops left to ExecuTorch's portable kernels (slow, single-threaded): getitem only unpacks results
        portable = sorted({str(n.target) for n in calls
                           if "executorch_call_delegate" not in str(n.target) and "getitem" not in str(n.target)})
        return {"delegate": "xnnpack", "xnnpack_subgraphs": delegated, "portable_ops": portable}

    def load(self, artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
        if device != "cpu":
            raise ValueError(f"ExecuTorch's XNNPACK delegate runs on CPUs, not {device}")
        with warnings.catch_warnings():  # "experimental API" notices on every import
            warnings.simplefilter("ignore")
            import torch
            from executorch.extension.pybindings import portable_lib
            from executorch.runtime import Runtime as ETRuntime
            from executorch.version import __version__

        portable_lib._unsafe_reset_threadpool(threads)
        if portable_lib._threadpool_get_thread_count() != threads:
            raise RuntimeError(f"ExecuTorch's thread pool has {portable_lib._threadpool_get_thread_count()} "
                               f"threads, not the {threads} asked for")
        method = ETRuntime.get().load_program(artifact).load_method("forward")
        bound = [torch.from_numpy(x)]

        def infer(a: np.ndarray) -> np.ndarray:
            return method.execute([torch.from_numpy(a)])[0].numpy()

        return Loaded(lambda: method.execute(bound)[0].numpy(), infer, None, __version__)

    def profile(self, request: RunRequest, x: np.ndarray) -> Profiled:
        """Not wired in: ExecuTorch's per-operator times come as an ETDump that only its devtools
        (with pandas) can read, which a board should not need."""
        raise ValueError("devbench cannot profile ExecuTorch programs per operator yet; use another backend")


BACKEND = ExecuTorchBackend()
