"""Running a plan: every stage's work stored under its content key, training on a dask.distributed cluster.

A stage writes into ``DIR/stages/<name>-<key[:12]>``: a training stage is a run directory
(``spec.json``, ``weights.pt``, ``metrics.json``; ``devbench run --model`` takes it), a pruning stage a
folder of ``stage_NNNN`` run directories, a latency stage the timings of its networks. A stage's
folder appears by an atomic rename when its work is complete, so *a folder that exists is done*:
a rerun after Ctrl-C, a crash or a change of recipe recomputes exactly the stages whose folder is
missing (an interrupted training run continues from its last epoch's checkpoint).

Training and pruning stages are independent runs, so they go to an existing engine rather than a
scheduler of our own: a dask.distributed ``LocalCluster`` sized to the machine (one single-threaded
worker process per core on a CPU: two one-thread runs on two cores beat two two-thread runs one
after another), or the scheduler of any dask cluster (``--scheduler tcp://host:8786``; on Slurm,
dask-jobqueue starts one) whose workers see ``DIR``. Each stage is a task whose arguments are the
futures of the stages it reads, so dask runs it as soon as they are done. Latency stages run last, in
this process, once the workers are gone: a timing taken beside a training run would be unstable.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devbench import interrupts
from devbench.errors import DevbenchError
from devbench.experiment.plan import Plan, Stage, format_seconds
from devbench.experiment.recipe import Recipe

log = logging.getLogger(__name__)
STAGES = "stages"
#: the timed networks under readable names (``<base>_<arm>_<budget>.json`` + ``.pt``): results.db's rows name them
NETWORKS = "networks"
#: what a finished stage records about itself, beside its output
STAGE_JSON = "stage.json"
TIMINGS_JSON = "timings.json"
#: held by the run in progress (``flock``), holding its pid
LOCK = ".lock"


def stage_dir(out: Path, stage: Stage) -> Path:
    """Where ``stage``'s output lives: its name (``/`` as ``.``) and the start of its content key."""
    return out / STAGES / f"{stage.name.replace('/', '.')}-{stage.key[:12]}"


def is_done(out: Path, stage: Stage) -> bool:
    return stage_dir(out, stage).is_dir()


def select(plan: Plan, only: Sequence[str] = ()) -> list[Stage]:
    """The stages to run: those whose name matches a pattern of ``only`` (a glob, or a prefix up to a
    ``/``: ``resnet20`` or ``resnet20/seed0``) and every stage they read; all of them without ``only``."""
    if not only:
        return list(plan.stages)
    wanted: set[str] = set()
    for pattern in only:
        hits = [s.name for s in plan.stages
                if fnmatch.fnmatchcase(s.name, pattern) or s.name.startswith(pattern.rstrip("/") + "/")]
        if not hits:
            raise DevbenchError(f"--only {pattern!r} matches no stage (stages look like "
                                f"{plan.stages[0].name}; --dry-run lists them)")
        wanted.update(hits)
    todo = list(wanted)
    while todo:
        for up in plan[todo.pop()].upstream:
            if up not in wanted:
                wanted.add(up)
                todo.append(up)
    return [s for s in plan.stages if s.name in wanted]


# --- one stage's work (runs in a worker process) ------------------------------------------------------


@dataclass(frozen=True)
class Picked:
    """The pruned network a budget names: its saved stage directory and parameter count."""

    path: Path
    params: int


def pick_pruned(prune_dir: Path, what: dict[str, int]) -> Picked:
    """The saved prune stage for a budget: ``{"stage": S}`` is the network after ``S`` prunes,
    ``{"params": B}`` the first saved one with at most ``B`` parameters."""
    stages = json.loads((prune_dir / "metrics.json").read_text())["stages"]
    if "stage" in what:
        chosen = next((s for s in stages if s["prunes"] == what["stage"]), None)
    else:
        chosen = next((s for s in stages if s["params"] <= what["params"]), None)
    if chosen is None:
        smallest = min(s["params"] for s in stages)
        raise DevbenchError(f"{prune_dir}: no saved prune stage reaches {what} (the smallest has {smallest} "
                            "params): prune more (raise prunes) or choose a larger budget")
    return Picked(prune_dir / chosen["stage"], chosen["params"])


