"""A recipe expanded into its stages: what runs, on what it depends, its content key and its cost.

Stages, per base network (``N`` below is the network's base name):

* ``N/seedS/base``: train the base network (one per seed);
* ``N/seedS/prune_M``: prune it with method ``M`` (the recipe's method and each baseline), saving stages;
* ``N/seedS/B/reduced_V``: train reduced variant ``V`` matched to the pruned network at budget ``B``;
* ``N/seedS/B/scratch``: train the pruned architecture at ``B`` from scratch;
* ``N/seedS/B/family``: train the member of the pruned network's family at ``B`` from scratch
  (scaled from the most pruned budget's architecture, see :mod:`devbench.training.family`);
* ``N/B/latency_T``: time the pruned network at ``B`` against its reduced variants and family member
  on target ``T`` (the first seed's networks: board time is the scarce resource).

A stage's *key* is the sha256 of everything its output depends on: its own settings (resolved, so a
preset and the same values written out give one key), the keys of the stages it reads, and the code
version (a hash of the training and model code; docstrings, comments and layout aside). A finished
stage stored under its key is never recomputed; change an epoch count and exactly the stages downstream
of it get new keys.

*Estimated time* (a deliberately simple model, good to a factor of two): a training step costs three
forward passes (forward, backward for activations and for weights), so a run takes ``(train images x
epochs x 3 + test images x epochs) x MACs / throughput`` seconds. The throughput is each base network's
own, measured on this machine by a few timed steps (:mod:`devbench.experiment.throughput`: the families
differ, DenseNet-BC's many thin layers train at half ResNet's MAC/s here), or without a measurement the
assumed per-process figure of :data:`MACS_PER_S` (the CPU one between DenseNet-BC-40's 2e10 and
ResNet-20's 4e10 with one thread per process here; the GPU one an assumption, not a measurement:
WRN-40-2's 200 CIFAR-10 epochs in about an hour). A pruned network's size before pruning has run is
estimated from its budget (or, for a prune stage, from the fraction of channels removed), and MACs are
taken to shrink in proportion to parameters. A latency comparison costs :data:`COMPILE_S` per network
and backend plus :data:`ROUND_S` per round.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devbench.errors import DevbenchError
from devbench.experiment.recipe import DATASET_IMAGES, NetworkSection, Recipe, TrainingSection
from devbench.models import ArchSpec, count_macs, count_params, get_family, get_spec
from devbench.training.family import format_count
from devbench.training.reduce import reduce

#: multiply-accumulates per second one training process reaches, by device (see the module docstring)
MACS_PER_S = {"cpu": 3e10, "cuda": 2.5e12}
#: compile one network for one backend, and time one round of it (seconds; latency stage estimate)
COMPILE_S, ROUND_S = 30.0, 2.0
#: the sources whose change changes every stage's result
CODE_PACKAGES = ("devbench.training", "devbench.models")
TRAINING_KINDS = ("base", "reduced", "scratch", "family")


@functools.cache
def code_version() -> str:
    """:func:`source_hash` of :data:`CODE_PACKAGES`; read once per process, so one plan never mixes two
    versions of a file being edited."""
    import importlib

    return source_hash(Path(importlib.import_module(pkg).__file__).parent for pkg in CODE_PACKAGES)


def source_hash(roots: Iterable[Path]) -> str:
    """sha256 of the Python code under ``roots``: each file's path and its syntax tree without docstrings,
    comments, blank lines or positions. Only an edit that can change what the code does changes it: a
    reworded docstring or a reformatted line must not throw away hours of finished training."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_bytes(), filename=str(path))
            for node in ast.walk(tree):
                body = getattr(node, "body", None)
                if (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and body
                        and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    node.body = body[1:] or [ast.Pass()]
            h.update(f"{path.relative_to(root)}\0{ast.dump(tree)}\0".encode())
    return h.hexdigest()


def content_key(inputs: dict[str, Any]) -> str:
    """sha256 of ``inputs`` as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Stage:
    """One unit of work: ``kind`` is base, prune, reduced, scratch, family or latency."""

    name: str
    kind: str
    network: str
    key: str
    inputs: dict[str, Any] = field(repr=False)
    upstream: tuple[str, ...]
    seconds: float
    seed: int | None = None
    budget: str | None = None
    detail: str = ""  # e.g. the reduced variant, the pruning method or the target
    #: for the estimate only, never in the key: MACs of the network trained, and its training images
    macs: float = 0.0
    train_images: int = 0

    @property
    def trains(self) -> bool:
        """Whether the stage is a training run from scratch (the units ``--dry-run`` counts)."""
        return self.kind in TRAINING_KINDS


@dataclass(frozen=True)
class Plan:
    """Every stage of a recipe in dependency order (a stage comes after all it reads)."""

    recipe: Recipe
    stages: tuple[Stage, ...]
    device: str
    macs_per_s: Mapping[str, float]  # per base network
    workers: int
    measured: bool = False  # the throughputs were timed here, not assumed

    def __getitem__(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(name)

    def counts(self) -> Counter[str]:
        return Counter(s.kind for s in self.stages)

    @property
    def seconds(self) -> float:
        """The estimated time of every stage one after the other."""
        return sum(s.seconds for s in self.stages)

    def seconds_left(self, stored: Collection[str] = ()) -> float:
        """The estimated time of the stages not in ``stored`` as :mod:`devbench.experiment.run` runs them:
        the training and pruning stages on :attr:`workers` workers (their total shared out, or their longest
        dependent chain if that is longer), then the latency stages one after another, once the workers are
        gone (a timing beside training would be unstable)."""
        left = [s for s in self.stages if s.name not in stored]
        training = [s for s in left if s.kind != "latency"]
        finish: dict[str, float] = {}
        for s in training:
            finish[s.name] = s.seconds + max((finish.get(u, 0.0) for u in s.upstream), default=0.0)
        parallel = max(sum(s.seconds for s in training) / self.workers, max(finish.values(), default=0.0))
        return parallel + sum(s.seconds for s in left if s.kind == "latency")

    def describe(self, stored: Collection[str] = ()) -> str:
        """What ``devbench experiment --dry-run`` prints: every group of runs, how many, how long, and
        how many of them ``stored`` (the names of stages already in the experiment's folder) holds."""
        r = self.recipe
        rates = ", ".join(f"{net} {rate:.2g}" for net, rate in self.macs_per_s.items())
        how = "measured here" if self.measured else "assumed"
        lines = [f"recipe {r.name}: {r.description}" if r.description else f"recipe {r.name}",
                 f"dataset {r.dataset.name}, seeds {', '.join(map(str, r.seeds))}; training throughput per run "
                 f"on {self.device} ({how}): {rates} MAC/s"]
        groups: dict[tuple[str, str], list[Stage]] = {}
        for s in self.stages:
            groups.setdefault((s.network, _group_name(s)), []).append(s)
        network = None
        for (net, group), stages in groups.items():
            if net != network:
                network = net
                lines.append(f"\n{net}:")
            total = sum(s.seconds for s in stages)
            have = sum(s.name in stored for s in stages)
            lines.append(f"  {group:<34} {len(stages):>3} x {_group_what(stages[0]):<48} "
                         f"~{format_seconds(total / len(stages))} each, {format_seconds(total)}"
                         + (f" ({have} stored)" if have else ""))
        counts = self.counts()
        runs = sum(counts[k] for k in TRAINING_KINDS)
        workers = f"{self.workers} parallel worker{'s' if self.workers != 1 else ''}"
        lines.append(f"\n{runs} training runs, {counts['prune']} pruning runs, {counts['latency']} latency "
                     f"comparisons: {len(self.stages)} stages, about {format_seconds(self.seconds)} one after "
                     f"another, {format_seconds(self.seconds_left())} on {workers}")
        have = sum(s.name in stored for s in self.stages)
        if have:
            lines.append(f"{have} stored, {len(self.stages) - have} to run: about "
                         f"{format_seconds(self.seconds_left(stored))} on {workers}")
        return "\n".join(lines)


def _group_name(s: Stage) -> str:
    """Stages that differ only in seed share a line: ``N/seedS/B/reduced_V`` -> ``B/reduced_V``."""
    parts = s.name.split("/")[1:]
    return "/".join(p for p in parts if not p.startswith("seed"))


def _group_what(s: Stage) -> str:
    i = s.inputs
    if s.kind == "prune":
        return f"{i['prunes']} prunes every {i['prune_every']} steps (batch {i['batch_size']})"
    if s.kind == "latency":
        return f"{len(i['models'])} networks x {', '.join(i['backends'])}, {i['rounds']} rounds"
    epochs = i["training"]["epochs"]
    return f"{epochs} epoch{'s' if epochs != 1 else ''} x {s.train_images} images, ~{_short(s.macs)} MACs"


def format_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if round(s / 60) < 90:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def _short(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.3g}{unit}"
    return f"{n:.0f}"


def resolve_device(device: str | None) -> str:
    """``device``, checked; without one, cuda when there is a GPU, else cpu."""
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in MACS_PER_S:
        raise DevbenchError(f"unknown device {device!r} (known: {', '.join(MACS_PER_S)})")
    return device


def make_plan(recipe: Recipe, device: str | None = None, macs_per_s: Mapping[str, float] | None = None,
              workers: int = 1) -> Plan:
    """The plan of ``recipe``; ``device`` defaults to cuda when there is one, the throughput of each base
    network to ``macs_per_s[base]`` (measured, :func:`devbench.experiment.throughput.measure_recipe`) or
    the device's :data:`MACS_PER_S`. A parameter budget no reduced variant can match is a
    :class:`DevbenchError`."""
    device = resolve_device(device)
    rates = {net.base: (macs_per_s or {}).get(net.base, MACS_PER_S[device]) for net in recipe.network}
    version = code_version()
    stages: list[Stage] = []
    for net in recipe.network:
        stages += _network_stages(recipe, net, version, rates[net.base])
    return Plan(recipe, tuple(stages), device, rates, max(1, workers), measured=bool(macs_per_s))


def fitted_spec(recipe: Recipe, name: str) -> ArchSpec:
    """The base spec shaped for the recipe's dataset (as training fits it)."""
    from devbench.training.data import DATASETS

    info = DATASETS[recipe.dataset.name]
    return replace(get_spec(name), input_shape=info.input_shape, num_classes=info.num_classes)


def _training(recipe: Recipe, section: TrainingSection, spec: ArchSpec) -> dict[str, Any]:
    """The training settings with the schedule's defaults filled in (so a preset and its values written
    out give one key)."""
    from devbench.training.loop import TrainConfig

    sched, epochs, batch, lr = TrainConfig(epochs=section.epochs, schedule=section.schedule,
                                           batch_size=section.batch_size, lr=section.lr).resolve(spec)
    return {"dataset": recipe.dataset.name, "schedule": sched.name, "epochs": epochs, "batch_size": batch, "lr": lr,
            "train_subset": section.train_subset, "test_subset": section.test_subset}


def _images(recipe: Recipe, section: TrainingSection) -> tuple[int, int]:
    """``(train, test)`` images a run sees per epoch, for the estimate."""
    train_n, test_n = DATASET_IMAGES.get(recipe.dataset.name, (50_000, 10_000))
    return min(section.train_subset or train_n, train_n), min(section.test_subset or test_n, test_n)


def _budgets(net: NetworkSection, base: ArchSpec) -> list[tuple[str, dict[str, int], int]]:
    """``(label, what the budget is, estimated params)`` per budget of ``net``."""
    params = count_params(base)
    if net.budgets is not None:
        return [(f"p{format_count(b)}", {"params": b}, b) for b in net.budgets]
    prunable = prunable_channels(base)
    return [(f"stage{s:04d}", {"stage": s}, int(params * max(0.05, 1 - s / prunable))) for s in net.stages or ()]


def prunable_channels(spec: ArchSpec) -> int:
    """How many channels pruning ``spec`` can remove: :meth:`devbench.training.prune.Pruner.prunable` of
    the unpruned network, from the spec alone (no model built), so a recipe is checked as ``devbench
    prune`` checks ``--prunes``."""
    floor = get_family(spec.family).min_inner
    return sum(max(0, w - floor) for w in spec.widths)


def _network_stages(recipe: Recipe, net: NetworkSection, version: str, rate: float) -> list[Stage]:
    base = fitted_spec(recipe, net.base)
    base_params, base_macs = count_params(base), count_macs(base)
    training = _training(recipe, net.training, base)
    train_images, test_images = _images(recipe, net.training)
    n = net.base
    out: list[Stage] = []

    def add(name: str, kind: str, inputs: dict[str, Any], upstream: Iterable[Stage], seconds: float,
            **where: Any) -> Stage:
        ups = tuple(upstream)
        keyed = {"kind": kind, **inputs, "upstream": [u.key for u in ups], "code": version}
        stage = Stage(name, kind, n, content_key(keyed), inputs, tuple(u.name for u in ups), seconds, **where)
        out.append(stage)
        return stage

    def train(name: str, kind: str, inputs: dict[str, Any], upstream: Iterable[Stage], macs: float,
              **where: Any) -> Stage:
        """A training run: its estimate is ``epochs x (3 x train + test images) x MACs / rate``."""
        seconds = training["epochs"] * (3 * train_images + test_images) * macs / rate
        return add(name, kind, inputs, upstream, seconds, macs=macs, train_images=train_images, **where)

    budgets = _budgets(net, base)
    for _, what, est in budgets:
        if "params" in what and est >= base_params:
            raise DevbenchError(f"{recipe.name}: budget {est} params for {n} is not below its {base_params} params")
    variant_macs = {(label, v): _reduced_macs(base, est, v, net, recipe.name, "params" in what)
                    for label, what, est in budgets for v in net.reduced}
    family_budgets = (budgets if net.family is True
                      else [(f"fam{format_count(b)}", {"params": b}, b) for b in net.family or ()])
    p = net.pruning
    prune_settings = {"prunes": net.prunes, "save_every": net.save_every, "prune_every": p.prune_every,
                      "lr": p.lr, "batch_size": p.batch_size or training["batch_size"],
                      "train_subset": p.train_subset, "test_subset": net.training.test_subset,
                      "dataset": recipe.dataset.name}
    prune_images = net.prunes * p.prune_every * prune_settings["batch_size"]
    evals = -(-net.prunes // net.save_every) * test_images
    prune_seconds = (3 * prune_images + evals) * base_macs / rate

    first: dict[str, Stage] = {}
    for seed in recipe.seeds:
        s = f"{n}/seed{seed}"
        trained = train(f"{s}/base", "base", {"spec": base.to_dict(), "training": training, "seed": seed}, (),
                        base_macs, seed=seed)
        pruned = add(f"{s}/prune_{p.method}", "prune", {**prune_settings, "method": p.method, "seed": seed},
                     (trained,), prune_seconds, seed=seed, detail=p.method)
        for method in p.baselines:
            add(f"{s}/prune_{method}", "prune", {**prune_settings, "method": method, "seed": seed}, (trained,),
                prune_seconds, seed=seed, detail=method)
        for label, what, est in budgets:
            macs = base_macs * est / base_params
            common = {"budget": what, "training": training, "seed": seed}
            arms = [train(f"{s}/{label}/reduced_{v}", "reduced", {**common, "variant": v, "tolerance": net.tolerance},
                          (pruned,), variant_macs[label, v], seed=seed, budget=label, detail=v) for v in net.reduced]
            if net.scratch:
                train(f"{s}/{label}/scratch", "scratch", common, (pruned,), macs, seed=seed, budget=label)
            if seed == recipe.seeds[0]:
                first[label] = arms
        source = {"params": min(net.budgets)} if net.budgets else {"stage": max(net.stages or ())}
        # a member at a compared budget is sized to the pruned network there, one elsewhere to the count
        size = "pruned" if net.family is True else "budget"
        for label, what, est in family_budgets:
            macs = base_macs * est / base_params
            stage = train(f"{s}/{label}/family", "family",
                          {"budget": what, "size": size, "from": source, "rule": "linear", "training": training,
                           "seed": seed},
                          (pruned,), macs, seed=seed, budget=label)
            if seed == recipe.seeds[0] and label in first:
                first[label] = [*first[label], stage]
    first_prune = next(st for st in out if st.kind == "prune")
    lat = recipe.latency
    for label, what, _ in budgets:
        models = [first_prune, *first[label]]
        for target in lat.targets:
            add(f"{n}/{label}/latency_{target}", "latency",
                {"budget": label, "what": what, "models": [m.name for m in models], "target": target,
                 "backends": lat.backends, "rounds": lat.rounds}, models,
                len(models) * len(lat.backends) * (COMPILE_S + ROUND_S * lat.rounds), budget=label, detail=target)
    return out


def _reduced_macs(base: ArchSpec, params: int, variant: str, net: NetworkSection, recipe: str,
                  must_fit: bool) -> float:
    """MACs of the reduced variant at ``params``; a parameter budget it cannot match is an error now,
    not hours later (a prune-stage budget's size is only a guess before pruning, so it falls back)."""
    try:
        return float(count_macs(reduce(base, params, by=variant, tolerance=net.tolerance)))
    except DevbenchError as e:
        if must_fit:
            raise DevbenchError(f"{recipe}: {net.base} at {params} params: {e}") from None
        return count_macs(base) * params / count_params(base)
