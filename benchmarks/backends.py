"""Backends side by side: median latency at batch 1 on the local machine, as a ratio to ONNX Runtime.

For each network (default: resnet56, wrn_16_2, densenet_bc_100 and one pruned/reduced pair) and each
backend the local target offers (TVM untuned; TVM tuned when the target's MetaSchedule database
exists; ONNX Runtime; PyTorch; ExecuTorch with XNNPACK; whatever else is registered), one
``devbench.bench.run_jobs`` call per job, in a fixed interleaved order, all in this
one process: every row is compiled (or found in the artifact cache), measured by the board runner,
checked against PyTorch and stored like any ``devbench run`` row. Jobs run one at a time, so no
two measurements share the cores; with ``--rounds N`` the whole plan runs N times and each row keeps
its fastest round, so a moment of load from elsewhere does not land on one backend only.

Printed per row: median ms, the 95% CI of the median, the ratio to ONNX Runtime's median for the
same network, and the achieved GFLOP/s (2 x MACs / median) beside the machine's fp32 peak at the
same threads, measured by an FMA loop (:func:`measured_peak`; without a C compiler, reckoned from
/proc/cpuinfo as cores x GHz x FLOPs/cycle, see ``cpu_peak`` for its assumptions: on an AMD EPYC
(Zen 4) it said 332 GFLOP/s for 2 cores where the loop sustains 232). A Winograd build can pass
100 %: it does fewer multiplies than the direct conv's MACs counted. A last table names the fastest
backend per network and its speed-up over ONNX Runtime.

Usage: ``python benchmarks/backends.py [--models a,b] [--repeats 20] [--rounds 2] [--threads N] [--db FILE]``
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from tabulate import tabulate

from devbench.bench import DEFAULT_MEASURE, Job, MeasureSettings, make_jobs, run_jobs
from devbench.cli import configure_output
from devbench.models import list_models
from devbench.results import ResultRow, ResultStore
from devbench.targets import Target, get_target
from devbench.tuning.database import database_fingerprint

BASE_MODELS = ["resnet56", "wrn_16_2", "densenet_bc_100"]
#: (pruned, reduced) pairs in order of preference; the first whose names are all registered is used
PAIRS = [("pruned_wrn", "reduced_wrn"), ("resnet56_b0.5", "resnet32")]
#: a copy of the local target under a name with no tuning database: TVM's untuned build
UNTUNED = "local-untuned"


@dataclass(frozen=True)
class Peak:
    """The machine's fp32 peak as far as /proc/cpuinfo tells, and how it was reckoned."""

    cores: int
    ghz: float
    isa: str
    flops_per_cycle: int
    assumption: str

    def gflops(self, cores: int | None = None) -> float:
        return (cores or self.cores) * self.ghz * self.flops_per_cycle


def _cpuinfo() -> tuple[dict[str, str], set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}, set()
    first = text.split("\n\n")[0]
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return fields, set(fields.get("flags", "").split())


def cpu_peak(fma_units: int) -> Peak:
    """cores x GHz x FLOPs/cycle, where FLOPs/cycle = SIMD fp32 lanes x 2 (an FMA is two FLOPs) x FMA units.

    Lanes come from the flags (avx512f: 16, avx2+fma: 8, else SSE: 4 without FMA). The number of FMA
    units per core is not in /proc/cpuinfo: ``fma_units`` (default 2) is right for AVX-512 Xeons
    (Skylake-SP and later Gold/Platinum) and for AVX2 cores since Haswell and Zen 2; client AVX-512
    parts (Ice/Tiger/Rocket Lake) have one 512-bit unit. GHz is the model name's "@ x.xxGHz" or else
    the "cpu MHz" line, which under a hypervisor is usually the nominal clock (turbo is not counted).
    Cores are the CPUs this process may run on (hyperthreads would share FMA units).
    """
    fields, flags = _cpuinfo()
    if "avx512f" in flags or {"avx2", "fma"} <= flags:
        isa, lanes = ("AVX-512", 16) if "avx512f" in flags else ("AVX2+FMA", 8)
        flops_per_cycle = lanes * 2 * fma_units
        how = f"{isa}: {lanes} lanes x 2 (FMA) x {fma_units} FMA unit(s)/core, assumed"
    else:
        isa, lanes = "SSE", 4
        flops_per_cycle = lanes * 2
        how = "SSE: 4 lanes x (1 add + 1 mul)"
    m = re.search(r"@\s*([\d.]+)\s*GHz", fields.get("model name", ""))
    ghz = float(m.group(1)) if m else float(fields.get("cpu MHz", "0") or 0) / 1000
    cores = len(os.sched_getaffinity(0))
    assumption = f"{cores} cores x {ghz:.2f} GHz x {flops_per_cycle} fp32 FLOPs/cycle ({how}; no turbo)"
    return Peak(cores, ghz, isa, flops_per_cycle, assumption)


