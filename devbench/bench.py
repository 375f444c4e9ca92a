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
import sys
import tempfile
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from devbench.backends import BACKENDS, Artifact, CompileRequest
from devbench.cache import compile_cached, weights_digest
from devbench.check import DEFAULT_ATOL, compare_outputs
from devbench.errors import DevbenchError
from devbench.models import ArchSpec, build_model, count_macs, count_params, load_weights, resolve
from devbench.results import ResultRow, ResultStore
from devbench.stats import summarize
from devbench.targets import Target, get_target
from devbench.transports import BoardJob, open_transport

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
    check: bool = True
    atol: float = DEFAULT_ATOL
    timeout_s: float = 600.0
    seed: int = 0


#: used where neither the command line nor the target's [measure] table says otherwise
DEFAULT_MEASURE = {"warmup": 10, "repeats": 50, "min_time_s": 1.0}


def settings_for(target: Target, settings: MeasureSettings) -> MeasureSettings:
    """Fill the unset measurement counts from the target (an emulated or slow board asks for few
    repeats), then from the defaults."""
    filled = {k: v if (v := getattr(settings, k)) is not None else target.measure.get(k, default)
              for k, default in DEFAULT_MEASURE.items()}
    return replace(settings, warmup=int(filled["warmup"]), repeats=int(filled["repeats"]),
                   min_time_s=float(filled["min_time_s"]))


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
                    self.backend, s.batch, self.target.threads, s.warmup, s.repeats, s.min_time_s]
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
    """``backends`` checked against the registry and the target (``best``: all the target offers)."""
    wanted = list(target.backends) if backends == [BEST] else backends
    for b in wanted:
        if b not in BACKENDS:
            raise DevbenchError(f"unknown backend {b!r}; known backends: {', '.join([*BACKENDS, BEST])}")
    missing = [b for b in wanted if b not in target.backends]
    if missing:
        raise DevbenchError(f"target {target.name} offers backends {', '.join(target.backends)}, "
                            f"not {', '.join(missing)}")
    return wanted


def make_jobs(models: list[str], targets: list[Target], backends: list[str], settings: MeasureSettings) -> list[Job]:
    """The models x targets x backends matrix. ``best`` stands for every backend a target offers;
    a backend a target does not offer is an error."""
    per_target = {t.name: backends_for(t, backends) for t in targets}
    loaded = [load_model(m, settings.seed) for m in models]
    return [Job(m, t, b, settings_for(t, settings)) for t in targets for m in loaded for b in per_target[t.name]]


