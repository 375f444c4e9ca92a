"""doctor on a CUDA target: the board's GPU is checked, not only the runtimes' imports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devbench.doctor import check_backends, probe
from devbench.targets import get_target


@pytest.fixture(scope="module")
def gpu_target():
    return replace(get_target("local"), name="gpu", device="cuda", backends=("torch",))


@pytest.mark.parametrize(("gpus", "ok"), [(1, True), (0, False), ("no CUDA driver (libcuda.so.1 missing)", False),
                                         (None, True)])  # None: a probe from before the GPU was asked
def test_a_cuda_target_needs_a_gpu_the_driver_reports(gpu_target, gpus: int | str | None, ok: bool) -> None:
    found = {"runtimes": {"torch": "2.14.1"}, "hardware": {} if gpus is None else {"cuda_gpus": gpus}}
    [check] = check_backends(gpu_target, found)
    assert check.ok is ok
    if not ok:
        assert "CUDA" in check.detail
    # a CPU target is never failed for the GPU
    assert all(c.ok for c in check_backends(replace(gpu_target, device="cpu"), found))


def test_the_probe_asks_the_cuda_driver_itself(gpu_target) -> None:
    """This machine's real answer: a count where a driver is installed, else the reason."""
    gpus = probe(gpu_target)["hardware"]["cuda_gpus"]
    assert (isinstance(gpus, int) and gpus >= 0) or (isinstance(gpus, str) and "CUDA" in gpus)


def test_a_runtime_that_imports_but_cannot_use_the_gpu_fails_its_check(gpu_target) -> None:
    """The CPU wheel of onnxruntime imports on a GPU board, and would fail every run there."""
    why = "onnxruntime 1.32.0 here cannot use CUDAExecutionProvider: it has CPUExecutionProvider"
    found = {"runtimes": {"torch": "2.14.1", "onnxruntime": "1.32.0"}, "hardware": {"cuda_gpus": 1},
             "unusable": {"onnxruntime": why}}
    ort, torch = check_backends(replace(gpu_target, backends=("onnxruntime", "torch")), found)
    assert (ort.ok, ort.detail) == (False, why) and torch.ok


def test_the_probe_asks_each_runtime_whether_it_runs_on_the_targets_device(gpu_target) -> None:
    """This machine's real answers: no runtime here reaches a GPU (CPU onnxruntime, no CUDA driver),
    and every one runs on the CPU."""
    unusable = probe(gpu_target)["unusable"]
    assert "CUDAExecutionProvider" in unusable["onnxruntime"] and "onnxruntime-gpu" in unusable["onnxruntime"]
    assert "TensorrtExecutionProvider" in unusable["onnxruntime_trt"]
    assert "torch" in unusable["torch"] and "tvm_runtime_cuda" in unusable["tvm"]
    assert "runs on CPUs" in unusable["executorch"]
    assert probe(replace(gpu_target, device="cpu"))["unusable"] == {}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_json_beside_a_format_is_refused_not_ignored(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    from devbench.cli import main

    assert main(["doctor", "--target", "local", "--json", "--format", fmt]) == 2
    assert capsys.readouterr().err == (f"devbench: error: --json prints the board's raw probe and --format {fmt} "
                                       "another document; give one of them\n")
