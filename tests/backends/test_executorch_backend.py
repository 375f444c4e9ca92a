"""The ExecuTorch backend on the real stack: export with the XNNPACK delegate, run the program through
the local transport's board runner at a fixed thread count, compare with PyTorch."""

from __future__ import annotations

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
        result = transport.run(BoardJob(files={"model.pte": tmp_path / "model.pte", "x.npy": tmp_path / "x.npy"},
                                        request=request))
    finally:
        transport.close()
    assert "error" not in result, result
    assert len(result["samples_ms"]) >= 5 and min(result["samples_ms"]) > 0
    assert result["environment"]["threads"] == 2 and result["environment"]["runtime_version"].startswith("1.5")
    with torch.no_grad():
        reference = module(torch.from_numpy(x)).numpy()
    check = compare_outputs(reference, np.asarray(result["output"], dtype=np.float32))
    assert check.passed and check.top1_agreement == 1.0, check


def test_a_cuda_device_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="CPUs"):
        get_backend("executorch").load("model.pte", np.zeros((1, 3, 32, 32), dtype=np.float32), 1, "cuda")


def test_the_artifact_does_not_depend_on_the_board() -> None:
    """XNNPACK picks its kernels on the board, so two CPU targets share one cached program."""
    spec = get_spec("pruned_resnet")
    module = build_model(spec)
    backend = get_backend("executorch")
    keys = {backend.version_key(CompileRequest(spec, module, get_target(name))) for name in ("local", "pi4")}
    assert len(keys) == 1
