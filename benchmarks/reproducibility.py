"""Does the verdict hold when the same comparison is run again? ``devbench compare`` five times.

Runs ``devbench compare --model pruned_X,reduced_X --backend onnxruntime,tvm`` five times on the
local target for the ResNet and WRN pairs, the last run with a CPU-bound process beside it, each in
its own process with its own results database (artifacts are compiled once, in a warm-up run that
is not counted). Prints, per pair and backend, the five ratios (reduced / pruned latency) and
verdicts, max/min of the four quiet ratios, and whether any run gave a confident verdict
(faster / slower) opposite to the majority.

Goals (issue 13): max/min <= 1.05 without the extra load; never a confident opposite verdict (with
the load, ``unstable`` is an acceptable answer, a wrong ``faster`` is not).

    python benchmarks/reproducibility.py [--runs 5] [--rounds N] [--pairs resnet,wrn]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

BACKENDS = "onnxruntime,tvm"
#: a CPU-bound neighbour: one busy core, as a second user's job on a shared board would be
BUSY = "while True:\n    pass\n"


def compare(pair: str, rounds: int | None, db: Path) -> list[dict]:
    cmd = [sys.executable, "-m", "devbench", "compare", "--model", f"pruned_{pair},reduced_{pair}", "--backend",
           BACKENDS, "--format", "json", "--db", str(db)]
    if rounds:
        cmd += ["--rounds", str(rounds)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if done.returncode not in (0, 1):
        raise SystemExit(f"compare failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per pair; the last one beside a busy process")
    p.add_argument("--rounds", type=int, default=None, help="rounds per run (default: devbench's)")
    p.add_argument("--pairs", default="resnet,wrn")
    args = p.parse_args()
    pairs = args.pairs.split(",")
    work = Path(tempfile.mkdtemp(prefix="devbench-repro-"))
    for pair in pairs:  # warm-up: compile every artifact once, so no run below pays for it
        compare(pair, 1, work / "warmup.sqlite")

    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    loaded_runs = {args.runs - 1}
    t0 = time.monotonic()
    for run in range(args.runs):
        for pair in pairs:  # pairs alternate, so a slow minute does not fall on one pair's runs only
            busy = subprocess.Popen([sys.executable, "-c", BUSY]) if run in loaded_runs else None
            try:
                for c in compare(pair, args.rounds, work / f"run{run}.sqlite"):
                    key = (f"{c['model']} vs {c['baseline']}", c["backend"])
                    results[key].append({**c, "loaded": busy is not None})
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()
    print(f"{args.runs} runs per pair in {time.monotonic() - t0:.0f} s, the last beside a CPU-bound process "
          f"(rounds per run: {results and next(iter(results.values()))[0]['rounds']})\n")
    print("| pair | backend | ratios (reduced / pruned latency), * = beside load | verdicts | "
          "quiet max/min | confident opposite? |")
    print("|---|---|---|---|---|---|")
    worst, opposite_any = 1.0, False
    for (pair, backend), runs in results.items():
        ratios = " ".join(f"{r['ratio']:.3f}{'*' if r['loaded'] else ''}" for r in runs)
        verdicts = " ".join(r["verdict"] for r in runs)
        quiet = [r["ratio"] for r in runs if not r["loaded"] and r["ratio"]]
        spread = max(quiet) / min(quiet) if quiet else float("nan")
        worst = max(worst, spread)
        confident = [r["verdict"] for r in runs if r["verdict"] in ("faster", "slower")]
        majority = Counter(confident).most_common(1)[0][0] if confident else None
        opposite = any(v != majority for v in confident)
        opposite_any |= opposite
        print(f"| {pair} | {backend} | {ratios} | {verdicts} | {spread:.3f} | {'YES' if opposite else 'no'} |")
    print(f"\nworst quiet max/min: {worst:.3f} (goal <= 1.05); "
          f"confident opposite verdict: {'YES' if opposite_any else 'never'} (goal: never)")


if __name__ == "__main__":
    main()
