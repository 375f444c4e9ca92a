"""ONNX Runtime, the baseline backend: PyTorch -> ONNX (torch.onnx's dynamo exporter) -> one .onnx file.

ONNX Runtime applies its own graph optimisations (conv+BN folding, fusion) when the session is
created on the board, so the exported graph is left as PyTorch wrote it. Board-side code too (see
:mod:`devbench.backends.base`): the top level imports only the standard library and ``protocol.py``.
"""

from __future__ import annotations

import io
import json
import sys
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__:  # on the host, as devbench.backends.onnxruntime_backend
    from devbench.board.protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime, profiled_runs
else:  # on the board, beside protocol.py
    from protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime, profiled_runs

if TYPE_CHECKING:
    import numpy as np

    from devbench.backends.base import CompileRequest

OPSET = 18

#: providers that run on an NVIDIA GPU through CUDA's libraries
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
#: the CUDA provider in FP32. Its convs and matmuls default to TF32 on Ampere and later (10-bit
#: mantissas): faster, and a different computation from the FP32 every other backend runs. On an H100
#: that default put resnet56's logits 0.38 from PyTorch's; with it off, 2.4e-4.
CUDA_FP32 = ("CUDAExecutionProvider", {"use_tf32": "0"})


class ONNXRuntimeBackend:
    info = BackendInfo(name="onnxruntime", runtime=Runtime("onnxruntime", ("onnxruntime",)), artifact="model.onnx")
    #: the provider that must run the network on a CUDA target
    gpu_provider = "CUDAExecutionProvider"

    def version_key(self, request: CompileRequest) -> str:
        import onnx
        import torch

        return f"torch={torch.__version__};onnx={onnx.__version__};opset={OPSET}"

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        import onnx
        import torch

        from devbench.backends.example_input import example_input

        path = out_dir / self.info.artifact
        module = request.module.eval()
        # The exporter prints progress lines and deprecation warnings a user cannot act on.
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (example_input(request),), dynamo=True, opset_version=OPSET,
                                        input_names=["input"], output_names=["logits"], verbose=False)
            program.save(str(path))
        onnx.checker.check_model(str(path))
        return {"opset": OPSET}

    def providers(self, device: str) -> list[Any]:
        """The execution providers for ``device``, first the one that must run the network."""
        return [CUDA_FP32] if device == "cuda" else ["CPUExecutionProvider"]

    def cannot_run(self, device: str) -> str | None:
        """On the board (``devbench doctor``): why this onnxruntime cannot run the network on ``device``,
        which its import alone does not tell: the CPU wheel on a GPU board."""
        import onnxruntime as ort

        return missing_provider(ort, self.gpu_provider) if device == "cuda" else None

    def load(self, artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
        import onnxruntime as ort

        sess = session(artifact, threads, self.providers(device))
        name = sess.get_inputs()[0].name

        def infer(a: np.ndarray) -> np.ndarray:
            return sess.run(None, {name: a})[0]

        return Loaded(lambda: infer(x), infer, None, ort.__version__)

    def profile(self, request: RunRequest, x: np.ndarray) -> Profiled:
        """ONNX Runtime's ``enable_profiling`` trace: a ``model_run`` event per inference and a
        ``<node>_kernel_time`` event per node run inside it (on CUDA, the node's host-side time)."""
        sess = session(request.artifact, request.threads, self.providers(request.device),
                       profile_prefix="ort_profile")
        feed = {sess.get_inputs()[0].name: x}
        for _ in range(request.warmup):
            sess.run(None, feed)
        walls = []
        for _ in profiled_runs(request):
            t0 = time.perf_counter()
            sess.run(None, feed)
            walls.append((time.perf_counter() - t0) * 1e3)
        trace = Path(sess.end_profiling())
        events = json.loads(trace.read_text())
        trace.unlink()  # a board keeps no trace files behind
        spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                       if e.get("cat") == "Session" and e.get("name") == "model_run")[request.warmup:]
        nodes = sorted((e["ts"], e["name"].removesuffix("_kernel_time"), e["dur"] / 1e3) for e in events
                       if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"))
        runs: list[list[tuple[str, float]]] = []
        i = 0  # one pass over both sorted lists: scanning every node for every run took minutes at 10^5 runs
        for start, end in spans:
            while i < len(nodes) and nodes[i][0] < start:
                i += 1
            runs.append([])
            while i < len(nodes) and nodes[i][0] <= end:
                runs[-1].append((nodes[i][1], nodes[i][2]))
                i += 1
        return runs, walls, None


def session(artifact: str, threads: int, providers: list[Any], profile_prefix: str = "") -> Any:
    """The inference session every mode uses: ``threads`` intra-op threads, sequential, every graph
    optimisation, ``providers`` (names, or ``(name, options)``); with a ``profile_prefix``, profiling
    into a trace file of that prefix. ONNX Runtime falls back to the CPU with only a warning when the
    first provider is missing from its build: that would time the CPU under a GPU's name, so it is an
    error instead."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(profile_prefix).resolve())
    names = [p if isinstance(p, str) else p[0] for p in providers]
    wanted = names[0]
    if any(name in GPU_PROVIDERS for name in names) and hasattr(ort, "preload_dlls"):  # onnxruntime >= 1.21
        # onnxruntime-gpu's CUDA provider library has no run path to CUDA and cuDNN: installed as the
        # nvidia-* wheels beside it (pip install onnxruntime-gpu[cuda,cudnn]), they are found only once
        # loaded, which ONNX Runtime leaves to this call. A board with CUDA on the library path (a
        # Jetson, a CUDA toolkit) loads them either way. It reports what it cannot load with print().
        with redirect_stdout(sys.stderr):
            ort.preload_dlls()
    if missing := missing_provider(ort, wanted):
        raise RuntimeError(missing)
    sess = ort.InferenceSession(artifact, opts, providers=providers)
    if sess.get_providers()[0] != wanted:  # in the build, but it failed to start (CUDA libraries missing)
        raise RuntimeError(f"onnxruntime {ort.__version__} here cannot use {wanted}: it failed to start and the "
                           f"network would have run on {sess.get_providers()[0]}")
    return sess


def missing_provider(ort: Any, wanted: str) -> str | None:
    """Why ``wanted`` is not in this onnxruntime build (the CPU wheel has no CUDA), or ``None``."""
    available = ort.get_available_providers()
    if wanted in available:
        return None
    return (f"onnxruntime {ort.__version__} here cannot use {wanted}: it has {', '.join(available)} (the GPU "
            "providers come with the package onnxruntime-gpu)")


BACKEND = ONNXRuntimeBackend()
