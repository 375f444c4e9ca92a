"""PyTorch eager, the reference stack: the network as an exported program (``.pt2``).

``torch.export`` gives a file the board loads with nothing but torch, without devbench's model code.
Board-side code too (see :mod:`devbench.backends.base`): the top level imports only the standard
library and ``protocol.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__:  # on the host, as devbench.backends.torch_backend
    from devbench.board.protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime, profiled_runs
else:  # on the board, beside protocol.py
    from protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime, profiled_runs

if TYPE_CHECKING:
    import numpy as np

    from devbench.backends.base import CompileRequest


class TorchBackend:
    info = BackendInfo(name="torch", runtime=Runtime("torch", ("torch",)), artifact="model.pt2")

    def version_key(self, request: CompileRequest) -> str:
        import torch

        return f"torch={torch.__version__}"

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        import torch

        from devbench.backends.example_input import example_input

        program = torch.export.export(request.module.eval(), (example_input(request),))
        torch.export.save(program, str(out_dir / self.info.artifact))
        return {}

    def load(self, artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        program = torch.export.load(artifact)
        module = program.module()
        dev = torch.device(device)
        if dev.type == "cuda":
            # cuDNN's convs default to TF32 on Ampere and later: 10-bit mantissas, a different and
            # faster computation than the FP32 every other backend runs, and outputs off by ~1e-3
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        module.to(dev)

        def infer(a: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = module(torch.from_numpy(a).to(dev))
            if dev.type == "cuda":
                torch.cuda.synchronize()
            return out.cpu().numpy()

        return Loaded(lambda: infer(x), infer, None, torch.__version__)

    def cannot_run(self, device: str) -> str | None:
        """On the board (``devbench doctor``): why this torch cannot run on ``device`` (a CPU build, or
        a CUDA build that finds no GPU), which its import alone does not tell."""
        import torch

        if device != "cuda":
            return None
        if torch.version.cuda is None:
            return f"torch {torch.__version__} here is a CPU build (no CUDA)"
        return None if torch.cuda.is_available() else f"torch {torch.__version__} here finds no CUDA GPU"

    def profile(self, request: RunRequest, x: np.ndarray) -> Profiled:
        """``torch.profiler``: the top-level ATen ops of each inference, which the exported program
        calls one per graph node (their children are the kernels an op dispatches to)."""
        import torch
        from torch.profiler import ProfilerActivity, record_function

        loaded = self.load(request.artifact, x, request.threads, request.device)
        for _ in range(request.warmup):
            loaded.run()
        mark = "devbench::inference"
        cuda = request.device == "cuda"
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        walls = []
        with torch.profiler.profile(activities=activities) as prof:
            for _ in profiled_runs(request):
                t0 = time.perf_counter()
                with record_function(mark):
                    loaded.run()
                walls.append((time.perf_counter() - t0) * 1e3)
        runs = [[(op.name, (op.device_time_total if cuda else op.cpu_time_total) / 1e3) for op in e.cpu_children]
                for e in prof.events() if e.name == mark]
        return runs, walls, None


BACKEND = TorchBackend()
