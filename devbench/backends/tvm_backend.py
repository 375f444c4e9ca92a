"""The TVM backend: PyTorch -> Relax -> one shared library the board loads with the TVM runtime.

Import goes through ``torch.export`` and ``from_exported_program``; a network that torch.export
cannot import falls back to ONNX and says so. Batch norms are folded into the preceding conv
weights so that each conv + bias + ReLU becomes one fused kernel. When the target's tuning
database (see :mod:`devbench.tuning`) holds records, they are applied automatically; kernels the
database does not cover get TVM's default lowering.

Board-side code too (see :mod:`devbench.backends.base`): the top level imports only the standard
library and ``protocol.py``; TVM, torch and devbench's own modules are imported where they are used.
"""

from __future__ import annotations

import io
import json
import logging
import time
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__:  # on the host, as devbench.backends.tvm_backend
    from devbench.board.protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime, profiled_runs
else:  # on the board, beside protocol.py
    from protocol import BackendInfo, Loaded, Profiled, RunRequest, Runtime, profiled_runs

if TYPE_CHECKING:
    import numpy as np
    import torch

    from devbench.backends.base import CompileRequest
    from devbench.backends.tvm_winograd import Boundary
    from devbench.targets import Target

log = logging.getLogger(__name__)

#: bump when the pipeline below changes in a way that changes the artifact
PIPELINE_VERSION = "13"


def compiled_target_dict(target: Target) -> dict[str, Any]:
    """The TVM target dict that compiles for ``target``: its own dict plus ``num-cores``.

    ``num-cores`` is the board's thread count: MetaSchedule sizes parallel loops by it, so an
    artifact built for 1 thread is not the one built for 4, and the cache key must say so.
    """
    d = target.tvm_target_dict()
    if target.threads and d.get("kind") == "llvm":  # a GPU target's CPU side sets it in its host table
        d.setdefault("num-cores", target.threads)
    return d


def tvm_target(target: Target) -> Any:
    """The ``tvm.target.Target`` for ``target`` (TVM 0.27 only takes the JSON-dict form)."""
    import tvm

    return tvm.target.Target(compiled_target_dict(target))


def import_network(module: torch.nn.Module, example: torch.Tensor) -> tuple[Any, str]:
    """A Relax IRModule with the weights bound as constants, and which frontend made it.

    The ONNX fallback exists for networks torch.export cannot trace; it is logged as a warning so
    the user knows the artifact came from a different importer.
    """
    module = module.eval()
    try:
        return _from_torch_export(module, example), "torch.export"
    except Exception as e:  # any exporter/importer failure: try the other road before giving up
        from devbench import interrupts  # host side only: this module's top level is also the board's

        if interrupts.requested():  # Ctrl-C inside TVM arrives as a RuntimeError: not a failure to route around
            raise KeyboardInterrupt from None
        log.warning("torch.export import failed (%s: %s); falling back to ONNX", type(e).__name__, e)
    return _from_onnx(module, example), "onnx"


def _from_torch_export(module: torch.nn.Module, example: torch.Tensor) -> Any:
    import torch
    from tvm.relax.frontend.torch import from_exported_program

    with torch.no_grad():
        program = torch.export.export(module, (example,))
    return from_exported_program(program, keep_params_as_input=False, unwrap_unit_return_tuple=True)


def _from_onnx(module: torch.nn.Module, example: torch.Tensor) -> Any:
    import onnx
    import torch
    from tvm.relax.frontend.onnx import from_onnx

    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buf, input_names=["input"], output_names=["output"], dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    return from_onnx(model, shape_dict={"input": list(example.shape)}, keep_params_in_input=False)


def optimize_graph(mod: Any) -> Any:
    """Graph-level rewrites that need no target: fold BN into convs, decompose what is left.

    ``FoldBatchnormToConv2D`` turns conv -> BN into conv with scaled weights plus a bias add, and
    the constant folding computes the new weights at compile time (in numpy: see
    :func:`.tvm_layout.fold_constants`), so the board never runs a BN after a conv. BNs that follow
    an add (pre-activation blocks) become a multiply-add that FuseOps merges into their neighbour.
    """
    import tvm
    from tvm import relax

    from devbench.backends.tvm_layout import fold_constants

    return tvm.transform.Sequential([
        relax.transform.FoldBatchnormToConv2D(),
        fold_constants(),
        relax.transform.DecomposeOpsForInference(),
        relax.transform.CanonicalizeBindings(),
        fold_constants(),
    ])(mod)