#: independent FMA chains on the widest vector the compiler has for -march=native: each thread runs
#: its own, so the total is what the cores sustain together (turbo, shared FMA units, and AVX-512 split
#: over 256-bit units included, which /proc/cpuinfo cannot tell)
FMA_LOOP = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef float vec __attribute__((vector_size(64)));
#define CHAINS 12
static long steps;
static float sink;
static void *chains(void *arg) {
  vec a[CHAINS], b = (vec){} + 1.0000001f, c = (vec){} + 1e-7f;
#pragma GCC unroll 12
  for (int i = 0; i < CHAINS; i++) a[i] = (vec){} + (float)i;
  for (long k = 0; k < steps; k++)
#pragma GCC unroll 12
    for (int i = 0; i < CHAINS; i++) a[i] = a[i] * b + c;
  for (int i = 1; i < CHAINS; i++) a[0] += a[i];
  sink += a[0][0];
  return arg;
}
int main(int argc, char **argv) {
  int threads = atoi(argv[1]);
  steps = atol(argv[2]);
  pthread_t t[256];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < threads; i++) pthread_create(&t[i], 0, chains, 0);
  for (int i = 0; i < threads; i++) pthread_join(t[i], 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("%f %g\n", threads * (double)steps * CHAINS * 16 * 2 / s / 1e9, sink);
  return 0;
}
"""


def measured_peak(threads: int) -> float | None:
    """fp32 GFLOP/s of ``threads`` threads each running :data:`FMA_LOOP` (built with the system's C
    compiler, ``-O3 -march=native``), the best of 3 runs; ``None`` without a compiler that builds it."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    with tempfile.TemporaryDirectory(prefix="devbench-peak-") as tmp:
        src, exe = Path(tmp) / "fma.c", Path(tmp) / "fma"
        src.write_text(FMA_LOOP)
        built = subprocess.run([cc, "-O3", "-march=native", "-ffp-contract=fast", "-o", exe, src, "-lpthread"],
                               capture_output=True)
        if built.returncode != 0:
            return None
        runs = [subprocess.run([exe, str(threads), "20000000"], capture_output=True, text=True, check=True)
                for _ in range(3)]
    return max(float(r.stdout.split()[0]) for r in runs)


def default_models() -> list[str]:
    registered = set(list_models())
    pair = next(p for p in PAIRS if set(p) <= registered)
    return BASE_MODELS + list(pair)


def plan(models: list[str], local: Target, settings: MeasureSettings) -> list[Job]:
    """Jobs in measuring order: per network, TVM untuned (if a database exists), then every backend of
    the local target in registry order (TVM tuned, ONNX Runtime, torch, ExecuTorch, ...)."""
    tuned_db = database_fingerprint(local) != "none"
    by_model: dict[str, list[Job]] = {m: [] for m in models}
    if tuned_db:
        untuned = replace(local, name=UNTUNED, description="local, compiled without the tuning database")
        for job in make_jobs(models, [untuned], ["tvm"], settings):
            by_model[job.model.name].append(job)
    for job in make_jobs(models, [local], list(local.backends), settings):
        by_model[job.model.name].append(job)
    return [job for jobs in by_model.values() for job in jobs]


def _fastest_first(row: ResultRow) -> tuple[bool, float]:
    return row.median_ms is None, row.median_ms or 0.0


def measure_rounds(jobs: list[Job], store: ResultStore, rounds: int) -> list[ResultRow]:
    """Every job once per round, one at a time, in plan order; per job the round with the lowest
    median counts. On a machine others share, a busy moment then slows one round, not one backend."""
    best: dict[str, ResultRow] = {}
    for r in range(1, rounds + 1):
        for i, job in enumerate(jobs, 1):
            (row,) = run_jobs([job], store, progress=False)
            shown = f"{row.median_ms:.3f} ms" if row.median_ms else f"{row.status}: {row.error}"
            print(f"[round {r}/{rounds}, {i}/{len(jobs)}] {job.model.name} {label(row)}: {shown}",
                  file=sys.stderr, flush=True)
            kept = best.get(job.job_id)
            best[job.job_id] = row if kept is None else min(kept, row, key=_fastest_first)
    return [best[job.job_id] for job in jobs]


def label(row: ResultRow) -> str:
    """The backend, and for TVM which build: without the database (the untuned copy of the target),
    or with it, where it may hold none of the network's kernels yet."""
    if row.backend != "tvm":
        return row.backend
    if row.target == UNTUNED:
        return "tvm untuned"
    return f"tvm tuned ({row.trials} trials)" if row.tuned else "tvm, none of its kernels tuned"


