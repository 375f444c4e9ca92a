"""The TVM backend on the real stack: compile, run through the board runner, compare with PyTorch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from devbench.backends.base import CompileRequest
from devbench.backends.tvm_backend import (
    TVMBackend,
    build,
    export_library,
    import_network,
    optimize_graph,
    prepare,
    tvm_target,
)
from devbench.models import build_model, get_spec
from devbench.targets import get_target

RUNNER = Path(__file__).resolve().parents[2] / "devbench" / "board" / "runner.py"


def conv_bn_net() -> nn.Module:
    """conv -> BN -> ReLU -> conv -> BN, with BN statistics far from identity so folding matters."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.2, 3)
            m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    return net.eval()


@pytest.fixture(scope="module")
def local():
    return get_target("local", threads=2)


def test_batchnorm_is_folded_and_outputs_stay_equal(local) -> None:
    import tvm
    from tvm import relax

    net, x = conv_bn_net(), torch.randn(1, 3, 8, 8)
    imported, frontend = import_network(net, x)
    assert frontend == "torch.export"
    assert "batch_norm" in imported.script()
    folded = optimize_graph(imported)
    assert "batch_norm" not in folded.script()

    target = tvm_target(local)
    exe, _ = build(prepare(net, x, target)[0], target, None)
    vm = relax.VirtualMachine(exe, tvm.cpu())
    out = vm["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        ref = net(x).numpy()
    assert np.abs(out - ref).max() < 1e-4


def test_a_build_leaves_the_prepared_module_unscheduled(local) -> None:
    """What a build schedules is its own: a second build of the same module (with a tuning, say)
    still finds every kernel to schedule."""
    from devbench.backends.tvm_schedule import unscheduled

    target = tvm_target(local)
    mod = prepare(conv_bn_net(), torch.randn(1, 3, 8, 8), target)[0]
    kernels = len(unscheduled(mod))
    build(mod, target, None)
    assert len(unscheduled(mod)) == kernels > 0


@pytest.mark.parametrize("dlpack", [True, False], ids=["numpy-views", "numpy-without-dlpack"])
def test_a_timed_inference_goes_from_input_array_to_output_array(tmp_path: Path, local, dlpack: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Timed by the runner's loop like every backend, input set and output fetched in each call: TVM's
    time_evaluator, which left both out, read 9 % below that loop on resnet20 (benchmarks/harness.py).
    A board's numpy older than 1.22 has no DLPack: TVM's own copies then do it."""
    if not dlpack:
        monkeypatch.delattr(np, "from_dlpack")
    net, x = conv_bn_net(), torch.randn(1, 3, 8, 8)
    target = tvm_target(local)
    exe, _ = build(prepare(net, x, target)[0], target, None)
    artifact = tmp_path / "model.so"
    export_library(exe, artifact, local)
    a, b = np.zeros((1, 3, 8, 8), np.float32), x.numpy()
    loaded = TVMBackend().load(str(artifact), a, 2, "cpu")
    assert loaded.timed is None
    first = loaded.run()
    # each output is the caller's own (the VM's buffers are reused), and the timed call writes its own
    # input again: what ran before does not leak into it
    assert not np.array_equal(loaded.infer(b), first)
    assert np.array_equal(loaded.run(), first)
    with torch.no_grad():
        assert np.abs(loaded.infer(b) - net(x).numpy()).max() < 1e-4


@pytest.mark.slow
def test_compiled_network_runs_in_board_runner_like_pytorch(tmp_path: Path, local, fresh_cache: Path) -> None:
    """Untuned (the fresh cache has no tuning database), imported through torch.export, equal to PyTorch."""
    spec = get_spec("wrn_10_1")
    torch.manual_seed(0)
    module = build_model(spec).eval()
    meta = TVMBackend().compile(CompileRequest(spec, module, local), tmp_path)
    assert meta["frontend"] == "torch.export" and meta["tuned"] is False
    artifact = tmp_path / "model.so"

    x = np.random.default_rng(0).standard_normal((1, *spec.input_shape)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out_json = tmp_path / "r.json"
    subprocess.run([sys.executable, str(RUNNER), "--backend", "tvm", "--artifact", str(artifact),
                    "--input", str(tmp_path / "x.npy"), "--threads", "2", "--warmup", "1", "--repeats", "5",
                    "--out", str(out_json)], check=True, timeout=120)
    result = json.loads(out_json.read_text())
    assert "error" not in result, result
    assert len(result["samples_ms"]) >= 5 and min(result["samples_ms"]) > 0
    # the runner's process is a board's with TVM's runtime alone: without the torch that tvm_ffi
    # imports when it can (500 MB of the 600 MB it had) or TVM's compiler library
    assert result["peak_rss_mb"] < 250, result["peak_rss_mb"]
    with torch.no_grad():
        ref = module(torch.from_numpy(x)).numpy()
    assert np.abs(np.asarray(result["output"], dtype=np.float32) - ref).max() < 1e-4


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None, reason="no aarch64 cross compiler")
def test_cross_compile_for_aarch64_writes_an_aarch64_elf(tmp_path: Path, local) -> None:
    board = replace(local, name="arm", tvm_target={"kind": "llvm", "mtriple": "aarch64-linux-gnu"}, threads=4,
                    cross_compiler="aarch64-linux-gnu-g++")
    target = tvm_target(board)
    exe, _ = build(prepare(conv_bn_net(), torch.randn(1, 3, 8, 8), target)[0], target, None)
    path = tmp_path / "model.so"
    export_library(exe, path, board)
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == 183  # e_machine EM_AARCH64


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None, reason="no aarch64 cross compiler")
def test_jetson_artifact_holds_aarch64_host_code_and_cuda_kernels(tmp_path: Path) -> None:
    """The Jetson targets compile CPU code for the ARM host and CUDA kernels in one library."""
    board = get_target("jetson-orin-nano")
    request = CompileRequest(spec=get_spec("resnet8"), module=build_model(get_spec("resnet8")).eval(), target=board)
    meta = TVMBackend().compile(request, tmp_path)
    data = (tmp_path / "model.so").read_bytes()
    assert int.from_bytes(data[18:20], "little") == 183  # the host side is aarch64
    assert '"arch":"sm_87"' in meta["tvm_target"]
    assert b"__global__" in data or b"__CUDACC_RTC__" in data  # the device side: CUDA kernels


def test_a_cuda_build_runs_every_kernel_on_the_gpu() -> None:
    """Every conv of an untuned CUDA build is a GPU kernel. A kernel left without a thread binding
    is compiled as host code that reads device memory: resnet8's 9 convs were, and the first
    inference on an H100 / H200 segfaulted."""
    from tvm import tirx

    target = tvm_target(get_target("jetson-orin-nano"))
    mod, _ = prepare(build_model(get_spec("resnet8")).eval(), torch.randn(1, 3, 32, 32), target)
    convs = [gv.name_hint for gv, f in mod.functions_items()
             if isinstance(f, tirx.PrimFunc) and "conv2d" in gv.name_hint]
    exe, _ = build(mod, target, None)

    def modules(m):
        yield m
        for i in m.imports:
            yield from modules(i)

    source = "".join(m.inspect_source("cuda") for m in modules(exe.mod) if m.kind == "cuda")
    assert len(convs) == 9
    assert [c for c in convs if f" {c}_kernel(" not in source] == []


def test_board_runs_an_artifact_with_tvm_runtime_alone(tmp_path: Path, local) -> None:
    """A board may hold TVM without its 260 MB compiler library (``import tvm`` then loads the
    runtime alone): the runner still loads and runs the artifact, equal to PyTorch."""
    import tvm

    net, x = conv_bn_net(), np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    target = tvm_target(local)
    exe, _ = build(prepare(net, torch.from_numpy(x), target)[0], target, None)
    export_library(exe, tmp_path / "model.so", local)
    np.save(tmp_path / "x.npy", x)
    site = tmp_path / "site"
    shutil.copytree(Path(tvm.__file__).parent, site / "tvm",
                    ignore=shutil.ignore_patterns("libtvm_compiler*", "3rdparty", "src", "include", "web"))
    env = {**os.environ, "PYTHONPATH": str(site)}
    probe = subprocess.run([sys.executable, "-c", "import tvm, tvm.base as b; print(tvm.__file__, b._RUNTIME_ONLY)"],
                           env=env, capture_output=True, text=True, check=True, timeout=60)
    assert probe.stdout.split() == [str(site / "tvm" / "__init__.py"), "True"]
    out_json = tmp_path / "r.json"
    subprocess.run([sys.executable, str(RUNNER), "--backend", "tvm", "--artifact", str(tmp_path / "model.so"),
                    "--input", str(tmp_path / "x.npy"), "--threads", "2", "--warmup", "1", "--repeats", "3",
                    "--out", str(out_json)], env=env, check=True, timeout=120)
    result = json.loads(out_json.read_text())
    assert "error" not in result, result
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert np.abs(np.asarray(result["output"], dtype=np.float32) - ref).max() < 1e-4


def test_a_runtime_only_tvm_refuses_to_compile_in_one_line(monkeypatch: pytest.MonkeyPatch, local) -> None:
    import tvm

    from devbench.errors import DevbenchError

    monkeypatch.setattr(tvm.base, "_RUNTIME_ONLY", True)
    request = CompileRequest(spec=get_spec("resnet8"), module=build_model(get_spec("resnet8")).eval(), target=local)
    with pytest.raises(DevbenchError, match="runtime alone"):
        TVMBackend().compile(request, Path("unused"))
