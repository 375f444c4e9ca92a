"""The one flow: name -> spec -> module -> artifact -> board -> checked, summarised row in the store.

``run_jobs`` is what ``devbench run`` calls and what a notebook can call too. Every job's row is
stored the moment it is measured (or fails), so a failing model or board later in the matrix loses
nothing. Artifacts are compiled first, one at a time (the host has few cores and TVM's compiler is
not thread-safe); then each board works through its own jobs, boards in parallel, one job per
board at a time, so no two measurements share a board.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sys
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from devbench import interrupts
from devbench.backends import BACKENDS, Artifact, CompileRequest
from devbench.board.protocol import RunRequest
from devbench.cache import compile_cached, weights_digest
from devbench.check import DEFAULT_ATOL, compare_outputs
from devbench.errors import DevbenchError
from devbench.models import ArchSpec, build_model, count_macs, count_params, load_weights, resolve
from devbench.models.provenance import arm, trained_error
from devbench.paths import cache_dir
from devbench.results import ResultRow, ResultStore, save_aside
from devbench.stats import check_samples, instability, summarize
from devbench.targets import Target, get_target
from devbench.transports import BoardJob, Transport, open_transport

#: the backend name that means "every backend the target offers; tell me the fastest"
BEST = "best"


@dataclass(frozen=True)
class MeasureSettings:
    """How to measure: the same for every backend of a run, so rows compare."""

    batch: int = 1
    #: None: the target's [measure] default, else the global one (DEFAULT_MEASURE)
    warmup: int | None = None
    repeats: int | None = None
    min_time_s: float | None = None
    max_time_s: float | None = None
    rounds: int | None = None
    check: bool = True
    atol: float = DEFAULT_ATOL
    #: evaluate the deployed artifact on its dataset's full test set (trained networks only)
    accuracy: bool = False
    data_dir: str | None = None
    #: TVM's schedules: "none" (untuned by choice), "default" (the target's database) or a database folder
    tuning: str = "default"
    timeout_s: float = 600.0
    seed: int = 0


#: used where neither the command line nor the target's [measure] table says otherwise. Per round
#: (one fresh runner process): 10 warm-up runs, then at least 20 timed runs and 0.2 s; 10 rounds
#: give the median of round medians an exact 95% interval (ranks 2 and 9) and kept the verdicts
#: of benchmarks/reproducibility.py from flipping on this project's noisy 2-core CI machine.
DEFAULT_MEASURE = {"warmup": 10, "repeats": 20, "min_time_s": 0.2, "max_time_s": 30.0, "rounds": 10}
#: the bounds of a target file's [measure] min_time_s and max_time_s (``MeasureTable``), which
#: --min-time and --max-time get too: a max time of 0 stops every round after one sample
MIN_TIME_LIMIT_S = 3600.0
MAX_TIME_LIMIT_S = 7 * 24 * 3600.0


def settings_for(target: Target, settings: MeasureSettings) -> MeasureSettings:
    """Fill the unset measurement counts from the target (an emulated or slow board asks for few
    repeats), then from the defaults; the times must make sense together, wherever each came from."""
    filled = {k: v if (v := getattr(settings, k)) is not None else target.measure.get(k, default)
              for k, default in DEFAULT_MEASURE.items()}
    min_s, max_s = float(filled["min_time_s"]), float(filled["max_time_s"])
    if not 0 <= min_s <= MIN_TIME_LIMIT_S:
        raise DevbenchError(f"min time {min_s:g} s (--min-time) must be from 0 to {MIN_TIME_LIMIT_S:g} s")
    if not 0 < max_s <= MAX_TIME_LIMIT_S:
        raise DevbenchError(f"max time {max_s:g} s (--max-time) must be greater than 0 and at most "
                            f"{MAX_TIME_LIMIT_S:g} s: it stops a round's sampling")
    if min_s > max_s:
        raise DevbenchError(f"min time {min_s:g} s is more than max time {max_s:g} s on target {target.name} "
                            f"(--min-time, --max-time or its [measure] table): a round cannot sample at least "
                            f"{min_s:g} s and stop after {max_s:g} s")
    return replace(settings, warmup=int(filled["warmup"]), repeats=int(filled["repeats"]),
                   min_time_s=min_s, max_time_s=max_s, rounds=int(filled["rounds"]))


@dataclass(frozen=True)
class LoadedModel:
    """A network ready to compile: its spec, module (eval mode) and where its weights came from."""

    name: str
    spec: ArchSpec
    module: torch.nn.Module
    weights: str  # "trained" or "random"
    weights_digest: str


@dataclass(frozen=True)
class Job:
    model: LoadedModel
    target: Target
    backend: str
    settings: MeasureSettings

    @property
    def job_id(self) -> str:
        """Stable id of what is measured; ``--resume`` skips ids already stored."""
        s = self.settings
        material = [self.model.name, self.model.weights_digest, self.model.spec.to_dict(), self.target.name,
                    self.backend, s.batch, self.target.threads, s.warmup, s.repeats, s.min_time_s, s.rounds,
                    s.accuracy, *([s.tuning] if s.tuning != "default" else [])]
        return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_model(name: str, seed: int = 0) -> LoadedModel:
    """Build the network for a registered name or spec file, with its weights when it has them.

    Without a weights file the network gets seeded random weights: latency does not depend on the
    values, and the row says ``random`` so nobody mistakes it for a trained network.
    """
    spec, weights_path = resolve(name)
    torch.manual_seed(seed)
    module = build_model(spec)
    weights = "random"
    if weights_path is not None:
        load_weights(module, weights_path, spec)
        weights = "trained"
    module.eval()
    return LoadedModel(name, spec, module, weights, weights_digest(module))


def backends_for(target: Target, backends: list[str]) -> list[str]:
    """``backends`` checked against the registry and the target. ``best`` stands for all the target
    offers, also beside named ones (``onnxruntime,best``): a backend it adds twice is measured once."""
    wanted: list[str] = []
    for b in backends:
        wanted += [x for x in (target.backends if b == BEST else [b]) if x not in wanted]
    for b in wanted:
        if b not in BACKENDS:
            raise DevbenchError(f"unknown backend {b!r}; known backends: {', '.join([*BACKENDS, BEST])}")
    missing = [b for b in wanted if b not in target.backends]
    if missing:
        raise DevbenchError(f"target {target.name} offers backends {', '.join(target.backends)}, "
                            f"not {', '.join(missing)}")
    return wanted


def named_once(what: str, names: list[str]) -> None:
    """A name listed twice would make two jobs with one job id, whose rounds would pool into one
    row with twice the rounds (and a comparison with a verdict nobody measured): one line instead."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DevbenchError(f"{what} {name!r} is named twice")
        seen.add(name)