def table(rows: list[ResultRow], peak_gflops: float, threads: int) -> str:
    ort = {r.model: r.median_ms for r in rows if r.backend == "onnxruntime" and r.median_ms}
    out = []
    for r in rows:
        if r.median_ms is None:
            out.append([r.model, label(r), "", "", "", "", "", "", r.status, r.error[:60]])
            continue
        gflops = 2 * r.macs / (r.median_ms * 1e-3) / 1e9
        ratio = r.median_ms / ort[r.model] if r.model in ort else None
        out.append([
            r.model, label(r), f"{r.macs / 1e6:.1f}", f"{r.median_ms:.3f}",
            f"{r.ci95_low_ms:.3f}-{r.ci95_high_ms:.3f}", "" if ratio is None else f"{ratio:.2f}x",
            f"{gflops:.1f}", f"{100 * gflops / peak_gflops:.1f}%", r.output_check, r.n_samples,
        ])
    headers = ["model", "backend", "MMACs", "median_ms", "ci95_ms", "vs ORT", "GFLOP/s",
               f"% peak ({threads} thr)", "check", "n"]
    return tabulate(out, headers=headers, tablefmt="github", disable_numparse=True)


def fastest_table(rows: list[ResultRow]) -> str:
    """Per network, the fastest backend that passed its output check and its speed-up over ONNX Runtime."""
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        ok = [r for r in rows if r.model == model and r.median_ms and r.status == "ok"]
        ort = next((r.median_ms for r in ok if r.backend == "onnxruntime"), None)
        if not ok:
            continue
        best = min(ok, key=lambda r: r.median_ms)
        out.append([model, label(best), f"{best.median_ms:.3f}", f"{ort / best.median_ms:.2f}x" if ort else ""])
    return tabulate(out, headers=["model", "fastest backend", "median_ms", "speed-up over ORT"], tablefmt="github",
                    disable_numparse=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=None, help=f"comma-separated (default: {','.join(default_models())})")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per measuring process, at least "
                   f"(default {DEFAULT_MEASURE['repeats']})")
    p.add_argument("--min-time", type=float, default=None, metavar="S",
                   help=f"sample for at least S s per measuring process (default {DEFAULT_MEASURE['min_time_s']:g})")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; the fastest round of each row counts")
    p.add_argument("--threads", type=int, default=None, help="threads for every backend (default: the target's)")
    p.add_argument("--db", type=Path, default=None, help="results database (default: a temporary one)")
    p.add_argument("--fma-units", type=int, default=2, help="FMA units per core, for the peak (see cpu_peak)")
    args = p.parse_args(argv)
    configure_output(verbose=0, quiet=0)  # as the CLI: TVM's native warnings only with -v, devbench's notes

    models = args.models.split(",") if args.models else default_models()
    local = get_target("local", threads=args.threads)
    settings = MeasureSettings(repeats=args.repeats, warmup=10, min_time_s=args.min_time)
    peak = cpu_peak(args.fma_units)
    measured = measured_peak(local.threads or peak.cores)
    jobs = plan(models, local, settings)
    with tempfile.TemporaryDirectory(prefix="devbench-bench-") as tmp:
        store = ResultStore(args.db or Path(tmp) / "results.sqlite")
        try:
            rows = measure_rounds(jobs, store, args.rounds)
        finally:
            store.close()
    cpu = rows[0].environment.get("cpu", "?") if rows else "?"
    per = rows[0].rounds if rows else "?"
    print(f"\nbatch 1, {local.threads} threads, target local ({cpu}); per row the median of {per} fresh "
          f"processes' medians, best of {args.rounds} interleaved round(s); "
          "ratio = backend median / ONNX Runtime median")
    if measured is None:
        print(f"peak fp32: {peak.gflops():.0f} GFLOP/s machine, {peak.gflops(local.threads):.0f} GFLOP/s at "
              f"{local.threads} threads = {peak.assumption} (no C compiler to measure it)")
    else:
        print(f"peak fp32: {measured:.0f} GFLOP/s at {local.threads} threads, measured by an FMA loop "
              f"(cc -O3 -march=native); the nominal figure would be {peak.gflops(local.threads):.0f} = "
              f"{peak.assumption}")
    if database_fingerprint(local) == "none":
        print("no tuning database for target local: TVM rows are untuned (run `devbench tune` to add tuned rows)")
    print()
    print(table(rows, measured or peak.gflops(local.threads), local.threads))
    print()
    print(fastest_table(rows))
    return 0 if all(r.status == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
