"""MetaSchedule's workers: builders without TVM's tensor intrinsics, the local runner with the target's threads."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_tensorized_candidate_builds_in_a_worker_without_the_intrinsics() -> None:
    """Intrinsics are substituted where the schedule is made (this process): a build worker, which no
    longer pays seconds to register them, still builds a kernel tensorized with one (AVX-512)."""
    import tvm
    from tvm import s_tir, te
    from tvm.s_tir import meta_schedule as ms

    from devbench.backends.tvm_schedule import import_tensor_intrinsics
    from devbench.targets import get_target
    from devbench.tuning.runners import make_builder

    import_tensor_intrinsics()
    from tvm.s_tir.tensor_intrin.x86 import AVX512_DOT_16x4_INTRIN

    a = te.placeholder((4, 16), "uint8", name="A")
    b = te.placeholder((32, 16), "int8", name="B")
    k = te.reduce_axis((0, 16), name="k")
    c = te.compute((4, 32), lambda i, j: te.sum(a[i, k].astype("int32") * b[j, k].astype("int32"), axis=k))
    sch = s_tir.Schedule(te.create_prim_func([a, b, c]))
    block = sch.get_sblock("compute")
    i, j, kk = sch.get_loops(block)
    j_out, j_in = sch.split(j, [None, 16])
    k_out, k_in = sch.split(kk, [None, 4])
    sch.reorder(i, j_out, k_out, j_in, k_in)
    sch.decompose_reduction(block, k_out)
    sch.tensorize(j_in, AVX512_DOT_16x4_INTRIN)
    assert "pmaddubs" in sch.mod.script()  # the intrinsic's body, in place of the loops

    target = tvm.target.Target({"kind": "llvm", "mcpu": "cascadelake"})
    [built] = make_builder(get_target("local", threads=2)).build([ms.builder.BuilderInput(sch.mod, target)])
    assert built.error_msg is None, built.error_msg


def test_the_local_runner_times_candidates_with_the_targets_threads() -> None:
    """Left to itself TVM takes half the cores on x86 (it assumes hyperthreads): on a 2-core machine
    every candidate was timed on one thread, and the schedules were picked for one thread."""
    import os

    from devbench.targets import get_target
    from devbench.tuning.runners import make_runner

    for threads in (1, 3):
        with make_runner(get_target("local", threads=threads)) as runner:
            assert runner.pool.submit(os.getenv, "TVM_NUM_THREADS").result() == str(threads)


def test_candidates_over_rpc_run_with_the_targets_threads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A board's RPC server sizes its pool by its own environment; each candidate resizes it to the
    target's threads first, as ``devbench run`` over RPC does (a 2-thread server, a 1-thread target)."""
    import numpy as np
    import tvm
    from tvm import rpc, te
    from tvm.s_tir.meta_schedule.runner import EvaluatorConfig

    from devbench.boards.sshd import LOOPBACK, free_port
    from devbench.tuning.runners import EVALUATOR, _run_with_threads

    monkeypatch.setenv("TVM_NUM_THREADS", "2")  # the server's, a process of its own
    port = free_port()
    server = rpc.Server(host=LOOPBACK, port=port, port_end=port + 1)
    try:
        session = rpc.connect(LOOPBACK, server.port)
        threads = session.get_function("runtime.NumThreads")
        assert threads() == 2
        a = te.placeholder((64,), name="a")
        kernel = tvm.compile(tvm.IRModule({"main": te.create_prim_func([a, te.compute((64,), lambda i: a[i] + 1)])}),
                             target="llvm")
        kernel.export_library(str(tmp_path / "kernel.so"))
        session.upload(str(tmp_path / "kernel.so"))
        dev = session.cpu()
        args = [[tvm.runtime.tensor(np.zeros(64, "float32"), dev) for _ in range(2)]]
        module = session.load_module("kernel.so")
        [secs] = _run_with_threads(1, session, module, dev, EvaluatorConfig(**EVALUATOR), args)
        assert secs > 0 and threads() == 1
    finally:
        server.terminate()
