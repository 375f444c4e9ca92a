"""Training overheads, measured side by side in one run and printed as ratios.

1. images/s of devbench's training loop (``devbench.training.train``: in-memory batches, augmentation,
   progress bar, metrics) against a bare PyTorch loop on the same network, data and batch size.
   Target: >= 0.95x.
2. seconds per fine-tuning step with Fisher bookkeeping (gate masks, activation and gradient hooks,
   per-channel accumulation) against plain fine-tuning without hooks. Target: <= 15% extra.

Rounds alternate between the contenders and the best round of each counts, so a machine that others
share biases neither side. Usage: ``python benchmarks/training.py [--model wrn_10_2] [--steps 20]``
(set OMP_NUM_THREADS to pin the thread count).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from devbench.models import build_model, get_spec
from devbench.training import Fisher, Pruner, TrainConfig, load_dataset, train
from devbench.training.data import PAD, Batches
from devbench.training.loop import fit_spec


def devbench_loop(spec, dataset, n_images: int, batch: int, workdir: Path, round_: int) -> float:
    """Images/s of one epoch of ``devbench.training.train`` (its own per-epoch timer, evaluation excluded)."""
    out = train(spec, dataset, workdir / f"run{round_}", TrainConfig(epochs=1, batch_size=batch, train_subset=n_images,
                test_subset=256), progress=True)
    seconds = float(next(csv.DictReader(open(out / "history.csv")))["seconds"])
    return n_images / seconds


def bare_loop(spec, dataset, n_images: int, batch: int) -> float:
    """Images/s of the textbook loop: same net, data, augmentation, SGD settings; nothing else."""
    torch.manual_seed(0)
    model = build_model(spec)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    images, labels = dataset.train.subset(n_images).images, dataset.train.subset(n_images).labels
    c, h, w = images.shape[1:]
    mean = torch.tensor(dataset.mean).view(1, c, 1, 1)
    std = torch.tensor(dataset.std).view(1, c, 1, 1)
    t0 = time.perf_counter()
    perm = torch.randperm(n_images)
    for start in range(0, n_images, batch):
        idx = perm[start : start + batch]
        x = F.pad(images[idx].float() / 255, (PAD,) * 4, mode="reflect")
        n = len(idx)
        dy, dx = torch.randint(0, 2 * PAD + 1, (2, n))
        x = torch.stack([x[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
        flip = torch.rand(n) < 0.5
        x[flip] = x[flip].flip(-1)
        x = (x - mean) / std
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n_images / (time.perf_counter() - t0)


def finetune_step_time(spec, dataset, steps: int, batch: int, fisher: bool) -> float:
    """Seconds per fine-tuning step, with or without the Fisher pruner attached."""
    torch.manual_seed(0)
    model = build_model(spec)
    opt = torch.optim.SGD(model.parameters(), lr=8e-4, momentum=0.9, weight_decay=5e-4)
    pruner = Pruner(model, spec, Fisher()) if fisher else None
    batches = list(Batches(dataset, dataset.train.subset(steps * batch), batch, train=True))
    t0 = time.perf_counter()
    for x, y in batches:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    elapsed = (time.perf_counter() - t0) / len(batches)
    if pruner:
        assert pruner.criterion.acc, "Fisher hooks did not run"
        pruner.remove()
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="wrn_10_2")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=12, help="batches per timed round")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    dataset = load_dataset(args.dataset)
    spec = fit_spec(get_spec(args.model), dataset)
    n_images = args.steps * args.batch
    print(f"{spec.name} on {args.dataset} {list(spec.input_shape)}, batch {args.batch}, {args.steps} steps/round, "
          f"{args.rounds} rounds, {torch.get_num_threads()} threads, device cpu")
    ours, bare, plain, fisher = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            bare.append(bare_loop(spec, dataset, n_images, args.batch))
            ours.append(devbench_loop(spec, dataset, n_images, args.batch, Path(tmp), r))
            plain.append(finetune_step_time(spec, dataset, args.steps, args.batch, fisher=False))
            fisher.append(finetune_step_time(spec, dataset, args.steps, args.batch, fisher=True))
    print(f"training loop: devbench {max(ours):.1f} img/s, bare PyTorch {max(bare):.1f} img/s -> "
          f"{max(ours) / max(bare):.3f}x (target >= 0.95x)")
    extra = min(fisher) / min(plain) - 1
    print(f"fine-tuning step: plain {min(plain) * 1e3:.1f} ms, with Fisher bookkeeping {min(fisher) * 1e3:.1f} ms -> "
          f"{extra:+.1%} (target <= +15%)")


if __name__ == "__main__":
    main()
