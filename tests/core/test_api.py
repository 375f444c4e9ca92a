"""The notebook API: ``import devbench`` is cheap, every advertised name resolves, and a run needs
no database."""

from __future__ import annotations

import subprocess
import sys

import devbench


def test_import_devbench_loads_neither_torch_nor_tvm() -> None:
    code = "import sys, devbench; print(devbench.__version__, 'torch' in sys.modules, 'tvm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]


def test_every_public_name_resolves() -> None:
    for name in devbench.__all__:
        assert getattr(devbench, name) is not None, name
    assert "run_matrix" in dir(devbench)


def test_run_matrix_without_a_store_returns_rows() -> None:
    settings = devbench.MeasureSettings(repeats=3, warmup=1, min_time_s=0.0, rounds=2)
    (row,) = devbench.run_matrix(["resnet8"], backends=["onnxruntime"], settings=settings, progress=False)
    assert row.status == "ok" and row.rounds == 2 and row.median_ms > 0
