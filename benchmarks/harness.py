"""Harness overhead and stability: devbench's board-runner median vs a bare Python loop.

Compiles one network with the TVM backend, then alternates 5 runs of ``devbench/board/runner.py``
(the script devbench ships to boards) with 5 runs of a bare loop on the same artifact, each in a
fresh process with the same thread count: ``perf_counter`` around the calls the runner makes from
input array to output array (the input copied into the VM's input tensor, ``invoke_stateful``, the
output copied out, both by numpy through DLPack views).
Prints the overhead of the harness (median of the runner's medians over the bare loop's), the
run-to-run coefficient of variation of each, and, for scale, what TVM's own ``time_evaluator``
(input and output left out: the figure devbench once reported) reads in the bare loop's processes.

    python benchmarks/harness.py [--model resnet56] [--threads 2] [--repeats 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from devbench.backends.base import CompileRequest
from devbench.backends.tvm_backend import TVMBackend
from devbench.models import build_model, get_spec
from devbench.targets import get_target

RUNNER = Path(__file__).resolve().parents[1] / "devbench" / "board" / "runner.py"

BARE = """
import sys, time
sys.modules["torch"] = None  # as on a board: tvm_ffi imports torch when it can, and it slows TVM's threads
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
dev = tvm.cpu()
vm = VirtualMachine(tvm.runtime.load_module(sys.argv[1]), dev)
x, repeats = np.load(sys.argv[2]), int(sys.argv[3])
given = tvm.runtime.empty(x.shape, str(x.dtype), dev)
vm.set_input("main", given)
host = np.from_dlpack(given)
def infer():
    np.copyto(host, x)
    vm.invoke_stateful("main")
    return np.from_dlpack(vm.get_outputs("main")).copy()
for _ in range(10):
    infer()
res = []
for _ in range(repeats):
    t = time.perf_counter()
    infer()
    res.append(time.perf_counter() - t)
evaluator = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=repeats)("main").results
print(float(np.median(res)) * 1e3, float(np.median(evaluator)) * 1e3)
"""


def runner_median(artifact: Path, x: Path, threads: int, repeats: int, work: Path) -> float:
    out = work / "r.json"
    subprocess.run([sys.executable, str(RUNNER), "--backend", "tvm", "--artifact", str(artifact), "--input", str(x),
                    "--threads", str(threads), "--warmup", "10", "--repeats", str(repeats), "--out", str(out)],
                   check=True)
    return statistics.median(json.loads(out.read_text())["samples_ms"])


def bare_medians(artifact: Path, x: Path, threads: int, repeats: int) -> tuple[float, float]:
    """(the bare loop's median, time_evaluator's median) in one fresh process, in ms."""
    env = {**os.environ, "TVM_NUM_THREADS": str(threads), "TVM_USE_RUNTIME_LIB": "1"}
    done = subprocess.run([sys.executable, "-c", BARE, str(artifact), str(x), str(repeats)], env=env, check=True,
                          capture_output=True, text=True)
    loop, evaluator = done.stdout.strip().splitlines()[-1].split()
    return float(loop), float(evaluator)


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values) * 100


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet56")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()

    target = get_target("local", threads=args.threads)
    spec = get_spec(args.model)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="devbench-harness-") as tmp:
        work = Path(tmp)
        meta = TVMBackend().compile(CompileRequest(spec, build_model(spec).eval(), target), work)
        artifact = work / "model.so"
        x = work / "x.npy"
        np.save(x, np.random.default_rng(0).standard_normal((1, *spec.input_shape)).astype(np.float32))
        runner, bare, evaluator = [], [], []
        for _ in range(args.runs):  # alternate so drift on a shared machine hits both alike
            runner.append(runner_median(artifact, x, args.threads, args.repeats, work))
            loop, timer = bare_medians(artifact, x, args.threads, args.repeats)
            bare.append(loop)
            evaluator.append(timer)
    overhead = (statistics.median(runner) / statistics.median(bare) - 1) * 100
    print(f"{args.model}, TVM ({'tuned' if meta['tuned'] else 'untuned'}, {meta['trials']} trials), "
          f"{args.threads} threads, {args.runs} runs x {args.repeats} repeats")
    print(f"board runner median of medians: {statistics.median(runner):.3f} ms   (runs: "
          f"{', '.join(f'{v:.3f}' for v in runner)})")
    print(f"bare perf_counter loop:         {statistics.median(bare):.3f} ms   (runs: "
          f"{', '.join(f'{v:.3f}' for v in bare)})")
    print(f"time_evaluator, same processes: {statistics.median(evaluator):.3f} ms   (no input or output: "
          f"{(1 - statistics.median(evaluator) / statistics.median(bare)) * 100:.1f} % below the loop)")
    print(f"harness overhead: {overhead:+.2f} %  (goal within 3 %)")
    print(f"run-to-run CV: runner {cv(runner):.2f} %, bare {cv(bare):.2f} %  (goal <= 3 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
