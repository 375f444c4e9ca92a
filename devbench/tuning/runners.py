"""Where MetaSchedule measures candidates: on the target itself, chosen by its transport.

``local``: MetaSchedule's LocalRunner on this machine. ``rpc``: its RPCRunner through the target's
TVM tracker (``[rpc]`` in the target file), so the schedules are timed on the board. ``ssh``
boards are not supported for tuning yet: run ``python -m tvm.exec.rpc_server --tracker ...`` on
the board and describe it as an ``rpc`` target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from devbench.errors import DevbenchError
from devbench.targets import Target

#: every candidate is timed like the board runner times a network: repeated, median taken by MS
EVALUATOR = {"number": 10, "repeat": 1, "min_repeat_ms": 50, "enable_cpu_cache_flush": False}


def _local(target: Target) -> Any:
    from tvm.s_tir import meta_schedule as ms

    return ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(**EVALUATOR))


def _rpc(target: Target) -> Any:
    from tvm.s_tir import meta_schedule as ms

    rpc = target.rpc
    assert rpc is not None  # the target loader guarantees an [rpc] table for transport "rpc"
    return ms.runner.RPCRunner(
        rpc_config=ms.runner.RPCConfig(
            tracker_host=rpc.tracker_host, tracker_port=rpc.tracker_port, tracker_key=rpc.key,
            session_timeout_sec=int(rpc.session_timeout_s),
        ),
        evaluator_config=ms.runner.EvaluatorConfig(**EVALUATOR),
    )


RUNNERS: dict[str, Callable[[Target], Any]] = {"local": _local, "rpc": _rpc}


def make_runner(target: Target) -> Any:
    """The MetaSchedule runner that measures on ``target``."""
    if target.transport not in RUNNERS:
        raise DevbenchError(
            f"target {target.name}: tuning over {target.transport!r} is not supported; "
            f"use a target reached by {' or '.join(RUNNERS)} (an RPC tracker for remote boards)"
        )
    return RUNNERS[target.transport](target)


def _export_cross(compiler: str, mod: Any) -> str:
    """Export one candidate with the board's cross compiler (runs in MetaSchedule's build worker)."""
    import os
    import tempfile

    from devbench.backends.tvm_backend import cross_compiler

    path = os.path.join(tempfile.mkdtemp(prefix="devbench-ms-"), "tvm_tmp_mod.so")
    mod.export_library(path, fcompile=cross_compiler(compiler))
    return path


def build_candidate(mod: Any, target: Any, params: Any) -> Any:
    """MetaSchedule's default build, with the fast tensor-intrinsic import (runs in a build worker).

    MetaSchedule restarts its build workers for every batch, so the slow import would be paid
    40+ s per batch and time every build out.
    """
    from devbench.backends.tvm_schedule import import_tensor_intrinsics

    import_tensor_intrinsics()
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build

    return default_build(mod, target, params)


def make_builder(target: Target) -> Any:
    """MetaSchedule's LocalBuilder, exporting with the target's cross compiler when it has one."""
    from functools import partial

    from tvm.s_tir import meta_schedule as ms

    f_export = partial(_export_cross, target.cross_compiler) if target.cross_compiler else None
    return ms.builder.LocalBuilder(f_build=build_candidate, f_export=f_export, timeout_sec=60)
