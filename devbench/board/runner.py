"""The board-side benchmark script: load one compiled network, time it, write JSON.

This file is copied to the board and run with the board's own Python. It imports nothing but the
standard library, numpy and the one runtime it measures (TVM runtime, onnxruntime or torch), so a
board needs no devbench install. Usage::

    python3 runner.py --mode measure --backend tvm --artifact model.so --input input.npy --threads 4 \
        --warmup 10 --repeats 100 --out result.json
    python3 runner.py --mode probe --out probe.json       # what this board has (devbench doctor)
    python3 runner.py --mode accuracy --backend tvm --artifact model.so --input images.npy \
        --labels labels.npy --out result.json             # top-1 error of the deployed artifact

The arguments are :class:`protocol.RunRequest`'s fields (``protocol.py`` is uploaded beside this
file).

Every sample is one inference of the whole batch, in milliseconds. TVM is timed with its own
``time_evaluator`` (a C++ loop, number=1 so each repeat is one run); onnxruntime and torch with
``time.perf_counter`` around a call whose output is materialised.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

if __package__:  # imported on the host (tests, tools)
    from .protocol import RunRequest, TimedLoop, timing_loop
else:  # on the board: protocol.py sits beside this file
    from protocol import RunRequest, TimedLoop, timing_loop

THREAD_ENV = ("TVM_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def read_first(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_model() -> str:
    text = read_first("/proc/cpuinfo") or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
            return value.strip()
    return platform.processor() or platform.machine()


def temperature_c() -> float | None:
    """Hottest thermal zone in degrees C, where the board exposes one."""
    temps = []
    for zone in Path("/sys/class/thermal").glob("thermal_zone*/temp"):
        value = read_first(str(zone))
        if value and value.lstrip("-").isdigit():
            temps.append(int(value) / 1000.0)
    return max(temps) if temps else None


def mem_available_mb() -> float | None:
    for line in (read_first("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024.0
    return None


def environment() -> dict[str, Any]:
    """Facts about the board that a reader of the results needs to judge them."""
    governor = read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    freq = read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return {
        "hostname": platform.node(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "governor": governor,
        "cpu_mhz": int(freq) / 1000.0 if freq and freq.isdigit() else None,
        "temperature_c": temperature_c(),
        "mem_available_mb": mem_available_mb(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "qemu": bool(os.environ.get("QEMU_LD_PREFIX") or os.environ.get("DEVBENCH_EMULATED")),
    }


def runtime_versions() -> dict[str, str | None]:
    """Which runtimes this board can import, with their versions (None when missing)."""
    found: dict[str, str | None] = {}
    for name in ("tvm", "onnxruntime", "torch"):
        try:
            mod = __import__(name)
            found[name] = str(getattr(mod, "__version__", "unknown"))
        except Exception:
            found[name] = None
    return found


# ---------------------------------------------------------------------- what disturbs a measurement
def cpu_counters() -> dict[str, float] | None:
    """The board's aggregate CPU time from /proc/stat in seconds (Linux); ``None`` where unreadable."""
    line = (read_first("/proc/stat") or "").splitlines()[:1]
    if not line or not line[0].startswith("cpu "):
        return None
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    hz = float(os.sysconf("SC_CLK_TCK"))
    return {k: int(v) / hz for k, v in zip(names, line[0].split()[1:9], strict=False)}


class Conditions:
    """What else happened on the board while it was timed: other processes' CPU use (in cores),
    CPU time stolen by a hypervisor, load average, frequency and temperature before and after.
    The host flags a row whose rounds ran beside other load."""

    def __init__(self) -> None:
        self.cpu = cpu_counters()
        self.own = time.process_time()
        self.wall = time.perf_counter()
        self.env = environment()

    def finish(self) -> dict[str, Any]:
        after_cpu, own, wall, env = cpu_counters(), time.process_time(), time.perf_counter(), environment()
        out: dict[str, Any] = {
            "seconds": wall - self.wall,
            "loadavg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "cpu_mhz_before": self.env["cpu_mhz"], "cpu_mhz_after": env["cpu_mhz"],
            "temperature_before_c": self.env["temperature_c"], "temperature_after_c": env["temperature_c"],
            "other_cpu_cores": None, "steal_frac": None,
        }
        if self.cpu and after_cpu and out["seconds"] > 0:
            delta = {k: after_cpu[k] - self.cpu.get(k, 0.0) for k in after_cpu}
            total = sum(delta.values())
            busy = total - delta.get("idle", 0.0) - delta.get("iowait", 0.0) - delta.get("steal", 0.0)
            out["other_cpu_cores"] = max(0.0, busy - (own - self.own)) / out["seconds"]
            out["steal_frac"] = delta.get("steal", 0.0) / total if total > 0 else 0.0
        return out