def arm_of(stage: Stage) -> str:
    """The arm a training stage's network belongs to: base, reduced_<variant>, scratch or family."""
    return f"reduced_{stage.detail}" if stage.kind == "reduced" else stage.kind


def execute(stage: Stage, recipe: Recipe, out: str, threads: int, *upstream: str) -> str:
    """Do one training or pruning stage (the dask task); ``upstream`` are the folders of the stages it
    reads, in ``stage.upstream`` order. Returns the stage's folder."""
    import torch
    from tqdm import tqdm

    from devbench.training import PruneConfig, TrainConfig, load_dataset, load_run, prune, train

    torch.set_num_threads(threads)
    # tqdm's default lock is a multiprocessing RLock, a named semaphore that a killed worker (Ctrl-C kills
    # them) never unregisters: the resource tracker then warns of a leak at exit. A worker's bars are off
    # anyway and it has no child processes, so a thread lock does.
    tqdm.set_lock(threading.RLock())
    final = stage_dir(Path(out), stage)
    if final.is_dir():  # another run of the experiment finished it meanwhile
        return str(final)
    start = time.perf_counter()
    ds = recipe.dataset
    dataset = load_dataset(ds.name, ds.data_dir, ds.download)
    inputs = stage.inputs
    if stage.kind == "prune":
        p = inputs
        config = PruneConfig(method=p["method"], prune_every=p["prune_every"], prunes=p["prunes"],
                             save_every=p["save_every"], lr=p["lr"], batch_size=p["batch_size"],
                             train_subset=p["train_subset"], test_subset=p["test_subset"], seed=p["seed"])
        prune(load_run(upstream[0]), dataset, final, config, progress=False)
    else:
        t = inputs["training"]
        config = TrainConfig(epochs=t["epochs"], schedule=t["schedule"], batch_size=t["batch_size"], lr=t["lr"],
                             train_subset=t["train_subset"], test_subset=t["test_subset"], seed=inputs["seed"])
        train(_spec_to_train(stage, *map(Path, upstream)), dataset, final, config, resume=True, progress=False)
    _record(final, stage, time.perf_counter() - start)  # informative only: the folder's existence is what counts
    return str(final)


def _spec_to_train(stage: Stage, *upstream: Path) -> Any:
    """The architecture a training stage trains: the base, a reduction or family member sized to the
    pruned network of its budget, or the pruned architecture itself (from scratch)."""
    from devbench.models import ArchSpec
    from devbench.training.family import family_member
    from devbench.training.reduce import base_of, reduce

    i = stage.inputs
    if stage.kind == "base":
        return ArchSpec.from_dict(i["spec"])
    pruned = pick_pruned(upstream[0], i["budget"]) if stage.kind != "family" or i["size"] == "pruned" else None
    name = f"{stage.network}_{arm_of(stage)}"
    if stage.kind == "reduced":
        assert pruned is not None
        pruned_spec = ArchSpec.load(pruned.path / "spec.json")
        return reduce(base_of(pruned_spec), pruned.params, by=i["variant"], tolerance=i["tolerance"], name=name)
    if stage.kind == "scratch":
        assert pruned is not None
        spec = ArchSpec.load(pruned.path / "spec.json")
        return ArchSpec.from_dict({**spec.to_dict(), "name": name, "meta": {**spec.meta, "scratch_of": spec.name}})
    source = ArchSpec.load(pick_pruned(upstream[0], i["from"]).path / "spec.json")
    params = pruned.params if pruned is not None else i["budget"]["params"]
    return family_member(source, params, rule=i["rule"], name=name)


