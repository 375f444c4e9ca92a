"""Winograd on and off: each network's untuned TVM build with and without it, timed side by side.

For each network, both builds are compiled here, then one fresh process that imports TVM's runtime
alone (no torch: it slows TVM's threads) loads both and alternates them: ``--blocks`` blocks of
``--per-block`` inferences each, every block timed by TVM's ``time_evaluator``. The baseline build is
the direct conv template everywhere (``prepare(..., winograd=False)``), or with ``--baseline xeon``
Winograd by the boundary measured on Intel Xeons (``tvm_winograd.TWO_FMA_UNITS``), against the
target's own boundary: on another kind of core (Zen 4) that shows what its boundary adds. Printed per
network: each build's median block time, the median of the per-block ratios (baseline / Winograd:
above 1 means the target's Winograd build is faster) with its interquartile range, and how many
kernels took Winograd in each build. Alternating in one process keeps the machine's moods out of the
ratio, which separate processes minutes apart would not.

    python benchmarks/winograd.py [--models wrn_16_2,wrn_16_4,resnet56] [--baseline direct|xeon]
                                  [--blocks 60] [--per-block 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from tabulate import tabulate

from devbench.backends import tvm_winograd
from devbench.backends.tvm_backend import build, prepare, tvm_target
from devbench.bench import load_model
from devbench.targets import get_target

#: what the target's Winograd build is timed against: no Winograd, or the boundary measured on Xeons
BASELINES: dict[str, bool | tvm_winograd.Boundary] = {"direct": False, "xeon": tvm_winograd.TWO_FMA_UNITS}

PAIRED = """
import sys
sys.modules["torch"] = None  # tvm_ffi imports torch when it can
import numpy as np, tvm
from tvm.runtime.vm import VirtualMachine
a, b, shape, blocks, per_block = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
dev = tvm.cpu()
timers = []
for path in (a, b):
    vm = VirtualMachine(tvm.runtime.load_module(path), dev)
    vm.set_input("main", tvm.runtime.tensor(np.zeros([int(s) for s in shape.split("x")], "float32"), dev))
    vm.invoke_stateful("main")
    timers.append(vm.time_evaluator("invoke_stateful", dev, number=per_block, repeat=1))
    timers[-1]("main")
times = np.array([[t("main").mean for t in timers] for _ in range(blocks)]) * 1e3
ratio = times[:, 0] / times[:, 1]
print(*np.median(times, axis=0), *np.percentile(ratio, [50, 25, 75]))
"""


def _compile(name: str, target_name: str, threads: int | None, baseline: bool | tvm_winograd.Boundary,
             folder: Path) -> tuple[Path, Path, str, list[int]]:
    """(baseline build, the target's Winograd build, input shape as AxBxCxD, Winograd kernels in each)."""
    from tvm import tirx

    model = load_model(name)
    target = tvm_target(get_target(target_name, threads=threads))
    example = torch.zeros(1, *model.spec.input_shape)
    paths, kernels = [], []
    for label, winograd in (("baseline", baseline), ("winograd", True)):
        mod, _ = prepare(model.module, example, target, winograd=winograd)
        kernels.append(sum(isinstance(f, tirx.PrimFunc) and tvm_winograd.applies(f) for _, f in mod.functions_items()))
        exe, _ = build(mod, target, None)
        path = folder / f"{name}-{label}.so"
        exe.export_library(str(path))
        paths.append(path)
    return paths[0], paths[1], "x".join(str(s) for s in example.shape), kernels


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="wrn_16_2,wrn_16_4,resnet56")
    p.add_argument("--target", default="local", help="a local CPU target (default: local)")
    p.add_argument("--threads", type=int, default=None, help="default: the target's")
    p.add_argument("--baseline", choices=BASELINES, default="direct",
                   help="direct: no Winograd; xeon: Winograd by the Intel Xeon boundary (default: direct)")
    p.add_argument("--blocks", type=int, default=60)
    p.add_argument("--per-block", type=int, default=10)
    args = p.parse_args()
    threads = args.threads or get_target(args.target).threads
    env = {**os.environ, "TVM_NUM_THREADS": str(threads), "TVM_USE_RUNTIME_LIB": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            base, winograd, shape, kernels = _compile(name, args.target, threads, BASELINES[args.baseline],
                                                      Path(tmp))
            out = subprocess.run([sys.executable, "-c", PAIRED, str(base), str(winograd), shape, str(args.blocks),
                                  str(args.per_block)], env=env, capture_output=True, text=True, check=True)
            ms_base, ms_winograd, ratio, low, high = (float(v) for v in out.stdout.split())
            rows.append([name, *kernels, f"{ms_base:.3f}", f"{ms_winograd:.3f}", f"{ratio:.3f}x",
                         f"{low:.3f}-{high:.3f}"])
            print(f"{name}: {args.baseline} / Winograd {ratio:.3f}x", file=sys.stderr, flush=True)
    print(f"{threads} threads, target {args.target}; {args.blocks} alternating blocks of {args.per_block} "
          f"inferences in one process; ratio = {args.baseline} / Winograd by the target's boundary (above 1: the "
          "target's Winograd build is faster)\n")
    print(tabulate(rows, headers=["model", f"winograd kernels ({args.baseline})", "winograd kernels (target's)",
                                  f"{args.baseline} ms", "winograd ms", "ratio", "IQR"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