def check_unique(jobs: list[Job]) -> None:
    """Rounds are gathered per job id: two jobs sharing one would be summarised as one job."""
    seen: dict[str, Job] = {}
    for job in jobs:
        other = seen.get(job.job_id)
        seen[job.job_id] = job
        if other is not None:
            raise DevbenchError(f"two jobs share job id {job.job_id}: {other.model.name} on {other.target.name} with "
                                f"{other.backend}, and {job.model.name} on {job.target.name} with {job.backend}; "
                                f"their rounds would be pooled into one row")


def make_jobs(models: list[str], targets: list[Target], backends: list[str], settings: MeasureSettings) -> list[Job]:
    """The models x targets x backends matrix, each job once. ``best`` stands for every backend a
    target offers; a backend a target does not offer, or a name listed twice, is an error."""
    named_once("model", models)
    named_once("target", [t.name for t in targets])
    named_once("backend", backends)
    for t in targets:
        cores = os.cpu_count() or 1
        if t.transport == "local" and t.threads > cores:
            raise DevbenchError(f"target {t.name}: {t.threads} threads on a machine with {cores} cores would "
                                f"measure the scheduler, not the network (--threads {cores} at most)")
    per_target = {t.name: backends_for(t, backends) for t in targets}
    filled = {t.name: settings_for(t, settings) for t in targets}  # a wrong time: one line before loading
    loaded = [load_model(m, settings.seed) for m in models]
    if settings.accuracy:
        from devbench.accuracy import dataset_of, labelled_test_set

        for m in loaded:  # random weights, no dataset, or no test set where it should be: one line before any work
            labelled_test_set(dataset_of(m), settings.data_dir)
    jobs = [Job(m, t, b, filled[t.name]) for t in targets for m in loaded for b in per_target[t.name]]
    check_unique(jobs)
    return jobs


