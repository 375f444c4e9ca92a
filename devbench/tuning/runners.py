"""Where MetaSchedule measures candidates: on the target itself, chosen by its transport.

``local``: MetaSchedule's LocalRunner on this machine. ``rpc``: its RPCRunner through the target's
TVM tracker (``[rpc]`` in the target file), so the schedules are timed on the board. ``ssh``: the
same RPCRunner, through a tracker that :mod:`.ssh_rpc` makes out of the board's SSH connection for
the length of the tuning (TVM's RPC server started on the board, stopped afterwards), so every
board devbench can ``run`` on can be tuned. A runner is therefore a context manager.

:class:`Measurers` holds one builder and one runner for a tuning session: starting them costs
seconds (worker processes that import TVM; on an SSH board TVM's RPC server, tens of seconds), and
a family tuned in one session pays that once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from functools import partial
from typing import Any, Self

from devbench.targets import Target

#: every candidate is timed like the board runner times a network: repeated, median taken by MS
EVALUATOR = {"number": 10, "repeat": 1, "min_repeat_ms": 50, "enable_cpu_cache_flush": False}


@contextmanager
def _stopped_after(runner: Any) -> Iterator[Any]:
    """``runner``, whose worker pool is shut down when the block ends, from this thread: left to the
    garbage collector, the shutdown may run in one of the pool's own threads ("cannot join current
    thread") or at interpreter exit (a crash)."""
    try:
        yield runner
    finally:
        runner.pool.shutdown(wait=False)


def _set_threads(count: int) -> None:
    """Size the TVM thread pool of a runner worker (MetaSchedule runs this before the worker's first
    candidate; TVM reads the variable when it starts the pool)."""
    import os

    os.environ["TVM_NUM_THREADS"] = str(count)


def _local(target: Target, trust_new_host: bool) -> AbstractContextManager[Any]:
    """MetaSchedule's LocalRunner, its worker running candidates with the target's threads, as the
    board runner runs the network: without ``TVM_NUM_THREADS`` TVM takes half the cores on x86 (it
    assumes hyperthreads), one of this 2-core machine's, so every candidate was timed on one thread
    and the schedules picked for it (resnet56's kernels summed to 1.84 ms where the network takes 0.9)."""
    from tvm.s_tir import meta_schedule as ms

    initializer = partial(_set_threads, target.threads) if target.threads else None
    return _stopped_after(ms.runner.LocalRunner(evaluator_config=ms.runner.EvaluatorConfig(**EVALUATOR),
                                                initializer=initializer))


def _run_with_threads(threads: int, session: Any, rt_mod: Any, device: Any, evaluator_config: Any,
                      repeated_args: Any) -> list[float]:
    """MetaSchedule's evaluation of one candidate over RPC, the board's thread pool first sized to
    ``threads`` as ``devbench run`` over RPC sizes it (affinity mode 0: the big cores): a board's RPC
    server started by hand would otherwise run candidates on TVM's default, half the cores on x86."""
    from tvm.s_tir.meta_schedule.runner.rpc_runner import default_run_evaluator

    session.get_function("runtime.config_threadpool")(0, threads)
    return default_run_evaluator(session, rt_mod, device, evaluator_config, repeated_args)


def _rpc_runner(tracker_host: str, tracker_port: int, key: str, session_timeout_s: float, threads: int | None) -> Any:
    from tvm.s_tir import meta_schedule as ms

    return ms.runner.RPCRunner(
        rpc_config=ms.runner.RPCConfig(
            tracker_host=tracker_host, tracker_port=tracker_port, tracker_key=key,
            session_timeout_sec=int(session_timeout_s),
        ),
        evaluator_config=ms.runner.EvaluatorConfig(**EVALUATOR),
        f_run_evaluator=partial(_run_with_threads, threads) if threads else None,
    )


def _rpc(target: Target, trust_new_host: bool) -> AbstractContextManager[Any]:
    rpc = target.rpc
    assert rpc is not None  # the target loader guarantees an [rpc] table for transport "rpc"
    return _stopped_after(_rpc_runner(rpc.tracker_host, rpc.tracker_port, rpc.key, rpc.session_timeout_s,
                                      target.threads))


@contextmanager
def _ssh(target: Target, trust_new_host: bool) -> Iterator[Any]:
    from devbench.tuning.ssh_rpc import board_rpc

    assert target.ssh is not None  # the target loader guarantees an [ssh] table for transport "ssh"
    with board_rpc(target, trust_new_host) as board:
        # a candidate may take as long as one run on the board may
        with _stopped_after(_rpc_runner(board.tracker_host, board.tracker_port, board.key,
                                        target.ssh.run_timeout_s, target.threads)) as runner:
            yield runner


#: transport -> the runner's context manager; one for each of devbench.targets.TRANSPORTS
RUNNERS: dict[str, Callable[[Target, bool], AbstractContextManager[Any]]] = {
    "local": _local, "rpc": _rpc, "ssh": _ssh,
}


def make_runner(target: Target, trust_new_host: bool = False) -> AbstractContextManager[Any]:
    """The MetaSchedule runner that measures on ``target``, for the length of a ``with`` block.
    ``trust_new_host`` accepts an SSH board's host key on first contact, as ``run`` does. Every
    transport a target may name has one."""
    return RUNNERS[target.transport](target, trust_new_host)


def _export_cross(compiler: str, mod: Any) -> str:
    """Export one candidate with the board's cross compiler (runs in MetaSchedule's build worker)."""
    import os
    import tempfile

    from devbench.backends.tvm_backend import cross_compiler

    path = os.path.join(tempfile.mkdtemp(prefix="devbench-ms-"), "tvm_tmp_mod.so")
    mod.export_library(path, fcompile=cross_compiler(compiler))
    return path


def build_candidate(mod: Any, target: Any, _params: Any) -> Any:
    """MetaSchedule's default build without its import of ``tvm.s_tir.tensor_intrin`` (runs in a build worker).

    MetaSchedule starts new build workers for every batch, and that import (hundreds of TVMScript
    intrinsics: 2.6 s even with :func:`~devbench.backends.tvm_schedule.import_tensor_intrinsics`'s
    shortcut, 40+ s without) cost each worker more than the few kernels it builds. A candidate
    arrives scheduled, tensor intrinsics already substituted in the tuning process, so building it
    needs no intrinsic registered.
    """
    from tvm.driver import build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


def make_builder(target: Target) -> Any:
    """MetaSchedule's LocalBuilder, exporting with the target's cross compiler when it has one."""
    from tvm.s_tir import meta_schedule as ms

    f_export = partial(_export_cross, target.cross_compiler) if target.cross_compiler else None
    return ms.builder.LocalBuilder(f_build=build_candidate, f_export=f_export, timeout_sec=60)


class Measurers:
    """The builder and runner of a tuning session, both started when a network first has kernels
    to measure, and stopped when the session's ``with`` block ends (Ctrl-C included)."""

    def __init__(self, target: Target, trust_new_host: bool = False) -> None:
        self.target = target
        self.trust_new_host = trust_new_host
        self._stack = ExitStack()
        self._started: tuple[Any, Any] | None = None

    def get(self) -> tuple[Any, Any]:
        """(builder, runner), started on the first call."""
        if self._started is None:
            builder = make_builder(self.target)
            self._started = builder, self._stack.enter_context(make_runner(self.target, self.trust_new_host))
        return self._started

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