def lower_to_tir(mod: Any, target: Any, winograd: bool | Boundary = True) -> Any:
    """Legalize to TIR and fuse: the module MetaSchedule extracts its tasks from.

    On CPUs, convs first take the blocked layout where the whole network allows it (see
    :mod:`.tvm_layout`), and the convs that suit it Winograd: by the boundary measured on the target's
    kind of core, or by the one ``winograd`` gives, or none where it is false (what
    ``benchmarks/winograd.py`` compares against).
    """
    import tvm
    from tvm import relax

    from devbench.backends.tvm_layout import blocked_layout_applies, to_blocked_layout

    with target:
        if blocked_layout_applies(mod, target):
            mod = to_blocked_layout(mod, target, winograd)
        return tvm.transform.Sequential([
            relax.transform.LegalizeOps(),
            relax.transform.AnnotateTIROpPattern(),
            relax.transform.FoldConstant(),
            relax.transform.FuseOps(),
            relax.transform.FuseTIR(),
        ])(mod)


def prepare(module: torch.nn.Module, example: torch.Tensor, target: Any,
            winograd: bool | Boundary = True) -> tuple[Any, str]:
    """PyTorch module -> fused TIR-level Relax module (the tuning and compile starting point)."""
    mod, frontend = import_network(module, example)
    return lower_to_tir(optimize_graph(mod), target, winograd), frontend


def build(mod: Any, target: Any, database: Any | None) -> tuple[Any, int]:
    """Apply the tuning database where it has records, then compile. Returns (executable, kernels tuned)."""
    import tvm
    from tvm import relax

    from devbench.backends.tvm_schedule import unscheduled

    tuned = 0
    with target:
        if database is not None:
            before = len(unscheduled(mod))
            with database:  # the pass reads the database in scope
                mod = relax.transform.MetaScheduleApplyDatabase()(mod)
            tuned = before - len(unscheduled(mod))
        mod = default_schedule(mod, target)
    return tvm.compile(mod, target=target, relax_pipeline=_finish_pipeline(target)), tuned


def default_schedule(mod: Any, target: Any) -> Any:
    """Give kernels without a tuned schedule one chosen without measuring (see :mod:`.tvm_schedule`)."""
    from devbench.backends.tvm_schedule import schedule_untuned

    return schedule_untuned(mod, target)


def _finish_pipeline(target: Any) -> Any:
    import tvm
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    @tvm.transform.module_pass(opt_level=0)
    def _pipeline(mod: Any, _ctx: Any) -> Any:
        with target:
            return tvm.transform.Sequential(cpu.dataflow_lower_passes(target) + cpu.finalize_passes(target))(mod)

    return _pipeline