def example_batch(spec: ArchSpec, batch: int, seed: int) -> np.ndarray:
    """A fixed, seeded input (standard normal): the same for every backend of a job."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *spec.input_shape)).astype(np.float32)


def reference_output(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.module(torch.from_numpy(x)).numpy()


def compile_job(job: Job) -> Artifact:
    request = CompileRequest(spec=job.model.spec, module=job.model.module, target=job.target, batch=job.settings.batch,
                             tuning=job.settings.tuning)
    artifact, _ = compile_cached(job.backend, request, job.model.weights_digest)
    return artifact


@dataclass
class Rounds:
    """What a job's rounds have brought back so far: one runner result per round."""

    job: Job
    artifact: Artifact
    results: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


def check_result(result: dict[str, Any], expected_shape: tuple[int, ...]) -> None:
    """Refuse what no real measurement returns: impossible samples, a missing or malformed output,
    a non-numeric timing. A board that sends such a thing fails its row; it never becomes ``ok``."""
    samples = result.get("samples_ms")
    if not isinstance(samples, list) or not samples:
        raise DevbenchError("the board returned no latency samples")
    check_samples(samples)
    output = np.asarray(result.get("output", []), dtype=np.float64)
    if output.shape != expected_shape:
        raise DevbenchError(f"the board returned an output of shape {output.shape}, expected {expected_shape}")
    for key in ("load_s", "first_result_s", "peak_rss_mb"):
        value = result.get(key)
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise DevbenchError(f"the board returned an impossible {key}: {value!r}")
    if not isinstance(result.get("environment", {}), dict) or not isinstance(result.get("conditions", {}), dict):
        raise DevbenchError("the board returned a malformed environment")


def measure_once(job: Job, artifact: Artifact, transport: Transport) -> dict[str, Any]:
    """One round of one job: a fresh runner process on the board; its checked JSON."""
    s = job.settings
    x = example_batch(job.model.spec, s.batch, s.seed)
    with tempfile.TemporaryDirectory(prefix="devbench-job-") as tmp:
        np.save(Path(tmp) / "input.npy", x)
        request = RunRequest(backend=job.backend, artifact=artifact.path.name, input="input.npy", batch=s.batch,
                             threads=job.target.threads, device=job.target.device, warmup=s.warmup,
                             repeats=s.repeats, min_time_s=s.min_time_s, max_time_s=s.max_time_s)
        board_job = BoardJob(files={**artifact.board_files, "input.npy": Path(tmp) / "input.npy"},
                             request=request, timeout_s=s.timeout_s)
        result = transport.run(board_job)
    if not isinstance(result, dict):
        raise DevbenchError(f"the board returned {type(result).__name__}, not a result object")
    if "error" in result:
        raise DevbenchError(str(result["error"]))
    check_result(result, (s.batch, job.model.spec.num_classes))
    return result


def _median_of(results: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in results if isinstance(r.get(key), int | float)]
    return float(np.median(values)) if values else None