def peak_rss_mb() -> float:
    """Peak resident memory of this process: ``VmHWM`` in /proc/self/status (Linux). Not
    ``getrusage``'s ``ru_maxrss``, which survives ``exec`` and so reports the host's devbench
    process that launched a local runner; that is the fallback where /proc is missing."""
    for line in (read_first("/proc/self/status") or "").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------------- loaders, one per backend
@dataclass(frozen=True)
class Loaded:
    """A network loaded by its runtime: ``run`` infers the bound input, ``infer`` any input of
    the same shape, ``timed`` is the runtime's own timing loop where it has one."""

    run: Callable[[], np.ndarray]
    infer: Callable[[np.ndarray], np.ndarray]
    timed: TimedLoop | None
    version: str


def load_tvm(artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
    import tvm
    from tvm import relax

    dev = tvm.device(device, 0)
    lib = tvm.runtime.load_module(artifact)
    vm = relax.VirtualMachine(lib, dev)

    def run() -> np.ndarray:
        vm.invoke_stateful("main")
        out = vm.get_outputs("main")
        return out.numpy() if hasattr(out, "numpy") else out[0].numpy()

    def infer(a: np.ndarray) -> np.ndarray:
        vm.set_input("main", tvm.runtime.tensor(a, dev))
        return run()

    def timed(repeats: int) -> list[float]:
        evaluator = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=repeats)
        return [t * 1e3 for t in evaluator("main").results]

    vm.set_input("main", tvm.runtime.tensor(x, dev))
    return Loaded(run, infer, timed, tvm.__version__)


