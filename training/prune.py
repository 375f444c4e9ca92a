"""The pruning loop (Theis et al. 2018 as Crowley et al. run it): fine-tune, and every ``prune_every``
steps remove the single least salient channel of the whole network.

Channels are removed with 0/1 masks applied by forward hooks on the blocks' gates, so the network
keeps its shapes while it fine-tunes; every ``save_every`` prunes the masked network is compressed to
a dense spec plus weights and written as a stage directory, so one run yields a sequence of ever
smaller networks. The ordered prune history is kept alongside.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, blocks
from devbench.models.families import get_family
from devbench.training import rundir
from devbench.training.checks import check_count, check_non_negative, check_positive
from devbench.training.compress import compress
from devbench.training.criteria import Criterion, get_criterion
from devbench.training.data import Batches, Dataset
from devbench.training.loop import evaluate, setup_device, sgd_step
from devbench.training.schedules import schedule_for

HISTORY_JSON = "prune_history.json"
log = logging.getLogger(__name__)


@dataclass
class PruneEvent:
    """One removed channel: when, where (block index in ``spec.widths`` order, channel) and its saliency."""

    prune: int
    step: int
    block: int
    channel: int
    saliency: float


class Pruner:
    """Masks on a model's gates, the criterion's bookkeeping hooks, and the choice of what to remove."""

    def __init__(self, model: nn.Module, spec: ArchSpec, criterion: Criterion) -> None:
        self.model, self.spec, self.criterion = model, spec, criterion
        self.blocks = blocks(model)
        if [b.inner for b in self.blocks] != spec.widths:
            raise DevbenchError(f"model does not match spec {spec.name!r}")
        device = next(model.parameters()).device
        self.masks = [torch.ones(w, device=device) for w in spec.widths]
        # DenseNet-BC layers need a bottleneck of at least one channel; residual blocks may vanish
        self.min_width = get_family(spec.family).min_inner
        self.handles = [b.gate.register_forward_hook(self._hook(i)) for i, b in enumerate(self.blocks) if b.inner]

    def _hook(self, index: int):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            out = output * self.masks[index].view(1, -1, 1, 1)
            if self.criterion.needs_gradients and out.requires_grad and self.model.training:
                a = inputs[0].detach()
                out.register_hook(lambda g: self.criterion.observe(index, a, g.detach()))
            return out

        return hook

    @property
    def widths(self) -> list[int]:
        return [int(m.sum().item()) for m in self.masks]

    def prunable(self) -> int:
        """How many channels can still be removed."""
        return sum(max(0, w - self.min_width) for w in self.widths)

    def prune_one(self, prune: int = 0, step: int = 0) -> PruneEvent:
        """Remove the alive channel with the lowest saliency network-wide, then reset the criterion."""
        scores = self.criterion.scores(self.blocks)
        best: tuple[float, int, int] | None = None
        for i, (s, mask) in enumerate(zip(scores, self.masks, strict=True)):
            if int(mask.sum().item()) <= self.min_width:
                continue
            s = torch.where(mask.cpu() > 0, s.detach().float().cpu(), torch.tensor(float("inf")))
            k = int(torch.argmin(s).item())
            if best is None or s[k].item() < best[0]:
                best = (s[k].item(), i, k)
        if best is None:
            raise DevbenchError("no prunable channels left")
        saliency, i, k = best
        self.masks[i][k] = 0
        self.criterion.reset()
        return PruneEvent(prune, step, i, k, saliency)

    def compressed(self, name: str) -> tuple[ArchSpec, nn.Module]:
        return compress(self.model, self.spec, self.masks, name=name)

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


@dataclass
class PruneConfig:
    """How to prune; ``None`` fields take the family's recipe (constant lr 8e-4 WRN, 1e-3 DenseNet)."""

    method: str = "fisher"
    prune_every: int = 100
    prunes: int = 100
    save_every: int = 10
    lr: float | None = None
    batch_size: int | None = None
    weight_decay: float | None = None
    train_subset: int | None = None
    test_subset: int | None = None
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        """Refuse a bad value here, where the user set it, not from torch's optimizer mid-way."""
        check_positive("--lr", self.lr)
        check_non_negative("weight_decay", self.weight_decay)
        for name in ("prune_every", "prunes", "save_every", "batch_size", "train_subset", "test_subset"):
            check_count(f"--{name.replace('_', '-')}", getattr(self, name))