def summarise_job(done: Rounds, top1_error: float | None = None) -> ResultRow:
    """A job's rounds -> its checked, summarised row."""
    job, artifact, results = done.job, done.artifact, done.results
    s, spec = job.settings, job.model.spec
    summary = summarize([r["samples_ms"] for r in results])
    conditions = [r.get("conditions") or {} for r in results]
    x = example_batch(spec, s.batch, s.seed)
    check = compare_outputs(reference_output(job.model, x), np.asarray(results[0]["output"]), s.atol)
    output_check = ("pass" if check.passed else "FAIL") if s.check else "off"
    size = artifact.path.stat().st_size if artifact.path.exists() else None
    return ResultRow(
        job_id=job.job_id, model=job.model.name, target=job.target.name, backend=job.backend, batch=s.batch,
        threads=job.target.threads, status="check_failed" if output_check == "FAIL" else "ok",
        median_ms=summary.median_ms, mean_ms=summary.mean_ms, std_ms=summary.std_ms, min_ms=summary.min_ms,
        max_ms=summary.max_ms, p90_ms=summary.p90_ms, p99_ms=summary.p99_ms, iqr_ms=summary.iqr_ms,
        ci95_low_ms=summary.ci95_low_ms, ci95_high_ms=summary.ci95_high_ms, n_samples=summary.n, warmup=s.warmup,
        rounds=summary.rounds, round_medians_ms=list(summary.round_medians_ms),
        between_round_cv=summary.between_round_cv, unstable=instability(summary, conditions),
        max_abs_err=check.max_abs_err, top1_agreement=check.top1_agreement, output_check=output_check,
        params=count_params(spec), macs=count_macs(spec, batch=s.batch), weights=job.model.weights,
        arm=arm(spec), family=spec.family, top1_error=top1_error,
        # the error training recorded is this network's only with the weights it was recorded for
        trained_error=trained_error(spec) if job.model.weights == "trained" else None,
        tuned=bool(artifact.meta.get("tuned", False)), trials=int(artifact.meta.get("trials", 0)),
        tuning_db=str(artifact.meta.get("tuning_db", "")), tuning_choice=s.tuning if "tuned" in artifact.meta else "",
        tuned_via=str(artifact.meta.get("tuned_via", "")), emulated=job.target.emulated, artifact_key=artifact.key,
        artifact_mb=None if size is None else size / 2**20, load_s=_median_of(results, "load_s"),
        first_result_s=_median_of(results, "first_result_s"), peak_rss_mb=_median_of(results, "peak_rss_mb"),
        samples_ms=[float(v) for r in results for v in r["samples_ms"]], conditions=conditions,
        environment=results[-1].get("environment", {}), meta={"artifact": artifact.meta, "atol": s.atol},
    )


def _error_row(job: Job, message: str) -> ResultRow:
    return ResultRow(job_id=job.job_id, model=job.model.name, target=job.target.name, backend=job.backend,
                     batch=job.settings.batch, threads=job.target.threads, status="error", error=message,
                     emulated=job.target.emulated, weights=job.model.weights, arm=arm(job.model.spec),
                     family=job.model.spec.family)


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}" if not isinstance(e, DevbenchError) else str(e)