class TVMBackend:
    """Compiles with TVM Relax; applies the target's MetaSchedule database when there is one. On the
    board, the Relax VM runs the library (over RPC, TVM's ``time_evaluator`` times it: see the RPC transport)."""

    # On the board, TVM's runtime library alone (not its 260 MB compiler), and no torch, which
    # tvm_ffi imports whenever it is installed: the runner's peak RSS for resnet56 was 610 MB with
    # both on this host, 102 MB without, the same latency (interleaved runs)
    info = BackendInfo(name="tvm", runtime=Runtime("tvm", ("apache-tvm", "apache-tvm-ffi"), same_version_as_host=True,
                                                   env=(("TVM_USE_RUNTIME_LIB", "1"),), keep_out=("torch",)),
                       artifact="model.so")

    def version_key(self, request: CompileRequest) -> str:
        from devbench.errors import DevbenchError
        from devbench.tuning.database import fingerprint_at, tuning_dir

        # the installed version, read without importing TVM (seconds) on a cache hit
        target = request.target
        try:
            tvm_version = metadata.version("apache-tvm")
        except metadata.PackageNotFoundError:
            raise DevbenchError("the tvm backend needs apache-tvm on this host: "
                                "pip install apache-tvm apache-tvm-ffi") from None
        # only what changes the compiled code: two boards with the same CPU and threads share artifacts
        db = fingerprint_at(tuning_dir(target, request.tuning))
        return (f"tvm={tvm_version};pipeline={PIPELINE_VERSION};db={db};"
                f"target={json.dumps(compiled_target_dict(target), sort_keys=True)};cc={target.cross_compiler}")

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        import tvm

        from devbench.backends.example_input import example_input
        from devbench.errors import DevbenchError
        from devbench.native_log import native_stderr
        from devbench.tuning.database import fingerprint_at, open_database_at, records_for, tuned_for, tuning_dir

        if tvm.base._RUNTIME_ONLY:  # a board's install: artifacts from the cache run, new ones cannot be built
            raise DevbenchError(f"{request.spec.name}: no artifact in the cache for {request.target.name}, and this "
                                "TVM is its runtime alone (no libtvm_compiler.so): compile on a host with the full "
                                "apache-tvm, then carry DEVBENCH_CACHE_DIR")
        with native_stderr():  # TVM's and LLVM's C++ warnings: through logging, shown with -v
            target = tvm_target(request.target)
            mod, frontend = prepare(request.module, example_input(request), target)
            folder = tuning_dir(request.target, request.tuning)
            database = open_database_at(folder, create=False) if folder is not None else None
            exe, tuned_kernels = build(mod, target, database)
            out = Path(out_dir) / self.info.artifact
            out.parent.mkdir(parents=True, exist_ok=True)
            export_library(exe, out, request.target)
            trials = records_for(database, mod, target) if database is not None else 0
        # kernels tuned while tuning other networks (they share the database): say which
        tuned_networks = tuned_for(folder) if tuned_kernels and folder is not None else []
        via = "" if request.spec.name in tuned_networks else ", ".join(tuned_networks)
        return {
            "frontend": frontend,
            "tvm_target": str(target),
            "tuned": tuned_kernels > 0,
            "tuned_kernels": tuned_kernels,
            "trials": trials,
            "database": str(folder) if database is not None else None,
            "tuning_db": fingerprint_at(folder) if database is not None else "",
            "tuned_via": via,
        }

    def cannot_run(self, device: str) -> str | None:
        """On the board (``devbench doctor``): why TVM's runtime for ``device`` does not load here
        (``libtvm_runtime_cuda.so`` without CUDA's libraries, say), which ``import tvm`` does not tell."""
        if device == "cpu":
            return None
        try:
            load_device_runtime(device)
        except RuntimeError as e:
            return str(e)
        return None

    def load(self, artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
        """The Relax VM over the library; the thread pool is sized by TVM_NUM_THREADS, which the
        runner sets before anything starts it.

        Timed like every other backend, by the runner's ``perf_counter`` around one call from input
        array to output array. TVM's ``time_evaluator`` times ``invoke_stateful`` alone (the input
        already set, the output left on the device): on resnet20 it read 4-10 % below a bare Python
        loop, where ONNX Runtime's and PyTorch's figures pay for their input and output, so it
        flattered TVM in the very comparison the table makes.

        On a CPU the input is copied into the VM's own input tensor and the output out of its, by
        numpy through DLPack views: a new ``tvm.runtime.tensor`` and ``.numpy()`` each call cost 25-35
        us of Python here, a fifth of resnet8's 0.14 ms, where ONNX Runtime's ``run`` cost 4 us more
        than its I/O binding's (``benchmarks/harness.py`` measures what is left)."""
        import numpy as np
        import tvm

        vm, dev = relax_vm(artifact, device)
        given = tvm.runtime.empty(x.shape, str(x.dtype), dev)
        vm.set_input("main", given)
        # the same memory, written by numpy (numpy >= 1.22; a board's older one keeps TVM's copies)
        host = np.from_dlpack(given) if device == "cpu" and hasattr(np, "from_dlpack") else None

        def infer(a: np.ndarray) -> np.ndarray:
            if host is None:
                given.copyfrom(a)
            else:
                np.copyto(host, a)
            vm.invoke_stateful("main")
            out = vm.get_outputs("main")
            out = out if hasattr(out, "numpy") else out[0]
            return out.numpy() if host is None else np.from_dlpack(out).copy()

        return Loaded(lambda: infer(x), infer, None, tvm.__version__)

    def profile(self, request: RunRequest, x: np.ndarray) -> Profiled:
        """The Relax VM's instrument hook, which the VM calls before and after every call instruction
        (kernels and its builtins); TVM 0.27's runtime no longer has the VM's ``profile`` function.
        Fused kernels keep no layer names, so one untimed inference first records every call's
        argument shapes, by which the host recognises the network's convs."""
        import tvm

        vm, dev = relax_vm(request.artifact, request.device)
        vm.set_input("main", tvm.runtime.tensor(x, dev))
        for _ in range(request.warmup):
            vm.invoke_stateful("main")
        shapes: list[list[list[int]]] = []

        def record_shapes(func: Any, symbol: str, before: bool, ret: Any, *args: Any) -> int:
            if before:
                shapes.append([[int(d) for d in a.shape] for a in args if hasattr(a, "shape")])
            return 0  # VMInstrumentReturnKind.NO_OP: run the call as usual

        vm.set_instrument(record_shapes)
        vm.invoke_stateful("main")
        run: list[tuple[str, float]] = []
        started: list[float] = []
        sync = dev.sync if request.device != "cpu" else None  # a GPU kernel call returns before it ends

        def instrument(func: Any, symbol: str, before: bool, ret: Any, *args: Any) -> int:
            if before:
                started.append(time.perf_counter())
            else:
                if sync is not None:
                    sync()
                run.append((symbol, (time.perf_counter() - started.pop()) * 1e3))
            return 0  # VMInstrumentReturnKind.NO_OP: run the call as usual

        vm.set_instrument(instrument)
        runs, walls = [], []
        for _ in profiled_runs(request):
            run = []
            t0 = time.perf_counter()
            vm.invoke_stateful("main")
            if sync is not None:
                sync()
            walls.append((time.perf_counter() - t0) * 1e3)
            runs.append(run)
        return runs, walls, shapes


def relax_vm(artifact: str, device: str) -> tuple[Any, Any]:
    """The library loaded into a Relax VM on ``device``, and that device.

    The VM comes from ``tvm.runtime``, not ``tvm.relax`` (which needs the compiler library), so a
    board may hold TVM's runtime alone: the package without its 260 MB ``libtvm_compiler.so``
    (``import tvm`` then loads the runtime only, as ``TVM_USE_RUNTIME_LIB=1`` would make it).
    """
    import tvm
    from tvm.runtime.vm import VirtualMachine

    if device != "cpu":
        load_device_runtime(device)
    dev = tvm.device(device, 0)
    return VirtualMachine(tvm.runtime.load_module(artifact), dev), dev


def load_device_runtime(device: str) -> None:
    """Load TVM's runtime for ``device`` (``libtvm_runtime_cuda.so``), which registers the loader
    of the artifact's CUDA kernels.

    ``import tvm`` loads it only beside the compiler, and then swallows a failure, which surfaces
    later as "a loader of that name is not registered"; loading it here works with the runtime
    alone and says why it did not load (``libcudart`` missing, say).
    """
    import tvm
    from tvm.base import _LOADED_LIBS
    from tvm_ffi.libinfo import load_lib_ctypes

    name = f"tvm_runtime_{device}"
    if name in _LOADED_LIBS:
        return
    runtime_dir = Path(_LOADED_LIBS["tvm_runtime"]._name).resolve().parent
    try:
        _LOADED_LIBS[name] = load_lib_ctypes(package="tvm", target_name=name, extra_lib_paths=[runtime_dir],
                                             mode="RTLD_LOCAL")
    except (OSError, RuntimeError) as e:
        raise RuntimeError(f"TVM's {device} runtime (lib{name}.so) did not load: {e}") from None
    if device == "cuda" and tvm.base._RUNTIME_ONLY:
        _compile_cuda_for_this_gpu()


def _compile_cuda_for_this_gpu() -> None:
    """Compile the library's CUDA kernels for this board's GPU when it is loaded.

    A host without a CUDA driver (no ``libcuda``) cannot build cubins, so TVM stores the kernels'
    CUDA source and compiles it when the library loads (part of ``load_s``, not of the latency).
    TVM's own hook asks its compiler library for the target, which a runtime-only TVM lacks; this
    one asks the GPU for its architecture (NVRTC comes from ``cuda-bindings``). Checked on an H100:
    resnet8's kernels compile in about 3 s of ``load_s`` and its output matches PyTorch's.
    """
    import tvm
    import tvm_ffi
    from tvm.support.nvcc import compile_cuda

    arch = "sm_" + tvm.cuda(0).compute_version.replace(".", "")

    @tvm_ffi.register_global_func("tvm_callback_cuda_compile", override=True)
    def _compile(code: str) -> bytes:
        return compile_cuda(code, target_format="cubin", arch=arch, compiler="nvrtc")


def cross_compiler(compiler: str) -> Any:
    """TVM's ``fcompile`` that links a library with ``compiler`` (e.g. aarch64-linux-gnu-g++)."""
    from tvm.support import cc

    return cc.cross_compiler(compiler)


def export_library(exe: Any, path: Path, target: Target) -> None:
    """Write the shared library, with the target's cross compiler when it has one."""
    from devbench.errors import DevbenchError

    if not target.cross_compiler:
        exe.export_library(str(path))
        return
    try:
        exe.export_library(str(path), fcompile=cross_compiler(target.cross_compiler))
    except Exception as e:  # a missing toolchain is the user's to install
        raise DevbenchError(f"target {target.name}: cross compiler {target.cross_compiler!r} failed: {e}") from None


BACKEND = TVMBackend()
