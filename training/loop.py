"""Base training: spec + dataset -> a run directory with weights, metrics and per-epoch history.

One loop for base, reduced, scratch and family networks (they differ only in their spec). It uses the
GPU when there is one, and under ``torchrun`` (``LOCAL_RANK`` set) it runs DistributedDataParallel with
each rank taking its share of every batch, so the user changes nothing. A checkpoint after every
epoch (model, optimizer, the ``torch.optim.lr_scheduler`` step decay, data order) lets ``--resume``
continue an interrupted run exactly where it stopped. The per-epoch curves go to ``history.csv`` and,
for TensorBoard, to ``tensorboard/`` beside it.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, build_model
from devbench.models.registry import read_torch_file
from devbench.training import rundir
from devbench.training.checks import check_count, check_device, check_positive
from devbench.training.data import Batches, Dataset
from devbench.training.schedules import Schedule, get_schedule, schedule_for

HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_error", "test_loss", "test_error", "seconds")
#: what a checkpoint holds, and the type of each part
_CHECKPOINT = {"spec": dict, "settings": dict, "epoch": int, "model": dict, "optimizer": dict, "scheduler": dict,
               "generator": torch.Tensor, "history": list}
#: the run directory's TensorBoard event files (``tensorboard --logdir runs``): the history.csv curves
TENSORBOARD = "tensorboard"


@dataclass
class TrainConfig:
    """What to train with; ``None`` fields take the schedule's value."""

    epochs: int | None = None
    schedule: str | None = None  # default: the family's recipe
    batch_size: int | None = None
    lr: float | None = None
    train_subset: int | None = None
    test_subset: int | None = None  # evaluate on a fixed subset (quick CPU runs); None: the whole test set
    seed: int = 0
    device: str | None = None  # default: cuda when available

    def __post_init__(self) -> None:
        """Refuse a bad value here, where the user set it, rather than from torch's optimizer after
        the run directory exists (the device is checked where the training runs: :func:`setup_device`)."""
        check_positive("--lr", self.lr)
        for name in ("epochs", "batch_size", "train_subset", "test_subset"):
            check_count(f"--{name.replace('_', '-')}", getattr(self, name))

    def resolve(self, spec: ArchSpec) -> tuple[Schedule, int, int, float]:
        """``(schedule, epochs, batch_size, lr)`` with the defaults filled in."""
        sched = get_schedule(self.schedule) if self.schedule else schedule_for(spec.family)
        return sched, self.epochs or sched.epochs, self.batch_size or sched.batch_size, self.lr or sched.lr


@dataclass
class Dist:
    """Where this process trains: its device and, under torchrun, its rank among ``world`` processes."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_device(device: str | None = None) -> Dist:
    """Pick the device; join the process group when started by torchrun (``LOCAL_RANK`` in the environment)."""
    if "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        local = int(os.environ["LOCAL_RANK"])
        cuda = torch.cuda.is_available()
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if cuda else "gloo")
        dev = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(dev)
        return Dist(dev, dist.get_rank(), dist.get_world_size())
    return Dist(check_device(device))


def sgd_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step; returns the batch's summed loss and error count as tensors (no device sync)."""
    out = model(x)
    loss = F.cross_entropy(out, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach() * len(y), (out.argmax(1) != y).sum()


@torch.no_grad()
def evaluate(model: nn.Module, batches: Batches) -> tuple[float, float]:
    """``(mean loss, error rate)`` of ``model`` over ``batches`` in eval mode."""
    was_training = model.training
    model.eval()
    loss, wrong, n = torch.zeros(()), torch.zeros((), dtype=torch.long), 0
    for x, y in batches:
        out = model(x)
        loss += F.cross_entropy(out, y, reduction="sum").cpu()
        wrong += (out.argmax(1) != y).sum().cpu()
        n += len(y)
    model.train(was_training)
    return loss.item() / n, wrong.item() / n


def fit_spec(spec: ArchSpec, dataset: Dataset) -> ArchSpec:
    """The spec with the dataset's input shape and class count (a CIFAR-shaped name trains on Fashion-MNIST)."""
    if tuple(spec.input_shape) == dataset.input_shape and spec.num_classes == dataset.num_classes:
        return spec
    return replace(spec, input_shape=dataset.input_shape, num_classes=dataset.num_classes)


def train(spec: ArchSpec, dataset: Dataset, out: str | Path, config: TrainConfig | None = None,
          resume: bool = False, progress: bool = True) -> Path:
    """Train ``spec`` from scratch on ``dataset``; returns the finished run directory ``out``."""
    cfg = config or TrainConfig()
    spec = fit_spec(spec, dataset)
    sched, epochs, batch_size, base_lr = cfg.resolve(spec)
    where = setup_device(cfg.device)
    out = Path(out)
    if where.main:
        rundir.check_out(out)

    torch.manual_seed(cfg.seed)
    model = build_model(spec).to(where.device)
    opt = sched.optimizer(model.parameters(), lr=base_lr)
    lr_schedule = sched.scheduler(opt, epochs)
    train_split = dataset.train.subset(cfg.train_subset, cfg.seed).to(where.device)
    batches = Batches(dataset, train_split, max(1, batch_size // where.world), train=True, seed=cfg.seed,
                      shard=(where.rank, where.world))
    test = Batches(dataset, dataset.test.subset(cfg.test_subset, cfg.seed).to(where.device), 256, train=False)
    settings = {"dataset": dataset.name, "schedule": sched.name, "epochs": epochs, "batch_size": batch_size,
                "lr": base_lr, "train_subset": cfg.train_subset, "test_subset": cfg.test_subset, "seed": cfg.seed}
    # the .partial directory holds a checkpoint to resume from: made only once everything above,
    # which a user's setting can break, has worked, so a refused run leaves nothing behind
    work = rundir.start(out, resume) if where.main else rundir.partial_dir(out)
    if where.world > 1:
        dist.barrier()

    history: list[dict[str, Any]] = []
    first_epoch = 0
    ckpt_path = work / rundir.CHECKPOINT
    if resume and ckpt_path.is_file():
        first_epoch, history = _restore(ckpt_path, spec, settings, model, opt, lr_schedule, batches)
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if where.world > 1 else model
    board = _tensorboard(work) if where.main else None

    model.train()
    for epoch in range(first_epoch, epochs):
        lr = opt.param_groups[0]["lr"]
        t0 = time.perf_counter()
        loss_sum, wrong, n = torch.zeros((), device=where.device), torch.zeros((), device=where.device), 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", disable=not (progress and where.main),
                   leave=False, mininterval=1.0)
        for x, y in bar:
            loss, err = sgd_step(net, opt, x, y)
            loss_sum += loss
            wrong += err
            n += len(y)
        seconds = time.perf_counter() - t0
        lr_schedule.step()
        if where.world > 1:
            loss_sum, wrong, n = _whole_epoch(model, loss_sum, wrong, n, where.world)
        if where.main:
            test_loss, test_err = evaluate(model, test)
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum.item() / n, "train_error": wrong.item() / n,
                   "test_loss": test_loss, "test_error": test_err, "seconds": round(seconds, 3)}
            history.append(row)
            if progress:
                tqdm.write(f"epoch {epoch + 1}/{epochs}: train error {row['train_error']:.4f}, "
                           f"test error {test_err:.4f} ({seconds:.1f} s)")
            _write_history(work, history)
            for name in ("train_loss", "train_error", "test_loss", "test_error", "lr"):
                board.add_scalar(name.replace("_", "/", 1) if name != "lr" else name, row[name], epoch + 1)
            board.flush()
            rundir.save_torch(ckpt_path, {"spec": spec.to_dict(), "settings": settings, "epoch": epoch + 1,
                                          "model": model.state_dict(), "optimizer": opt.state_dict(),
                                          "scheduler": lr_schedule.state_dict(),
                                          "generator": batches.generator.get_state(), "history": history})
        if where.world > 1:
            dist.barrier()

    if not where.main:
        return out
    board.close()
    last = history[-1] if history else {}
    rundir.write_network(work, spec, model, {
        **settings, "test_error": last.get("test_error"), "test_loss": last.get("test_loss"),
        "train_error": last.get("train_error"), "train_seconds": round(sum(r["seconds"] for r in history), 3),
        "normalisation": {"mean": list(dataset.mean), "std": list(dataset.std)}, "device": str(where.device),
        "world_size": where.world,
    })
    return rundir.finish(work)


