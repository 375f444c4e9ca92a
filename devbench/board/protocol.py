"""The one contract between host and board: what to run (:class:`RunRequest`), how to time it
(:func:`timing_loop`), and what a backend is (:class:`BackendInfo`, and the :class:`Loaded` network
its board side returns).

Standard library only: this file is uploaded beside ``runner.py`` and imported there as a plain
module, while the host imports it as ``devbench.board.protocol``. Every transport sends the same
request; the local and SSH ones as the runner's command line (``to_argv`` / ``from_argv``), the
RPC one reads its fields directly and times with the same loop.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: what a runner can be asked to do
MODES = ("measure", "probe", "accuracy", "profile")
#: the runner's last words on a board without numpy (its stderr; ``devbench doctor`` offers the install)
NO_NUMPY = "devbench runner: this board's Python has no numpy"

#: a backend's own timing loop (repeats -> samples in ms), where it has one better than perf_counter
TimedLoop = Callable[[int], list[float]]
#: one profiled inference: (operator name, ms) in execution order
OpRun = list[tuple[str, float]]
#: what a backend's profiler returns: the profiled inferences, their wall times (ms), and where the
#: runtime keeps no layer names, the argument shapes of each operator of one inference (else None)
Profiled = tuple[list[OpRun], list[float], list[list[list[int]]] | None]


@dataclass(frozen=True)
class Runtime:
    """What a board imports to run a backend's artifacts, and the pip packages that provide it."""

    #: the module the runner's probe imports (``devbench doctor`` reports it as present or missing)
    module: str
    pip: tuple[str, ...]
    #: artifacts only load in the release that compiled them: doctor pins the host's versions
    same_version_as_host: bool = False
    #: set in the runner's environment before the runtime loads, unless the board sets them itself
    env: tuple[tuple[str, str], ...] = ()
    #: modules the runtime imports when they are there without needing them: the runner keeps them
    #: out of its process, whose memory and imports are those of a board with the runtime alone
    keep_out: tuple[str, ...] = ()
    #: the board installs the packages without their declared dependencies (pip --no-deps), which
    #: the runtime does not load (ExecuTorch's pull in torch)
    no_deps: bool = False


@dataclass(frozen=True)
class BackendInfo:
    """A backend as data, said once in its module (``devbench/backends/<name>_backend.py``) and read
    by everything else: the registry, the artifact cache, targets, ``devbench doctor``, the files a
    transport uploads and the runner's probe."""

    #: the ``--backend`` name
    name: str
    runtime: Runtime
    #: the artifact's file name
    artifact: str
    #: offered by a target file that lists no backends (every CPU board can run it)
    cpu_default: bool = True


@dataclass(frozen=True)
class Loaded:
    """A network loaded by its runtime on the board: ``run`` infers the bound input, ``infer`` any
    input of the same shape, ``timed`` is the runtime's own timing loop where it has one."""

    run: Callable[[], np.ndarray]
    infer: Callable[[np.ndarray], np.ndarray]
    timed: TimedLoop | None
    version: str


@dataclass(frozen=True)
class RunRequest:
    """One call of the board runner. File fields name plain files in the run directory."""

    mode: str = "measure"
    backend: str = ""
    artifact: str = ""
    #: measure: the input batch (.npy); accuracy: the test images (.npy, N x C x H x W, float32)
    input: str = ""
    #: accuracy only: the test labels (.npy, N integers)
    labels: str = ""
    #: the batch the artifact was compiled for (accuracy mode feeds the test set in such batches)
    batch: int = 1
    threads: int = 1
    device: str = "cpu"
    warmup: int = 10
    repeats: int = 50
    min_time_s: float = 0.0
    #: stop sampling after this long even if ``repeats`` is not reached (TFLite's --max_secs)
    max_time_s: float = 60.0
    out: str = "result.json"

    def to_argv(self) -> list[str]:
        """The runner's command line for this request (every field, so nothing is defaulted twice)."""
        argv: list[str] = []
        for f in fields(self):
            argv += [f"--{f.name.replace('_', '-')}", str(getattr(self, f.name))]
        return argv

    @classmethod
    def from_argv(cls, argv: list[str]) -> RunRequest:
        parser = argparse.ArgumentParser(prog="runner.py", description="devbench board runner", allow_abbrev=False)
        defaults = cls()
        for f in fields(cls):
            kind = type(getattr(defaults, f.name))
            extra = {"choices": MODES} if f.name == "mode" else {}
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind,
                                default=getattr(defaults, f.name), **extra)
        return cls(**vars(parser.parse_args(argv)))



def no_gpu_reason(cuda_gpus: int | str) -> str | None:
    """Why the runner's ``cuda_gpus`` answer (a count, or why there is none) means this board runs no
    CUDA, or ``None`` where it found a GPU."""
    if isinstance(cuda_gpus, str):
        return cuda_gpus
    return "the CUDA driver sees no GPU" if cuda_gpus <= 0 else None


def profiled_runs(request: RunRequest) -> Iterator[int]:
    """A profile's timed runs: ``repeats`` of them, but none begun past ``max_time_s``, as in
    :func:`timing_loop` (a profiler's events grow with every run: a huge ``--repeats`` ran on for
    minutes past the limit, gigabytes of them)."""
    until = time.perf_counter() + request.max_time_s
    for i in range(request.repeats):
        if i and time.perf_counter() >= until:
            return
        yield i


def timing_loop(run: Callable[[], object], timed: TimedLoop | None, request: RunRequest) -> list[float]:
    """Samples in ms: at least ``repeats`` and at least ``min_time_s`` of them, but never past
    ``max_time_s`` (a slow board or a huge ``--repeats`` stops with what it has)."""
    samples: list[float] = []
    start = time.perf_counter()
    min_until, max_until = start + request.min_time_s, start + request.max_time_s
    while len(samples) < request.repeats or time.perf_counter() < min_until:
        if time.perf_counter() >= max_until and samples:
            break
        if timed is not None:
            samples += timed(max(1, min(request.repeats, 50)))
        else:
            s = time.perf_counter()
            run()
            samples.append((time.perf_counter() - s) * 1e3)
    return samples