def prune(run: rundir.Run, dataset: Dataset, out: str | Path, config: PruneConfig | None = None,
          progress: bool = True, criterion: Criterion | str | None = None) -> Path:
    """Prune a trained run; writes ``stage_NNNN/`` run dirs, the prune history and a summary into ``out``.

    ``criterion`` is a registered name or any :class:`Criterion` object (a notebook's own saliency:
    one class with ``scores``, no registration needed); it wins over ``config.method``.
    """
    cfg = config or PruneConfig()
    if not isinstance(criterion, Criterion):
        criterion = get_criterion(criterion or cfg.method, cfg.seed)
    cfg = replace(cfg, method=getattr(criterion, "name", type(criterion).__name__))
    spec, model = run.spec, run.model
    if tuple(spec.input_shape) != dataset.input_shape or spec.num_classes != dataset.num_classes:
        raise DevbenchError(f"{run.path} was trained for input {list(spec.input_shape)} and {spec.num_classes} "
                            f"classes, not dataset {dataset.name!r}")
    where = setup_device(cfg.device)
    model.to(where.device)
    pruner = Pruner(model, spec, criterion)
    if cfg.prunes > pruner.prunable():
        raise DevbenchError(f"--prunes {cfg.prunes} is more than the {pruner.prunable()} prunable channels of "
                            f"{spec.name!r}")
    sched = schedule_for(spec.family)
    lr = cfg.lr or sched.prune_lr
    batch_size = cfg.batch_size or sched.batch_size
    opt = sched.optimizer(model.parameters(), lr=lr, weight_decay=cfg.weight_decay)
    torch.manual_seed(cfg.seed)
    batches = Batches(dataset, dataset.train.subset(cfg.train_subset, cfg.seed).to(where.device), batch_size,
                      train=True, seed=cfg.seed)
    test = Batches(dataset, dataset.test.subset(cfg.test_subset, cfg.seed).to(where.device), 256, train=False)
    settings = {**{k: v for k, v in asdict(cfg).items() if k != "device"}, "lr": lr, "batch_size": batch_size,
                "weight_decay": opt.param_groups[0]["weight_decay"], "dataset": dataset.name, "base": spec.name}

    work = rundir.start(Path(out))
    history: list[PruneEvent] = []
    stages: list[dict[str, Any]] = []
    step, t0 = 0, time.perf_counter()
    bar = tqdm(total=cfg.prunes, desc=f"{cfg.method} pruning", disable=not progress, mininterval=1.0)
    model.train()
    while len(history) < cfg.prunes:
        for x, y in batches:
            sgd_step(model, opt, x, y)
            step += 1
            if step % cfg.prune_every:
                continue
            history.append(pruner.prune_one(len(history) + 1, step))
            bar.update(1)
            if len(history) % cfg.save_every == 0 or len(history) == cfg.prunes:
                stages.append(_save_stage(work, pruner, test, spec, len(history), step, settings))
                rundir.write_json(work / HISTORY_JSON, [asdict(e) for e in history])
                model.train()
            if len(history) == cfg.prunes:
                break
    bar.close()
    pruner.remove()
    rundir.write_json(work / rundir.METRICS, {**settings, "base_params": rundir.size_metrics(spec)["params"],
                                              "seconds": round(time.perf_counter() - t0, 3), "stages": stages})
    return rundir.finish(work)


def _save_stage(work: Path, pruner: Pruner, test: Batches, base: ArchSpec, prunes: int, step: int,
                settings: dict[str, Any]) -> dict[str, Any]:
    """Compress the masked network, evaluate the compressed one and write it as ``stage_NNNN``."""
    name = f"{base.name}_{settings['method']}_p{prunes}"
    small_spec, small = pruner.compressed(name)
    small_spec = ArchSpec.from_dict({**small_spec.to_dict(), "meta": {
        "base": base.name, "base_spec": base.to_dict(), "method": settings["method"], "prunes": prunes,
        "dataset": settings["dataset"]}})
    small.to(test.split.images.device)
    test_loss, test_err = evaluate(small, test)
    stage = work / f"stage_{prunes:04d}"
    stage.mkdir()
    metrics = {"prunes": prunes, "step": step, "test_error": test_err, "test_loss": test_loss,
               "test_subset": settings["test_subset"], "dataset": settings["dataset"], "method": settings["method"]}
    rundir.write_network(stage, small_spec, small, metrics)
    log.info("stage %d prunes: %d params, test error %.4f", prunes, rundir.size_metrics(small_spec)["params"], test_err)
    return {"stage": stage.name, **rundir.size_metrics(small_spec), **metrics}
