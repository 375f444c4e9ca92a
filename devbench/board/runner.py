"""The board-side benchmark script: load one compiled network, time it, write JSON.

This file is copied to the board and run with the board's own Python. It imports nothing but the
standard library, numpy and the one runtime it measures, so a board needs no devbench install. Each
backend's board side is its module ``<name>_backend.py``, uploaded beside this file with
``protocol.py``; ``--backend NAME`` imports that one. Usage::

    python3 runner.py --mode measure --backend tvm --artifact model.so --input input.npy --threads 4 \
        --warmup 10 --repeats 100 --out result.json
    python3 runner.py --mode probe --device cuda --out probe.json   # what this board has (doctor)
    python3 runner.py --mode accuracy --backend tvm --artifact model.so --input images.npy \
        --labels labels.npy --out result.json             # top-1 error of the deployed artifact

The arguments are :class:`protocol.RunRequest`'s fields (``protocol.py`` is uploaded beside this
file).

Every sample is one inference of the whole batch, in milliseconds, timed by ``time.perf_counter``
around one call from the input array to the output array, the same boundary for every backend (a
backend's own loop that leaves out its input or output would flatter it beside the others).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import platform
import resource
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__:  # imported on the host (tests, tools)
    from .protocol import NO_NUMPY, BackendInfo, Loaded, OpRun, RunRequest, timing_loop
else:  # on the board: protocol.py sits beside this file
    from protocol import NO_NUMPY, BackendInfo, Loaded, OpRun, RunRequest, timing_loop

try:
    import numpy as np
except ImportError:  # said in the contract's words, so the host matches them rather than Python's message
    sys.exit(NO_NUMPY)

#: this file's directory as it was started (not resolved: the local transport links the files in)
HERE = Path(__file__).absolute().parent
#: where the backend modules are: beside this file in a run directory; run from devbench's source
#: tree (tests, benchmarks) or imported on the host, in devbench/backends
BACKEND_DIR = HERE if any(HERE.glob("*_backend.py")) else HERE.parent / "backends"
if not __package__ and str(BACKEND_DIR) not in sys.path:  # Python put the linked file's real directory there
    sys.path.append(str(BACKEND_DIR))

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


def backend(name: str) -> Any:
    """The backend ``name`` (``BACKEND`` of its module ``<name>_backend.py``)."""
    if not (BACKEND_DIR / f"{name}_backend.py").exists():
        raise ValueError(f"this runner has no backend {name!r} (it has {', '.join(backend_names())})")
    module = importlib.import_module(f"{__package__.rpartition('.')[0]}.backends.{name}_backend" if __package__
                                     else f"{name}_backend")
    return module.BACKEND


def backend_names() -> list[str]:
    """The backends this runner has: what the host uploaded (its registered ones)."""
    return sorted(p.name.removesuffix("_backend.py") for p in BACKEND_DIR.glob("*_backend.py"))


def runtime_version(info: BackendInfo) -> str | None:
    """The version of the runtime ``info`` needs where it imports on this board, else None. The
    version is the package's ``__version__``, or pip's record of it where the package has none."""
    try:
        importlib.import_module(info.runtime.module)
    except Exception:  # not installed, or installed but broken: either way missing here
        return None
    version = getattr(sys.modules[info.runtime.module.partition(".")[0]], "__version__", None)
    if version is None:
        try:
            version = metadata.version(info.runtime.pip[0])
        except metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def runtime_versions() -> dict[str, str | None]:
    """Which runtimes this board can import, with their versions (None when missing)."""
    infos = [backend(name).info for name in backend_names()]
    return {info.runtime.module: runtime_version(info) for info in infos}


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


# ---------------------------------------------------------------------- measure and accuracy
def load(req: RunRequest, x: np.ndarray) -> tuple[Loaded, float]:
    """The request's artifact loaded by its backend's runtime, and how long that took (s)."""
    b = backend(req.backend)
    t0 = time.perf_counter()
    loaded = b.load(req.artifact, x, req.threads, req.device)
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
# own cost, so these times explain a latency, they do not replace ``measure``'s. Each backend's
# ``profile`` runs its profiler.


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


def profile(req: RunRequest) -> dict[str, Any]:
    """Per-operator times of one inference, from the backend's own profiler."""
    b = backend(req.backend)
    if req.repeats < 1:
        raise ValueError("profile needs at least one repeat")
    runs, walls, shapes = b.profile(req, np.load(req.input))
    ops = per_inference_ops(runs)
    if shapes is not None and len(shapes) == len(ops):  # ops keep the first run's call order
        for op, op_shapes in zip(ops, shapes, strict=True):
            op["shapes"] = op_shapes
    env = environment()
    env["runtime_version"] = runtime_version(b.info)
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


