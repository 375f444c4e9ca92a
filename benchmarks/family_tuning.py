"""Family reuse: trials and wall time to tune 1 network vs 10 networks of the same family.

Each kernel MetaSchedule searches gets the same per-task budget. The first member fills an empty
database; the other nine reuse every kernel already tuned (same structural hash) and only pay for
their new shapes (a bottleneck multiplier changes the inner convs; depth variants add none), which
are seeded (conv template variants, or a tuned neighbour's schedule) rather than searched. The
issue's goal is 10 members for at most 2x the cost of one.

    python benchmarks/family_tuning.py [--per-task 16] [--strategy evolutionary|replay-trace]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from devbench.models import get_spec
from devbench.targets import get_target
from devbench.tuning import tune

FAMILY = ["resnet56", "resnet56_b0.5", "resnet56_b0.25", "resnet56_b0.75", "resnet20", "resnet32", "resnet44",
          "resnet110", "resnet20_b0.5", "resnet110_b0.5"]


def tune_all(names: list[str], root: Path, per_task: int, strategy: str, threads: int) -> tuple[int, float, list[str]]:
    target = get_target("local", threads=threads)
    trials, wall, lines = 0, 0.0, []
    for name in names:
        r = tune(get_spec(name), target, trials=per_task * 64, max_trials_per_task=per_task, database_dir=root,
                 search_strategy=strategy, verbose=False)
        trials += r.trials
        wall += r.wall_s
        lines.append(f"  {name:16s} kernels {r.tasks:3d}  reused {r.reused:3d}  seeded {r.seeded:3d}  "
                     f"searched {r.tuned:3d}  trials {r.trials:5d}  {r.wall_s:7.1f} s  kernels ~{r.network_ms:.3f} ms")
    return trials, wall, lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-task", type=int, default=16, help="trials per new kernel")
    p.add_argument("--strategy", default="evolutionary", choices=("evolutionary", "replay-trace"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--members", type=int, default=len(FAMILY))
    args = p.parse_args()
    family = FAMILY[: args.members]
    with tempfile.TemporaryDirectory(prefix="devbench-family-") as tmp:
        # TVM's one-time start-up (imports, worker pools, JIT) is paid here, so that whichever run
        # came first would not carry it alone
        tune_all(["resnet8"], Path(tmp) / "warm-up", 1, args.strategy, args.threads)
        one = tune_all(family[:1], Path(tmp) / "one", args.per_task, args.strategy, args.threads)
        many = tune_all(family, Path(tmp) / "many", args.per_task, args.strategy, args.threads)
    print(f"per-task budget {args.per_task} trials, {args.strategy} search, {args.threads} threads")
    print("1 member:", *one[2], sep="\n")
    print(f"{len(family)} members:", *many[2], sep="\n")
    print(f"trials: 1 member {one[0]}, {len(family)} members {many[0]} -> {many[0] / one[0]:.2f}x (goal <= 2x)")
    print(f"wall:   1 member {one[1]:.0f} s, {len(family)} members {many[1]:.0f} s -> {many[1] / one[1]:.2f}x "
          "(goal <= 2x; includes each member's import and task extraction)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
