"""Boards in a TVM RPC tracker farm: devbench asks the tracker for a board by key, uploads the
artifact, and times it with TVM's own ``time_evaluator`` on the board.

Labs that already run ``python -m tvm.exec.rpc_tracker`` and ``rpc_server`` keep their farm: the
tracker queues requests, so several devbench users share boards without stepping on each other.
The RPC server is a TVM runtime, so only the ``tvm`` backend runs this way. Every transport takes
the same :class:`~devbench.transports.base.BoardJob`; this one reads its request directly and times
with the board runner's own :func:`~devbench.board.protocol.timing_loop`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from devbench.board.protocol import timing_loop
from devbench.errors import DevbenchError
from devbench.targets import Target
from devbench.transports.base import BoardJob

#: how long the tracker's TCP connect may take (an SSH target's default connect_timeout_s)
CONNECT_TIMEOUT_S = 10.0


class RPCTransport:
    """Runs TVM artifacts on a board handed out by a TVM RPC tracker."""

    def __init__(self, target: Target, trust_new_host: bool = False) -> None:
        # The tracker protocol has no host keys: the flag is accepted so every transport opens alike.
        if target.rpc is None:
            raise DevbenchError(f"target {target.name} has no [rpc] table")
        self.target = target
        self.rpc = target.rpc

    def reach(self) -> Any:
        """The tracker, with a board of our key registered. A request for a key no server has
        registered would wait forever: refuse it up front. A registered but busy board is fine:
        the tracker queues us, which is the point of a farm."""
        from tvm import rpc

        where = f"{self.rpc.tracker_host}:{self.rpc.tracker_port}"
        # TVM's own connect retries a refused connection for a minute, a warning line every 5 s; nothing
        # listening is a mistake in the target file (or a tracker not started), known at the first try
        try:
            socket.create_connection((self.rpc.tracker_host, self.rpc.tracker_port), timeout=CONNECT_TIMEOUT_S).close()
        except OSError as e:
            raise DevbenchError(f"cannot reach the RPC tracker of {self.target.name} at {where}: "
                                f"{e.strerror or e}") from None
        try:
            with _quiet_tvm_rpc():
                tracker = rpc.connect_tracker(self.rpc.tracker_host, self.rpc.tracker_port)
        except Exception as e:
            raise DevbenchError(f"cannot reach the RPC tracker of {self.target.name} at {where}: {e}") from None
        keys = sorted({info["key"].split(":", 1)[-1] for info in tracker.summary()["server_info"]})
        if self.rpc.key not in keys:
            raise DevbenchError(
                f"tracker {where} has no board with key {self.rpc.key!r} (registered: {', '.join(keys) or 'none'})"
            )
        return tracker

    def _session(self) -> Any:
        where = f"{self.rpc.tracker_host}:{self.rpc.tracker_port}"
        tracker = self.reach()
        try:
            return tracker.request(self.rpc.key, priority=1, session_timeout=self.rpc.session_timeout_s, max_retry=3)
        except Exception as e:
            raise DevbenchError(
                f"tracker {where} has no free board with key {self.rpc.key!r}: {str(e).splitlines()[0]}"
            ) from None

    def run(self, job: BoardJob) -> dict[str, Any]:
        req = job.request
        if req.mode != "measure" or req.backend != "tvm":
            return {"error": f"an RPC board only measures TVM artifacts, not {req.mode} with {req.backend}"}
        try:
            return self._measure(job)
        finally:
            # The session's objects hold a reference cycle: until it is collected the tracker does
            # not get the board back, and the next round's request would wait for it forever.
            gc.collect()

    def _measure(self, job: BoardJob) -> dict[str, Any]:
        """One round in a fresh session (a fresh server process), timed by the runner's own loop."""
        req = job.request
        import tvm
        from tvm import relax

        artifact = job.files[req.artifact]
        x = np.load(job.files[req.input])
        remote = self._session()
        t0 = time.perf_counter()
        remote.upload(str(artifact))
        lib = remote.load_module(artifact.name)
        dev = remote.device(req.device, 0)
        # the server's thread pool, sized as for every other transport (affinity mode 0 = big cores)
        remote.get_function("runtime.config_threadpool")(0, req.threads)
        vm = relax.VirtualMachine(lib, dev)
        vm.set_input("main", tvm.runtime.tensor(x, dev))
        load_s = time.perf_counter() - t0
        vm.invoke_stateful("main")
        out = vm.get_outputs("main")
        output = out.numpy() if hasattr(out, "numpy") else out[0].numpy()
        first_s = time.perf_counter() - t0 - load_s
        if req.warmup:
            vm.time_evaluator("invoke_stateful", dev, number=req.warmup, repeat=1)("main")

        def timed(repeats: int) -> list[float]:
            timer = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=repeats)
            return [t * 1e3 for t in timer("main").results]

        samples = timing_loop(lambda: None, timed, req)
        return {
            "backend": "tvm",
            "samples_ms": samples,
            "output": output.astype(np.float32).tolist(),
            "load_s": load_s,
            "first_result_s": first_s,
            "warmup": req.warmup,
            "environment": {
                "rpc_tracker": f"{self.rpc.tracker_host}:{self.rpc.tracker_port}",
                "rpc_key": self.rpc.key,
                "threads": req.threads,
                "runtime_version": tvm.__version__,
            },
        }

    def cancel(self) -> None:
        """A time_evaluator call cannot be stopped from here; the session ends with devbench."""

    def close(self) -> None:
        """Sessions end with their last reference; the tracker frees the board."""


@contextlib.contextmanager
def _quiet_tvm_rpc() -> Iterator[None]:
    """TVM's RPC logger (its own handler, so devbench's levels do not reach it) kept to errors: a tracker
    that went away after the check above is retried by TVM with a warning every 5 s, one error at the end."""
    logger = logging.getLogger("RPCServer")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