def load_onnxruntime(artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CUDAExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(artifact, opts, providers=providers)
    name = sess.get_inputs()[0].name

    def infer(a: np.ndarray) -> np.ndarray:
        return sess.run(None, {name: a})[0]

    return Loaded(lambda: infer(x), infer, None, ort.__version__)


def load_torch(artifact: str, x: np.ndarray, threads: int, device: str) -> Loaded:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    program = torch.export.load(artifact)
    module = program.module()
    dev = torch.device(device)
    module.to(dev)

    def infer(a: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(a).to(dev))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return out.cpu().numpy()

    return Loaded(lambda: infer(x), infer, None, torch.__version__)


LOADERS: dict[str, Callable[[str, np.ndarray, int, str], Loaded]] = {
    "tvm": load_tvm, "onnxruntime": load_onnxruntime, "torch": load_torch,
}


def load(req: RunRequest, x: np.ndarray) -> tuple[Loaded, float]:
    """The request's artifact loaded by its backend's runtime, and how long that took (s)."""
    if req.backend not in LOADERS:
        raise ValueError(f"this runner has no backend {req.backend!r} (it has {', '.join(sorted(LOADERS))})")
    t0 = time.perf_counter()
    loaded = LOADERS[req.backend](req.artifact, x, req.threads, req.device)
    return loaded, time.perf_counter() - t0


def measure(req: RunRequest) -> dict[str, Any]:
    """Load, infer once (the output the host checks), warm up, time; with the conditions around it."""
    x = np.load(req.input)
    t0 = time.perf_counter()
    loaded, load_s = load(req, x)
    output = loaded.run()
    first_s = time.perf_counter() - t0 - load_s
    for _ in range(req.warmup):
        loaded.run()
    conditions = Conditions()
    samples = timing_loop(loaded.run, loaded.timed, req)
    env = environment()
    env["runtime_version"] = loaded.version
    env["threads"] = req.threads
    return {
        "backend": req.backend,
        "samples_ms": samples,
        "output": output.astype(np.float32).tolist(),
        "load_s": load_s,
        "first_result_s": first_s,
        "peak_rss_mb": peak_rss_mb(),
        "warmup": req.warmup,
        "conditions": conditions.finish(),
        "environment": env,
    }


def accuracy(req: RunRequest) -> dict[str, Any]:
    """Top-1 error of the deployed artifact on a labelled set, in batches of the artifact's own
    batch size (the last batch padded with zeros whose predictions are dropped)."""
    images = np.load(req.input, mmap_mode="r")
    labels = np.load(req.labels)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    b = req.batch
    batch = np.zeros((b, *images.shape[1:]), dtype=np.float32)
    loaded, load_s = load(req, batch)
    t0 = time.perf_counter()
    correct = 0
    for i in range(0, len(images), b):
        chunk = np.asarray(images[i:i + b], dtype=np.float32)
        batch[: len(chunk)] = chunk
        batch[len(chunk):] = 0.0
        pred = loaded.infer(batch).reshape(b, -1).argmax(axis=1)[: len(chunk)]
        correct += int(np.sum(pred == labels[i:i + b]))
    return {
        "backend": req.backend,
        "images": int(len(images)),
        "correct": correct,
        "top1_error": 1.0 - correct / len(images),
        "load_s": load_s,
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------------- profile: per-operator times
# ``--mode profile``: where one inference spends its time, operator by operator, as the runtime's
# own profiler sees it: ``warmup`` untimed inferences, then ``repeats`` profiled ones. The result's
# ``ops`` are one inference's operators in execution order, each with its mean time per inference;
# the host maps them to the network's stages and blocks (devbench/profile.py). Profilers add their
# own cost, so these times explain a latency, they do not replace ``measure``'s.

#: one profiled inference: (operator name, ms) in execution order
OpRun = list[tuple[str, float]]
#: what a profiler returns: the profiled inferences, their wall times (ms), and where the runtime
#: keeps no layer names, the argument shapes of each operator of one inference (else None)
Profiled = tuple[list[OpRun], list[float], list[list[list[int]]] | None]


def per_inference_ops(runs: list[OpRun]) -> list[dict[str, Any]]:
    """The operators of one inference with their mean and median time over ``runs`` (the median
    because one preempted run would otherwise decide an operator's time). An operator is its name
    plus how often that name came before it in the same run: TVM calls one fused kernel at every
    layer of the same shape, and each call site must stay its own row, in execution order."""
    times: dict[tuple[str, int], list[float]] = {}
    for run in runs:
        seen: dict[str, int] = {}
        for name, ms in run:
            seen[name] = seen.get(name, 0) + 1
            times.setdefault((name, seen[name]), []).append(ms)
    return [{"name": name, "ms": sum(v) / len(runs), "median_ms": float(np.median(v + [0.0] * (len(runs) - len(v)))),
             "calls": len(v)} for (name, _), v in times.items()]


def profile_tvm(req: RunRequest, x: np.ndarray) -> Profiled:
    """The Relax VM's instrument hook, which the VM calls before and after every call instruction
    (kernels and its builtins); TVM 0.27's runtime no longer has the VM's ``profile`` function.
    Fused kernels keep no layer names, so one untimed inference first records every call's
    argument shapes, by which the host recognises the network's convs."""
    import tvm
    from tvm import relax

    dev = tvm.device(req.device, 0)
    vm = relax.VirtualMachine(tvm.runtime.load_module(req.artifact), dev)  # as load_tvm
    vm.set_input("main", tvm.runtime.tensor(x, dev))
    for _ in range(req.warmup):
        vm.invoke_stateful("main")
    shapes: list[list[list[int]]] = []

    def record_shapes(func: Any, symbol: str, before: bool, ret: Any, *args: Any) -> int:
        if before:
            shapes.append([[int(d) for d in a.shape] for a in args if hasattr(a, "shape")])
        return 0  # VMInstrumentReturnKind.NO_OP: run the call as usual

    vm.set_instrument(record_shapes)
    vm.invoke_stateful("main")
    run: OpRun = []
    started: list[float] = []
    sync = dev.sync if req.device != "cpu" else None  # a GPU kernel call returns before it ends

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
    for _ in range(req.repeats):
        run = []
        t0 = time.perf_counter()
        vm.invoke_stateful("main")
        if sync is not None:
            sync()
        walls.append((time.perf_counter() - t0) * 1e3)
        runs.append(run)
    return runs, walls, shapes


def profile_onnxruntime(req: RunRequest, x: np.ndarray) -> Profiled:
    """ONNX Runtime's ``enable_profiling`` trace: a ``model_run`` event per inference and a
    ``<node>_kernel_time`` event per node run inside it (on CUDA, the node's host-side time)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()  # the session load_onnxruntime makes, with profiling on
    opts.intra_op_num_threads = req.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_profiling = True
    opts.profile_file_prefix = str(Path("ort_profile").resolve())
    providers = ["CUDAExecutionProvider"] if req.device == "cuda" else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(req.artifact, opts, providers=providers)
    feed = {sess.get_inputs()[0].name: x}
    walls = []
    for i in range(req.warmup + req.repeats):
        t0 = time.perf_counter()
        sess.run(None, feed)
        if i >= req.warmup:
            walls.append((time.perf_counter() - t0) * 1e3)
    trace = Path(sess.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()  # a board keeps no trace files behind
    spans = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                   if e.get("cat") == "Session" and e.get("name") == "model_run")[req.warmup:]
    nodes = sorted((e["ts"], e["name"].removesuffix("_kernel_time"), e["dur"] / 1e3) for e in events
                   if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"))
    runs = [[(name, ms) for ts, name, ms in nodes if start <= ts <= end] for start, end in spans]
    return runs, walls, None


def profile_torch(req: RunRequest, x: np.ndarray) -> Profiled:
    """``torch.profiler``: the top-level ATen ops of each inference, which the exported program
    calls one per graph node (their children are the kernels an op dispatches to)."""
    import torch
    from torch.profiler import ProfilerActivity, record_function

    loaded, _ = load(req, x)
    for _ in range(req.warmup):
        loaded.run()
    mark = "devbench::inference"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if req.device == "cuda" else [])
    walls = []
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(req.repeats):
            t0 = time.perf_counter()
            with record_function(mark):
                loaded.run()
            walls.append((time.perf_counter() - t0) * 1e3)
    cuda = req.device == "cuda"
    runs = [[(op.name, (op.device_time_total if cuda else op.cpu_time_total) / 1e3) for op in e.cpu_children]
            for e in prof.events() if e.name == mark]
    return runs, walls, None


PROFILERS: dict[str, Callable[[RunRequest, np.ndarray], Profiled]] = {
    "tvm": profile_tvm, "onnxruntime": profile_onnxruntime, "torch": profile_torch,
}


def profile(req: RunRequest) -> dict[str, Any]:
    """Per-operator times of one inference, from the backend's own profiler."""
    if req.backend not in PROFILERS:
        raise ValueError(f"this runner has no backend {req.backend!r} (it has {', '.join(sorted(PROFILERS))})")
    if req.repeats < 1:
        raise ValueError("profile needs at least one repeat")
    runs, walls, shapes = PROFILERS[req.backend](req, np.load(req.input))
    ops = per_inference_ops(runs)
    if shapes is not None and len(shapes) == len(ops):  # ops keep the first run's call order
        for op, op_shapes in zip(ops, shapes, strict=True):
            op["shapes"] = op_shapes
    env = environment()
    env["runtime_version"] = runtime_versions()[req.backend]
    env["threads"] = req.threads
    return {
        "backend": req.backend,
        "ops": ops,
        "runs": len(runs),
        # wall time of a profiled inference, the profiler's own cost included
        "total_ms": sum(walls) / len(walls),
        "median_total_ms": float(np.median(walls)),
        "peak_rss_mb": peak_rss_mb(),
        "environment": env,
    }


def probe() -> dict[str, Any]:
    return {
        "environment": environment(),
        "runtimes": runtime_versions(),
        "disk_free_mb": shutil.disk_usage(".").free / 2**20,  # where artifacts land
    }


def main(argv: list[str]) -> int:
    req = RunRequest.from_argv(argv)
    if req.mode != "probe":
        # Fix the thread count before any runtime starts its pool.
        for var in THREAD_ENV:
            os.environ[var] = str(req.threads)
    try:
        result = {"probe": probe, "measure": lambda: measure(req), "accuracy": lambda: accuracy(req),
                  "profile": lambda: profile(req)}[req.mode]()
    except Exception as e:  # reported to the host as data: the host decides what it means
        result = {"error": f"{type(e).__name__}: {e}"}
    Path(req.out).write_text(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