def _whole_epoch(model: nn.Module, loss_sum: torch.Tensor, wrong: torch.Tensor, n: int, world: int
                 ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Under torchrun, each rank saw its share of every batch: the epoch's loss and errors summed over
    every rank, and batch norm's running statistics averaged over them (as timm's ``distribute_bn``
    does; SyncBatchNorm has no CPU implementation), so rank 0 evaluates and saves what the whole data
    made, as a single process would."""
    totals = torch.stack([loss_sum.float(), wrong.float(), torch.tensor(float(n), device=loss_sum.device)])
    dist.all_reduce(totals)
    for name, buffer in model.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            dist.all_reduce(buffer)
            buffer /= world
    return totals[0], totals[1], int(totals[2].item())


def _tensorboard(work: Path) -> Any:
    """A SummaryWriter into the run directory (imported here: tensorboard loads in about a second)."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(work / TENSORBOARD))


def _restore(path: Path, spec: ArchSpec, settings: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer,
             lr_schedule: torch.optim.lr_scheduler.LRScheduler, batches: Batches) -> tuple[int, list[dict[str, Any]]]:
    """Load a checkpoint into ``model``/``opt``/``batches``; one from another spec or setup is an error.

    A checkpoint holds only tensors and plain values (the SGD state is tensors and numbers, the data
    order a generator state tensor), so it is read with ``weights_only``: a crafted one cannot run code.
    """
    ckpt = read_torch_file(path, "checkpoint")
    if (not isinstance(ckpt, dict) or any(not isinstance(ckpt.get(k), t) for k, t in _CHECKPOINT.items())
            or ckpt["epoch"] != len(ckpt["history"])
            or not all(isinstance(row, dict) and set(row) == set(HISTORY_FIELDS) for row in ckpt["history"])):
        raise DevbenchError(f"{path} is not a devbench checkpoint; remove it or train without --resume")
    if ArchSpec.from_dict(ckpt["spec"], source=f"{path}: spec") != spec:
        raise DevbenchError(f"{path} is a checkpoint of another spec ({ckpt['spec'].get('name')!r}); "
                            "remove it or train without --resume")
    keys = ("dataset", "epochs", "batch_size", "train_subset", "seed")
    changed = [k for k in keys if ckpt["settings"].get(k) != settings[k]]
    if changed:
        raise DevbenchError(f"{path} was made with other settings ({', '.join(changed)}); resume with the same ones")
    try:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        lr_schedule.load_state_dict(ckpt["scheduler"])
        batches.generator.set_state(ckpt["generator"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        raise DevbenchError(f"{path} is a damaged checkpoint ({type(e).__name__}); remove it or train without "
                            "--resume") from None
    return ckpt["epoch"], ckpt["history"]


def _write_history(work: Path, history: list[dict[str, Any]]) -> None:
    tmp = work / (rundir.HISTORY + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HISTORY_FIELDS)
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, work / rundir.HISTORY)
