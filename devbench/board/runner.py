"""The board-side benchmark script: load one compiled network, time it, write JSON.

This file is copied to the board and run with the board's own Python. It imports nothing but the
standard library, numpy and the one runtime it measures (TVM runtime, onnxruntime or torch), so a
board needs no devbench install. Usage::

    python3 runner.py --backend tvm --artifact model.so --input input.npy --threads 4 \
        --warmup 10 --repeats 100 --out result.json
    python3 runner.py --probe --out probe.json       # what this board has (devbench doctor)

Every sample is one inference of the whole batch, in milliseconds. TVM is timed with its own
``time_evaluator`` (a C++ loop, number=1 so each repeat is one run); onnxruntime and torch with
``time.perf_counter`` around a call whose output is materialised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Runner = Callable[[], np.ndarray]
#: a backend's own timing loop (repeats -> samples in ms), where it has one better than perf_counter
TimedLoop = Callable[[int], list[float]]

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


# ---------------------------------------------------------------------- loaders, one per backend
def load_tvm(artifact: str, x: np.ndarray, threads: int, device: str) -> tuple[Runner, TimedLoop, str]:
    import tvm
    from tvm import relax

    dev = tvm.device(device, 0)
    lib = tvm.runtime.load_module(artifact)
    vm = relax.VirtualMachine(lib, dev)
    vm.set_input("main", tvm.runtime.tensor(x, dev))

    def run() -> np.ndarray:
        vm.invoke_stateful("main")
        out = vm.get_outputs("main")
        return out.numpy() if hasattr(out, "numpy") else out[0].numpy()

    def timed(repeats: int) -> list[float]:
        evaluator = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=repeats)
        return [t * 1e3 for t in evaluator("main").results]

    return run, timed, tvm.__version__


def load_onnxruntime(artifact: str, x: np.ndarray, threads: int, device: str) -> tuple[Runner, None, str]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CUDAExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(artifact, opts, providers=providers)
    name = sess.get_inputs()[0].name

    def run() -> np.ndarray:
        return sess.run(None, {name: x})[0]

    return run, None, ort.__version__


def load_torch(artifact: str, x: np.ndarray, threads: int, device: str) -> tuple[Runner, None, str]:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    program = torch.export.load(artifact)
    module = program.module()
    dev = torch.device(device)
    module.to(dev)
    xt = torch.from_numpy(x).to(dev)

    def run() -> np.ndarray:
        with torch.inference_mode():
            out = module(xt)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return out.cpu().numpy()

    return run, None, torch.__version__


LOADERS = {"tvm": load_tvm, "onnxruntime": load_onnxruntime, "torch": load_torch}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    x = np.load(args.input)
    env_before = environment()
    t0 = time.perf_counter()
    run, timed, version = LOADERS[args.backend](args.artifact, x, args.threads, args.device)
    load_s = time.perf_counter() - t0
    output = run()  # first call: also the output that devbench checks against PyTorch
    first_s = time.perf_counter() - t0
    for _ in range(args.warmup):
        run()
    samples: list[float] = []
    deadline = time.perf_counter() + args.min_time_s
    while len(samples) < args.repeats or time.perf_counter() < deadline:
        if timed is not None:
            samples += timed(args.repeats)
        else:
            for _ in range(args.repeats):
                s = time.perf_counter()
                run()
                samples.append((time.perf_counter() - s) * 1e3)
    env = environment()
    env["temperature_before_c"] = env_before["temperature_c"]
    env["runtime_version"] = version
    env["threads"] = args.threads
    return {
        "backend": args.backend,
        "samples_ms": samples,
        "output": output.astype(np.float32).tolist(),
        "load_s": load_s,
        "first_result_s": first_s,
        "warmup": args.warmup,
        "environment": env,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probe", action="store_true", help="report the environment and runtimes, measure nothing")
    p.add_argument("--backend", choices=sorted(LOADERS))
    p.add_argument("--artifact")
    p.add_argument("--input")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--min-time-s", type=float, default=0.0)
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not args.probe:
        # Fix the thread count before any runtime starts its pool.
        for var in THREAD_ENV:
            os.environ[var] = str(args.threads)
    try:
        if args.probe:
            result: dict[str, Any] = {
                "environment": environment(),
                "runtimes": runtime_versions(),
                "disk_free_mb": shutil.disk_usage(".").free / 2**20,  # where artifacts land
            }
        else:
            result = measure(args)
    except Exception as e:  # reported to the host as data: the host decides what it means
        result = {"error": f"{type(e).__name__}: {e}"}
    Path(args.out).write_text(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
