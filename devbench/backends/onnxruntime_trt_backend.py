"""ONNX Runtime with its TensorRT execution provider: the fastest stack on a Jetson, for CUDA targets.

The artifact is the onnxruntime backend's ONNX file; TensorRT builds its engine on the board when the
session opens, which takes minutes on a Jetson, so the engine (and TensorRT's timing cache) is kept in
``~/.cache/devbench/onnxruntime_trt`` on the board: the first run's ``load_s`` is the engine build,
reported apart from latency, and later runs load the cached engine. Nodes TensorRT cannot take run on
the CUDA provider. A board whose onnxruntime has no TensorRT provider is an error, never a silent CPU
run. Board-side code too (see :mod:`devbench.backends.base`).
"""

from __future__ import annotations

import os
from typing import Any

if __package__:  # on the host, as devbench.backends.onnxruntime_trt_backend
    from devbench.backends.onnxruntime_backend import CUDA_FP32, ONNXRuntimeBackend
    from devbench.board.protocol import BackendInfo, Runtime
else:  # on the board, beside protocol.py and onnxruntime_backend.py
    from onnxruntime_backend import CUDA_FP32, ONNXRuntimeBackend
    from protocol import BackendInfo, Runtime

#: where the board keeps built engines, across runs (a run directory is removed after each run)
ENGINE_CACHE = "~/.cache/devbench/onnxruntime_trt"


class ONNXRuntimeTensorRTBackend(ONNXRuntimeBackend):
    info = BackendInfo(name="onnxruntime_trt", runtime=Runtime("onnxruntime", ("onnxruntime-gpu",)),
                       artifact="model_trt.onnx", cpu_default=False)
    gpu_provider = "TensorrtExecutionProvider"

    def providers(self, device: str) -> list[Any]:
        if device != "cuda":
            raise RuntimeError(f"onnxruntime_trt runs on CUDA targets only (this target's device is {device})")
        cache = os.path.expanduser(ENGINE_CACHE)
        os.makedirs(cache, exist_ok=True)
        trt = {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache, "trt_timing_cache_enable": True,
               "trt_timing_cache_path": cache}
        # TensorRT builds engines with TF32 on Ampere and later unless told otherwise, and ONNX Runtime
        # has no option for it: NVIDIA's libraries read this variable (FP32, as every backend runs)
        os.environ["NVIDIA_TF32_OVERRIDE"] = "0"
        return [(self.gpu_provider, trt), CUDA_FP32]


BACKEND = ONNXRuntimeTensorRTBackend()
