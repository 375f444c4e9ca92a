"""ONNX Runtime's GPU providers: a missing provider is an error, never a silent CPU run under a GPU's name.

This machine's onnxruntime is the CPU build, so what is tested here is the refusal (CUDA and TensorRT);
the TensorRT path itself needs a Jetson or a GPU machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from devbench.backends import get_backend
from tests.conftest import run_cli


@pytest.fixture
def relu_onnx(tmp_path: Path) -> str:
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["logits"])], "relu",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return str(path)


def test_cpu_runs_and_a_missing_cuda_provider_is_refused(relu_onnx: str) -> None:
    import onnxruntime as ort

    x = np.array([[-1.0, 2.0, -3.0, 4.0]], dtype=np.float32)
    ours = get_backend("onnxruntime")
    assert ours.load(relu_onnx, x, 1, "cpu").run().tolist() == [[0.0, 2.0, 0.0, 4.0]]
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(RuntimeError, match="cannot use CUDAExecutionProvider: it has .*CPUExecutionProvider"):
        ours.load(relu_onnx, x, 1, "cuda")


def test_tensorrt_backend_needs_a_cuda_target_and_the_provider(relu_onnx: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    monkeypatch.setenv("HOME", str(tmp_path))
    trt = get_backend("onnxruntime_trt")
    assert not trt.info.cpu_default and trt.info.artifact != get_backend("onnxruntime").info.artifact
    x = np.zeros((1, 4), dtype=np.float32)
    with pytest.raises(RuntimeError, match="CUDA targets only"):
        trt.load(relu_onnx, x, 1, "cpu")
    if "TensorrtExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has TensorRT")
    with pytest.raises(RuntimeError, match="cannot use TensorrtExecutionProvider"):
        trt.load(relu_onnx, x, 1, "cuda")
    assert (tmp_path / ".cache/devbench/onnxruntime_trt").is_dir()  # the engine cache, kept across runs


def test_a_cpu_target_does_not_offer_tensorrt() -> None:
    result = run_cli("run", "--model", "resnet8", "--backend", "onnxruntime_trt", "--target", "local")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "onnxruntime_trt" in result.stderr


def test_gpu_providers_run_fp32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA's and TensorRT's TF32 default is off: on an H100 it put resnet56's logits 0.38 from
    PyTorch's FP32, a faster and different computation timed under the same name as the others."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "1")  # a value the backend must override; restored after
    cuda = ("CUDAExecutionProvider", {"use_tf32": "0"})
    assert get_backend("onnxruntime").providers("cuda") == [cuda]
    trt = get_backend("onnxruntime_trt").providers("cuda")
    assert trt[0][0] == "TensorrtExecutionProvider" and trt[1] == cuda
    assert os.environ["NVIDIA_TF32_OVERRIDE"] == "0"