def _record(folder: Path, stage: Stage, seconds: float) -> None:
    from devbench.training.rundir import write_json

    write_json(folder / STAGE_JSON, {"name": stage.name, "kind": stage.kind, "key": stage.key, "inputs": stage.inputs,
                                     "upstream": list(stage.upstream), "seconds": round(seconds, 3),
                                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


# --- latency stages (this process, after training) ---------------------------------------------------


def measure_latency(plan: Plan, stage: Stage, out: Path, progress: bool = True) -> Path:
    """Time the first seed's pruned network at a budget against its reduced variants and family
    member in ``devbench compare``'s interleaved rounds; the rows go to ``DIR/results.db`` too."""
    from devbench.bench import MeasureSettings
    from devbench.compare import compare
    from devbench.experiment.tables import LatencyRow
    from devbench.models import get_spec
    from devbench.results import ResultStore
    from devbench.training.register import register_network

    final = stage_dir(out, stage)
    work = final.with_name(final.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    networks = out / NETWORKS
    start = time.perf_counter()
    i = stage.inputs
    net = stage.network
    names: list[str] = []
    arms: list[str] = []
    for model_stage in (plan[m] for m in i["models"]):
        folder = stage_dir(out, model_stage)
        if model_stage.kind == "prune":
            folder, what = pick_pruned(folder, i["what"]).path, "pruned"
        else:
            what = arm_of(model_stage)
        name = f"{net}_{what}_{i['budget']}"
        register_network(folder, name, to=networks, force=True)
        names.append(str(networks / f"{name}.json"))
        arms.append(what)
    store = ResultStore(out / "results.db")
    try:
        comparisons, rows = compare(names, [i["target"]], i["backends"], MeasureSettings(rounds=i["rounds"]), store,
                                    progress=progress)
    finally:
        store.close()
    short = {n: Path(n).stem for n in names}
    failed = [r for r in rows if r.status == "error"]
    if failed:  # not a result: nothing is stored, so a rerun measures again
        shutil.rmtree(work, ignore_errors=True)
        raise DevbenchError(f"{stage.name}: {short[failed[0].model]} on {failed[0].target} with {failed[0].backend}: "
                            f"{failed[0].error}")
    by_model = {(c.model, c.backend): c for c in comparisons}

    def why(text: str) -> str:  # the rows name each network by its file; a report names it by its name
        for n, name in short.items():
            text = text.replace(n, name)
        return text

    family = get_spec(names[0]).family
    timings = []
    for r in rows:
        c = by_model.get((r.model, r.backend))
        timings.append(LatencyRow(
            network=net, family=family, budget=i["budget"], arm=arms[names.index(r.model)], model=short[r.model],
            target=r.target, backend=r.backend, emulated=r.emulated, params=r.params, median_ms=r.median_ms,
            ci95_low_ms=r.ci95_low_ms, ci95_high_ms=r.ci95_high_ms,
            unstable=why(c.why if c and c.verdict in ("unstable", "error")
                         else r.unstable or ("output check failed" if r.status != "ok" else "")),
            ratio=c.ratio if c else None, ratio_ci_low=c.ratio_ci_low if c else None,
            ratio_ci_high=c.ratio_ci_high if c else None, verdict=c.verdict if c else "baseline",
            rounds=c.rounds if c else len(r.round_medians_ms)))
    (work / TIMINGS_JSON).write_text(json.dumps([asdict(t) for t in timings], indent=2) + "\n")
    _record(work, stage, time.perf_counter() - start)
    os.replace(work, final)
    return final


# --- the whole experiment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    """Where training stages run: a local dask cluster of ``workers`` processes, or ``scheduler``'s."""

    workers: int
    threads: int
    scheduler: str | None = None

    @classmethod
    def default(cls, device: str, workers: int | None = None, scheduler: str | None = None) -> Engine:
        """One single-threaded worker per core on a CPU (one per GPU on CUDA) unless told otherwise; a
        local cluster has at most one per core (more would only slow each other's training down)."""
        cores = len(os.sched_getaffinity(0))
        if workers is not None and scheduler is None and workers > cores:
            raise DevbenchError(f"--workers {workers} is more than the {cores} cores this process may use: a local "
                                "cluster runs one training process per core (--scheduler reaches a larger cluster)")
        if workers is None:
            if device == "cuda":
                import torch

                workers = max(1, torch.cuda.device_count())
            else:
                workers = cores
        return cls(workers, max(1, cores // workers), scheduler)

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        """A dask client, connected; a local cluster is started for it and shut down with it."""
        import dask
        from distributed import Client, LocalCluster

        # dask sets its loggers to INFO; they follow devbench's -v like every other library's
        logging.getLogger("distributed").setLevel(logging.getLogger().getEffectiveLevel())
        if self.scheduler:
            try:
                client = Client(self.scheduler, timeout="10s")
            except OSError as e:
                raise DevbenchError(f"cannot reach the dask scheduler {self.scheduler}: {e}") from None
            with client:
                yield client
            return
        # Ctrl-C in a terminal reaches the whole process group; the workers must leave it to this process,
        # which closes the cluster (and them): started with SIGINT ignored, they keep ignoring it
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with dask.config.set({SPAWN_ENVIRON: _worker_environ()}):
                # a failed stage is reported once by run_stages; the workers' own "Compute Failed" records
                # with a traceback each are for -v
                quiet = logging.CRITICAL if logging.getLogger().getEffectiveLevel() >= logging.ERROR else logging.ERROR
                cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=quiet)
        finally:
            signal.signal(signal.SIGINT, previous)
        with cluster, Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
            try:
                yield client
            except BaseException:
                # stopped (Ctrl-C, SIGTERM, an error): the stages in flight are abandoned anyway and their
                # .partial folders are redone, so the workers are killed rather than retired gracefully,
                # which waits for the running training step (seconds) before the cluster can close
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                raise


#: the environment dask's nanny gives a worker process before it starts
SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"


def _worker_environ() -> dict[str, Any]:
    """dask's worker environment less ``MALLOC_TRIM_THRESHOLD_``: dask sets it to 64 KiB so that workers
    hand freed memory back to the OS, but then every training step's tensors are unmapped and faulted in
    again, which made two workers training side by side each run at about 0.55x the speed of plain
    processes here (resnet20 SGD steps: 213 against 383 images/s a worker; an experiment epoch 8.4 s
    against 4.8 s). Thread counts stay dask's (one); :func:`execute` sets torch's own."""
    import dask

    return {k: v for k, v in dask.config.get(SPAWN_ENVIRON, {}).items() if k != "MALLOC_TRIM_THRESHOLD_"}


def planned(recipe: Recipe, device: str | None = None, workers: int | None = None,
            scheduler: str | None = None) -> tuple[Plan, Engine]:
    """The plan of ``recipe`` and the engine it runs on: the device resolved once, the workers sized to it
    (what ``--dry-run`` prints and what a run does are one computation)."""
    from devbench.experiment.plan import make_plan, resolve_device
    from devbench.experiment.throughput import measure_recipe
    from devbench.training import check_device

    device = resolve_device(device)
    if scheduler is None:  # a remote cluster's workers may have the GPU this machine lacks
        check_device(device)
    engine = Engine.default(device, workers, scheduler)
    # a remote cluster's machines are not this one: its estimates keep the assumed figures
    rates = None if scheduler else measure_recipe(recipe, device, engine.threads)
    return make_plan(recipe, device=device, macs_per_s=rates, workers=engine.workers), engine


def dry_run(recipe: Recipe, out: Path | None = None, only: Sequence[str] = (), workers: int | None = None,
            scheduler: str | None = None, device: str | None = None, as_json: bool = False) -> str:
    """What ``--dry-run`` prints: the plan, with the stages ``out`` already holds counted (as text, or as
    JSON with each stage's key, estimate and whether it is stored). An ``only`` matching nothing is the
    same error as in a run."""
    plan, _ = planned(recipe, device, workers, scheduler)
    select(plan, only)
    stored = {s.name for s in plan.stages if out is not None and is_done(out, s)}
    if not as_json:
        return plan.describe(stored)
    return json.dumps({"recipe": recipe.name, "device": plan.device, "workers": plan.workers,
                       "macs_per_s": dict(plan.macs_per_s), "measured": plan.measured,
                       "seconds": round(plan.seconds), "seconds_left": round(plan.seconds_left(stored)),
                       "stages": [{"name": s.name, "kind": s.kind, "key": s.key, "upstream": list(s.upstream),
                                   "seconds": round(s.seconds), "stored": s.name in stored} for s in plan.stages]},
                      indent=2)


def run_stages(plan: Plan, todo: Sequence[Stage], out: Path, client: Any, threads: int,
               on_done: Callable[[Stage], None]) -> None:
    """Submit the training and pruning stages ``todo`` to dask's ``client``, each with its upstream
    stages' futures (or finished folders) as arguments; wait for all. A failed stage fails only what
    reads it: every other stage still finishes and is stored, then the failures are one
    :class:`DevbenchError` naming the first."""
    from distributed import as_completed

    failed: list[tuple[str, str]] = []
    futures: dict[str, Any] = {}
    for s in todo:
        ups = [futures.get(u) or str(stage_dir(out, plan[u])) for u in s.upstream]
        futures[s.name] = client.submit(execute, s, plan.recipe, str(out), threads, *ups,
                                        key=f"{s.name}-{s.key[:12]}", pure=False, retries=0)
    names = {f.key: name for name, f in futures.items()}
    for future in as_completed(list(futures.values())):
        stage = plan[names[future.key]]
        if future.status != "error":
            on_done(stage)
            continue
        error = future.exception()
        why = str(error) if isinstance(error, DevbenchError) else f"{type(error).__name__}: {error}"
        if not any(why == w for _, w in failed):  # a stage whose upstream failed repeats its error
            log.error("stage %s failed: %s", stage.name, why)
        failed.append((stage.name, why))
    if failed:
        name, why = failed[0]
        raise DevbenchError(f"{len(failed)} stage{'s' if len(failed) != 1 else ''} failed, first {name}: {why} "
                            "(finished stages are kept; fix the cause and rerun to continue)")


def run_experiment(recipe: Recipe, out: str | Path, only: Sequence[str] = (), workers: int | None = None,
                   scheduler: str | None = None, device: str | None = None, progress: bool = True) -> Path:
    """Run (or continue) ``recipe`` into ``out``; then write its tables, figures and ``report.md``.

    Finished stages are never redone; with ``only``, just the matching stages and what they read run,
    and the report covers whatever is finished. The engine is reached before anything runs, and let go
    before the latency stages (a timing taken beside training would be unstable).
    """
    out = Path(out)
    if scheduler is None:  # read here first: a missing dataset is one line, not one failed stage per run
        from devbench.training import load_dataset

        load_dataset(recipe.dataset.name, recipe.dataset.data_dir, recipe.dataset.download)
    plan, engine = planned(recipe, device, workers, scheduler)
    chosen = select(plan, only)
    out.mkdir(parents=True, exist_ok=True)
    with _sole_run(out):
        return _run(plan, engine, chosen, out, progress)


@contextlib.contextmanager
def _sole_run(out: Path) -> Iterator[None]:
    """Hold ``out``'s lock for the run: two runs in one folder would train the same stage into the same
    ``.partial`` folder. The lock is the kernel's (``flock``), so a crashed run holds nothing."""
    import fcntl

    with (out / LOCK).open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise DevbenchError(f"{out} is in use by another devbench experiment (pid {f.read().strip() or '?'}); "
                                "wait for it to finish or use another --out") from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        yield


def _run(plan: Plan, engine: Engine, chosen: list[Stage], out: Path, progress: bool) -> Path:
    """:func:`run_experiment` with ``out`` locked."""
    from tqdm import tqdm

    from devbench.experiment.summary import write_summary

    recipe = plan.recipe
    left = [s for s in chosen if not is_done(out, s)]
    training = [s for s in left if s.kind != "latency"]
    latency = [s for s in left if s.kind == "latency"]
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=2) + "\n")
    started = time.perf_counter()
    with (interrupts.watch(),  # SIGTERM too stops the workers, as Ctrl-C does, rather than orphaning them
          engine.client() if training else contextlib.nullcontext() as client):  # reached before anything runs
        estimate = plan.seconds_left({s.name for s in plan.stages} - {s.name for s in left})
        log.info("%s: %d stages done, %d to run (about %s on %d worker%s)", recipe.name, len(chosen) - len(left),
                 len(left), format_seconds(estimate), engine.workers, "s" if engine.workers != 1 else "")
        bar = tqdm(total=len(chosen), initial=len(chosen) - len(left), desc="stages", unit="stage",
                   disable=not progress, mininterval=1.0)

        def finished(stage: Stage) -> None:
            bar.update(1)
            log.info("done %s (%s elapsed)", stage.name, format_seconds(time.perf_counter() - started))

        try:
            if client is not None:
                run_stages(plan, training, out, client, engine.threads, finished)
        except BaseException:
            bar.close()
            raise
    try:  # the workers are gone: nothing else runs beside the timings
        for stage in latency:
            measure_latency(plan, stage, out, progress=progress)
            finished(stage)
    finally:
        bar.close()
    return write_summary(plan, out)
