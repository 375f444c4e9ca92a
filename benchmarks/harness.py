"""Harness overhead and stability: devbench's board-runner median vs a bare ``time_evaluator`` loop.

Compiles one network with the TVM backend, then alternates 5 runs of ``devbench/board/runner.py``
(the script devbench ships to boards) with 5 runs of a bare TVM loop on the same artifact, each
in a fresh process with the same thread count. Prints the overhead of the harness (median of the
runner's medians over the bare loop's) and the run-to-run coefficient of variation of each.

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
import sys, numpy as np, tvm
from tvm import relax
dev = tvm.cpu()
vm = relax.VirtualMachine(tvm.runtime.load_module(sys.argv[1]), dev)
vm.set_input("main", tvm.runtime.tensor(np.load(sys.argv[2]), dev))
vm.invoke_stateful("main")
res = vm.time_evaluator("invoke_stateful", dev, number=1, repeat=int(sys.argv[3]))("main").results
print(float(np.median(res)) * 1e3)
"""


def runner_median(artifact: Path, x: Path, threads: int, repeats: int, work: Path) -> float:
    out = work / "r.json"
    subprocess.run([sys.executable, str(RUNNER), "--backend", "tvm", "--artifact", str(artifact), "--input", str(x),
                    "--threads", str(threads), "--warmup", "10", "--repeats", str(repeats), "--out", str(out)],
                   check=True)
    return statistics.median(json.loads(out.read_text())["samples_ms"])


def bare_median(artifact: Path, x: Path, threads: int, repeats: int) -> float:
    env = {**os.environ, "TVM_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", BARE, str(artifact), str(x), str(repeats)], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


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
        runner, bare = [], []
        for _ in range(args.runs):  # alternate so drift on a shared machine hits both alike
            runner.append(runner_median(artifact, x, args.threads, args.repeats, work))
            bare.append(bare_median(artifact, x, args.threads, args.repeats))
    overhead = (statistics.median(runner) / statistics.median(bare) - 1) * 100
    print(f"{args.model}, TVM ({'tuned' if meta['tuned'] else 'untuned'}, {meta['trials']} trials), "
          f"{args.threads} threads, {args.runs} runs x {args.repeats} repeats")
    print(f"board runner median of medians: {statistics.median(runner):.3f} ms   (runs: "
          f"{', '.join(f'{v:.3f}' for v in runner)})")
    print(f"bare time_evaluator:            {statistics.median(bare):.3f} ms   (runs: "
          f"{', '.join(f'{v:.3f}' for v in bare)})")
    print(f"harness overhead: {overhead:+.2f} %  (goal within 3 %)")
    print(f"run-to-run CV: runner {cv(runner):.2f} %, bare {cv(bare):.2f} %  (goal <= 3 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