def run_jobs(
    jobs: list[Job],
    store: ResultStore,
    resume: bool = False,
    progress: bool = True,
    trust_new_host: bool = False,
) -> list[ResultRow]:
    """Compile every job, measure it in rounds, store its row; returns the rows of this call (with
    ``resume``, the stored rows of the jobs it skipped first).

    Each round measures every job of a board once, in a fresh runner process, in a new random order
    (A B, then B A...), so a slow minute falls on all of them alike; boards work in parallel. A job
    is stored when its last round is in: an interrupted run stores nothing half-measured. A job
    that fails becomes an ``error`` row with the reason and the others go on. Rows the store
    refuses (another program holds the database) are measured all the same: they go to a database
    beside it (:func:`~devbench.results.save_aside`) and :class:`NotStored` carries them.
    """
    check_unique(jobs)
    store.prepare()  # a database that cannot be written: one line now, not after the measuring
    cache_dir()  # nor a cache folder that cannot be made: as a compile error it would be an error row
    rows: list[ResultRow] = []
    if resume:  # the stored rows of the jobs skipped, so the table shows the whole matrix
        done_ids = store.done_job_ids() & {j.job_id for j in jobs}
        rows = [r for r in store.rows(job_ids=done_ids, latest_only=False) if r.status == "ok"]
        rows = list({r.job_id: r for r in rows}.values())
        jobs = [j for j in jobs if j.job_id not in done_ids]
    lock = threading.Lock()
    unsaved: list[ResultRow] = []
    refusal: list[DevbenchError] = []

    def record(row: ResultRow) -> None:
        with lock:
            rows.append(row)
            if not refusal:  # once refused, the others skip the store's wait for a lock that stays
                try:
                    store.add(row)
                    return
                except DevbenchError as e:
                    refusal.append(e)
            unsaved.append(row)

    interrupted = False
    with interrupts.watch():
        try:
            _measure_all(jobs, record, progress, trust_new_host)
        except KeyboardInterrupt:
            interrupted = True
    if unsaved:
        try:
            aside = save_aside(unsaved, store.path)
            where = (f"saved in {aside}, a results database of its own (`devbench report --db {aside}` shows "
                     f"them, `devbench merge {aside} --db {store.path}` adds them once the database is free)")
        except DevbenchError as e:
            where = f"not saved elsewhere either ({e}): the table printed is all that is left of them"
        raise NotStored(rows, f"{refusal[0]}; the {len(unsaved)} row(s) it did not store are {where}")
    if interrupted:
        raise Interrupted(rows)
    return rows


