"""The ExecuTorch backend on the real stack: export with the XNNPACK delegate, run the program through
the local transport's board runner at a fixed thread count, compare with PyTorch."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from devbench.backends import CompileRequest, get_backend
from devbench.board.protocol import RunRequest
from devbench.check import compare_outputs
from devbench.models import build_model, get_spec
from devbench.targets import get_target
from devbench.transports import BoardJob, open_transport


@pytest.mark.slow
def test_pruned_resnet_runs_on_xnnpack_like_pytorch(tmp_path: Path) -> None:
    spec = get_spec("pruned_resnet")
    torch.manual_seed(0)
    module = build_model(spec).eval()
    local = get_target("local", threads=2)
    backend = get_backend("executorch")
    meta = backend.compile(CompileRequest(spec, module, local), tmp_path)
    assert meta["xnnpack_subgraphs"] >= 1, meta

    x = np.random.default_rng(0).standard_normal((1, *spec.input_shape)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    request = RunRequest(backend="executorch", artifact="model.pte", input="x.npy", threads=2, warmup=1, repeats=5)
    transport = open_transport(local)
    try:
        files = {name: tmp_path / name for name in ("model.pte", *meta["board_files"], "x.npy")}
        result = transport.run(BoardJob(files=files, request=request))
    finally:
        transport.close()
    assert "error" not in result, result
    assert len(result["samples_ms"]) >= 5 and min(result["samples_ms"]) > 0
    assert result["environment"]["threads"] == 2 and result["environment"]["runtime_version"].startswith("1.5")
    # ExecuTorch's C++ libraries through devbench's glue, no libtorch: 876 MB with its Python runtime
    assert result["peak_rss_mb"] < 150, result["peak_rss_mb"]
    with torch.no_grad():
        reference = module(torch.from_numpy(x)).numpy()
    check = compare_outputs(reference, np.asarray(result["output"], dtype=np.float32))
    assert check.passed and check.top1_agreement == 1.0, check


def test_a_cuda_device_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="CPUs"):
        get_backend("executorch").load("model.pte", np.zeros((1, 3, 32, 32), dtype=np.float32), 1, "cuda")


def test_boards_share_a_program_unless_their_cpus_need_another_glue() -> None:
    """XNNPACK picks its kernels on the board, so the program is the same everywhere; the glue beside
    it is built by the target's compiler, so an aarch64 board gets its own artifact."""
    spec = get_spec("pruned_resnet")
    module = build_model(spec)
    backend = get_backend("executorch")

    def key(name: str) -> str:
        return backend.version_key(CompileRequest(spec, module, get_target(name)))

    assert key("pi4") == key("pi5") != key("local")


def test_a_board_installs_executorch_without_torch() -> None:
    """`pip install executorch` pulls in torch, which a board neither needs nor (on aarch64) can import."""
    from devbench.doctor import pip_install

    runtimes = [get_backend(name).info.runtime for name in ("tvm", "executorch")]
    line = pip_install("python3", runtimes)
    assert line.startswith("python3 -m pip install apache-tvm==") and " && python3 -m pip install --no-deps " in line
    assert line.endswith("executorch==1.5.1") and not re.search(r"\btorch\b", line)


def test_a_missing_compiler_for_the_glue_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devbench.errors import DevbenchError

    monkeypatch.setenv("CXX", "no-such-g++")
    spec = get_spec("resnet8")
    request = CompileRequest(spec, build_model(spec).eval(), get_target("local", threads=1))
    with pytest.raises(DevbenchError, match="builds its glue for local with no-such-g\\+\\+, which is not installed"):
        get_backend("executorch").compile(request, tmp_path)