def example_batch(spec: ArchSpec, batch: int, seed: int) -> np.ndarray:
    """A fixed, seeded input (standard normal): the same for every backend of a job."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, *spec.input_shape)).astype(np.float32)


def reference_output(model: LoadedModel, x: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.module(torch.from_numpy(x)).numpy()


def compile_job(job: Job) -> Artifact:
    request = CompileRequest(spec=job.model.spec, module=job.model.module, target=job.target, batch=job.settings.batch)
    artifact, _ = compile_cached(job.backend, request, job.model.weights_digest)
    return artifact


def measure_job(job: Job, artifact: Artifact, transport) -> ResultRow:
    """Run one compiled job on its board and turn what comes back into a checked row."""
    s = job.settings
    spec = job.model.spec
    row = ResultRow(
        job_id=job.job_id, model=job.model.name, target=job.target.name, backend=job.backend, batch=s.batch,
        threads=job.target.threads, status="error", warmup=s.warmup, params=count_params(spec),
        macs=count_macs(spec, batch=s.batch), weights=job.model.weights, emulated=job.target.emulated,
        artifact_key=artifact.key, tuned=bool(artifact.meta.get("tuned", False)),
        trials=int(artifact.meta.get("trials", 0)), meta={"artifact": artifact.meta, "atol": s.atol},
    )
    x = example_batch(spec, s.batch, s.seed)
    with tempfile.TemporaryDirectory(prefix="devbench-job-") as tmp:
        np.save(Path(tmp) / "input.npy", x)
        name = artifact.path.name
        args = ["--backend", job.backend, "--artifact", name, "--input", "input.npy",
                "--threads", str(job.target.threads), "--device", job.target.device,
                "--warmup", str(s.warmup), "--repeats", str(s.repeats), "--min-time-s", str(s.min_time_s),
                "--out", "result.json"]
        board_job = BoardJob(files={name: artifact.path, "input.npy": Path(tmp) / "input.npy"}, args=args,
                             timeout_s=s.timeout_s)
        result = transport.run(board_job)
    if "error" in result:
        row.error = str(result["error"])
        return row
    summary = summarize(result["samples_ms"])
    for key, value in summary.as_dict().items():
        if hasattr(row, key):
            setattr(row, key, value)
    row.n_samples = summary.n
    row.samples_ms = [float(v) for v in result["samples_ms"]]
    row.environment = result.get("environment", {})
    row.first_result_s = result.get("first_result_s")
    check = compare_outputs(reference_output(job.model, x), np.asarray(result["output"]), s.atol)
    row.max_abs_err, row.top1_agreement = check.max_abs_err, check.top1_agreement
    if s.check:
        row.output_check = "pass" if check.passed else "FAIL"
        row.status = "ok" if check.passed else "check_failed"
    else:
        row.status = "ok"
    return row


def _error_row(job: Job, message: str) -> ResultRow:
    return ResultRow(job_id=job.job_id, model=job.model.name, target=job.target.name, backend=job.backend,
                     batch=job.settings.batch, threads=job.target.threads, status="error", error=message,
                     emulated=job.target.emulated, weights=job.model.weights)


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
    """Compile, measure and store every job; returns the rows of this call (failed ones included).

    A job that fails becomes an ``error`` row with the reason and the next job goes on; an
    unreachable board fails its own jobs only.
    """
    if resume:
        done = store.done_job_ids()
        jobs = [j for j in jobs if j.job_id not in done]
    rows: list[ResultRow] = []
    lock = threading.Lock()

    def record(row: ResultRow) -> None:
        with lock:
            store.add(row)
            rows.append(row)

    compiled: dict[str, Artifact] = {}
    for job in tqdm(jobs, desc="compile", unit="job", disable=not progress or not jobs, file=sys.stderr):
        try:
            compiled[job.job_id] = compile_job(job)
        except DevbenchError as e:
            record(_error_row(job, f"compile: {e}"))
        except Exception as e:  # a compiler crash on one network must not lose the others
            record(_error_row(job, f"compile: {_describe(e)}"))

    by_target: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.job_id in compiled:
            by_target[job.target.name].append(job)
    bar = tqdm(total=sum(len(v) for v in by_target.values()), desc="measure", unit="job",
               disable=not progress or not by_target, file=sys.stderr)

    def board_worker(target_jobs: list[Job]) -> None:
        target = target_jobs[0].target
        try:
            transport = open_transport(target, trust_new_host)
        except Exception as e:
            for job in target_jobs:
                record(_error_row(job, _describe(e)))
                bar.update()
            return
        try:
            for job in target_jobs:
                try:
                    row = measure_job(job, compiled[job.job_id], transport)
                except Exception as e:
                    row = _error_row(job, _describe(e))
                record(row)
                bar.update()
        finally:
            transport.close()

    with ThreadPoolExecutor(max_workers=max(1, len(by_target))) as pool:
        list(pool.map(board_worker, by_target.values()))
    bar.close()
    return rows


def compile_artifacts(model: str, target: str, backends: list[str], batch: int = 1,
                      targets_files: list[str] = ()) -> list[tuple[str, Artifact, bool]]:
    """Compile (or find in the cache) one network for one target: ``devbench compile``.
    Returns (backend, artifact, was_cached) per backend."""
    t = get_target(target, targets_files)
    wanted = backends_for(t, backends)
    loaded = load_model(model)
    request = CompileRequest(spec=loaded.spec, module=loaded.module, target=t, batch=batch)
    return [(b, *compile_cached(b, request, loaded.weights_digest)) for b in wanted]


def run_matrix(
    models: list[str],
    targets: list[str],
    backends: list[str],
    settings: MeasureSettings,
    store: ResultStore,
    targets_files: list[str] = (),
    threads: int | None = None,
    resume: bool = False,
    trust_new_host: bool = False,
    progress: bool = True,
) -> list[ResultRow]:
    """Names in, stored rows out: ``devbench run`` as a library call."""
    resolved = [get_target(t, targets_files, threads) for t in targets]
    jobs = make_jobs(models, resolved, backends, settings)
    return run_jobs(jobs, store, resume=resume, progress=progress, trust_new_host=trust_new_host)