class NotStored(DevbenchError):
    """The results database refused rows (locked, full disk). ``rows`` are every row of the call,
    so the table is still printed; the message says where the refused ones were saved instead."""

    def __init__(self, rows: list[ResultRow], message: str) -> None:
        super().__init__(message)
        self.rows = rows


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; ``rows`` are those stored before it (nothing half-measured)."""

    def __init__(self, rows: list[ResultRow]) -> None:
        super().__init__("interrupted")
        self.rows = rows


def open_boards(targets: list[Target], trust_new_host: bool) -> dict[str, Transport]:
    """A reached transport per target, before anything is compiled for it: an unreachable board
    is one line naming the host, the reason and the fix, not a row per job after minutes of
    compiling."""
    opened: dict[str, Transport] = {}
    try:
        for target in targets:
            transport = open_transport(target, trust_new_host)
            opened[target.name] = transport
            try:
                transport.reach()
            except DevbenchError as e:
                where = {"ssh": "[ssh] host", "rpc": "the [rpc] table"}.get(target.transport, "the target")
                fix = f"; check {where} in {target.source or 'its target file'}"
                if target.transport == "ssh":
                    fix += f", or run `devbench board add {target.name} --host USER@HOST`"
                raise DevbenchError(f"{e}{fix}") from None
    except BaseException:
        for transport in opened.values():
            transport.close()
        raise
    return opened


def _measure_all(jobs: list[Job], record: Callable[[ResultRow], None], progress: bool, trust_new_host: bool) -> None:
    targets = {j.target.name: j.target for j in jobs}
    transports = open_boards(list(targets.values()), trust_new_host)
    try:
        _compile_and_measure(jobs, transports, record, progress)
    finally:
        for transport in transports.values():
            transport.close()


def _compile_and_measure(jobs: list[Job], transports: dict[str, Transport], record: Callable[[ResultRow], None],
                         progress: bool) -> None:
    compiled: dict[str, Artifact] = {}
    for job in tqdm(jobs, desc="compile", unit="job", disable=not progress or not jobs, file=sys.stderr):
        try:
            with interrupts.native_section():
                compiled[job.job_id] = compile_job(job)
        except DevbenchError as e:
            record(_error_row(job, f"compile: {e}"))
        except Exception as e:  # a compiler crash on one network must not lose the others
            if interrupts.requested():  # not a crash: Ctrl-C inside the compiler
                raise KeyboardInterrupt from None
            record(_error_row(job, f"compile: {_describe(e)}"))

    by_target: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.job_id in compiled:
            by_target[job.target.name].append(job)
    total = sum(len(v) * (v[0].settings.rounds or 1) for v in by_target.values())
    bar = tqdm(total=total, desc="measure", unit="run", disable=not progress or not total, file=sys.stderr)
    stop = threading.Event()

    def board_worker(target_jobs: list[Job]) -> None:
        target = target_jobs[0].target
        transport = transports[target.name]
        state = {job.job_id: Rounds(job, compiled[job.job_id]) for job in target_jobs}
        order = random.Random(f"{target.name}:{target_jobs[0].settings.seed}")
        for _ in range(target_jobs[0].settings.rounds or 1):
            for job in order.sample(target_jobs, len(target_jobs)):
                if stop.is_set():  # a transport cannot always stop a round that starts after cancel()
                    return
                rounds = state[job.job_id]
                if not rounds.error:
                    try:
                        rounds.results.append(measure_once(job, rounds.artifact, transport))
                    except Exception as e:
                        if stop.is_set():
                            return
                        rounds.error = _describe(e)
                        record(_error_row(job, rounds.error))
                bar.update()
        for rounds in state.values():
            if stop.is_set():
                return
            if not rounds.error:
                record(_finish(rounds, transport))

    pool = ThreadPoolExecutor(max_workers=max(1, len(by_target)))
    futures = [pool.submit(board_worker, v) for v in by_target.values()]
    try:
        for f in futures:
            f.result()
    except BaseException:
        stop.set()  # workers stop before their next round, and the runners they wait for are killed
        for target_name in by_target:
            transports[target_name].cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
    pool.shutdown()


def _finish(rounds: Rounds, transport: Transport) -> ResultRow:
    """The row of a job whose rounds are all in; with ``--accuracy``, its test error first."""
    try:
        top1 = None
        if rounds.job.settings.accuracy:
            from devbench.accuracy import deployed_error

            top1 = deployed_error(rounds.job, rounds.artifact, transport)
        return summarise_job(rounds, top1)
    except Exception as e:
        return _error_row(rounds.job, _describe(e))


def compile_artifacts(model: str, target: str, backends: list[str], batch: int = 1,
                      targets_files: list[str] = (), tuning: str = "default") -> list[tuple[str, Artifact, bool]]:
    """Compile (or find in the cache) one network for one target: ``devbench compile``.
    Returns (backend, artifact, was_cached) per backend."""
    t = get_target(target, targets_files)
    wanted = backends_for(t, backends)
    loaded = load_model(model)
    request = CompileRequest(spec=loaded.spec, module=loaded.module, target=t, batch=batch, tuning=tuning)
    return [(b, *compile_cached(b, request, loaded.weights_digest)) for b in wanted]


def run_matrix(
    models: list[str],
    targets: list[str] = ("local",),
    backends: list[str] = (BEST,),
    settings: MeasureSettings | None = None,
    store: ResultStore | None = None,
    targets_files: list[str] = (),
    threads: int | None = None,
    resume: bool = False,
    trust_new_host: bool = False,
    progress: bool = True,
) -> list[ResultRow]:
    """Names in, measured rows out: ``devbench run`` as a library call. Without a ``store`` the
    rows are kept in memory only (a notebook that wants the numbers, not a database)."""
    resolved = [get_target(t, targets_files, threads) for t in targets]
    jobs = make_jobs(models, resolved, list(backends), settings or MeasureSettings())
    own = store is None
    store = ResultStore(":memory:") if own else store
    try:
        return run_jobs(jobs, store, resume=resume, progress=progress, trust_new_host=trust_new_host)
    finally:
        if own:
            store.close()