def cuda_version() -> str | None:
    """The CUDA toolkit's version where JetPack (or a CUDA install) put one in /usr/local/cuda."""
    try:
        return str(json.loads(Path("/usr/local/cuda/version.json").read_text())["cuda"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    text = read_first("/usr/local/cuda/version.txt")  # CUDA 10: "CUDA Version 10.2.89"
    return text.split()[-1] if text else None


def cuda_gpus() -> int | str:
    """How many GPUs the CUDA driver reports, or why it reports none. Asked of ``libcuda`` itself
    (the driver every CUDA runtime goes through), so the answer needs no runtime installed."""
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no CUDA driver is installed (no libcuda.so.1)"
    count = ctypes.c_int(0)
    status = driver.cuInit(0)
    if status == 0:
        status = driver.cuDeviceGetCount(ctypes.byref(count))
    return count.value if status == 0 else f"the CUDA driver found no usable GPU (CUresult {status})"


def hardware() -> dict[str, Any]:
    """What identifies the board's hardware for ``devbench board add``: each processor's ARM
    "IMPLEMENTER:PART" and the CPU features from /proc/cpuinfo (x86: its flags), the device tree's
    model and compatible list (a Jetson's Tegra chip, a Pi's model), the L4T release and CUDA."""
    parts: list[str] = []
    implementer, features, flags = "", "", ""
    for line in (read_first("/proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "CPU implementer":
            implementer = value
        elif key == "CPU part":
            parts.append(f"{implementer}:{value}")
        elif key == "Features" and not features:
            features = value
        elif key == "flags" and not flags:
            flags = value
    model = (read_first("/proc/device-tree/model") or "").strip("\0") or None
    compatible = [c for c in (read_first("/proc/device-tree/compatible") or "").split("\0") if c]
    return {
        "cpu_parts": parts,
        "cpu_features": features.split(),
        "cpu_flags": flags.split(),
        "model": model,
        "compatible": compatible,
        "l4t": (read_first("/etc/nv_tegra_release") or "").split("\n")[0] or None,
        "cuda": cuda_version(),
        "cuda_gpus": cuda_gpus(),
    }


def unusable(device: str, runtimes: dict[str, str | None]) -> dict[str, str]:
    """By backend, why one whose runtime imports here (``runtimes``, :func:`runtime_versions`) still
    cannot run on ``device``: what its ``cannot_run`` says (the CPU build of a runtime on a GPU board)."""
    found = {}
    for name in backend_names():
        b = backend(name)
        check = getattr(b, "cannot_run", None)
        if check is None or runtimes.get(b.info.runtime.module) is None:
            continue
        try:
            why = check(device)
        except Exception as e:  # a check that breaks says so rather than passing
            why = f"{type(e).__name__}: {e}"
        if why:
            found[name] = why
    return found


def probe(device: str) -> dict[str, Any]:
    runtimes = runtime_versions()
    return {
        "environment": environment(),
        "hardware": hardware(),
        "runtimes": runtimes,
        "unusable": unusable(device, runtimes),
        "disk_free_mb": shutil.disk_usage(".").free / 2**20,  # where artifacts land
    }


def isolate(req: RunRequest) -> None:
    """Before the runtime loads: fix the thread count (before any runtime starts its pool), and set
    up the process as a board with that runtime alone would have it (:class:`Runtime`'s ``env`` and
    ``keep_out``). Only in the runner's own process: a host that imports this module keeps its modules."""
    for var in THREAD_ENV:
        os.environ[var] = str(req.threads)
    runtime = backend(req.backend).info.runtime
    for var, value in runtime.env:
        os.environ.setdefault(var, value)
    for name in runtime.keep_out:
        sys.modules.setdefault(name, None)  # `import name` now fails at once, as where it is not installed


def main(argv: list[str]) -> int:
    req = RunRequest.from_argv(argv)
    try:
        if req.mode != "probe":
            isolate(req)
        result = {"probe": lambda: probe(req.device), "measure": lambda: measure(req),
                  "accuracy": lambda: accuracy(req), "profile": lambda: profile(req)}[req.mode]()
    except Exception as e:  # reported to the host as data: the host decides what it means
        result = {"error": f"{type(e).__name__}: {e}"}
    Path(req.out).write_text(json.dumps(result))
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
