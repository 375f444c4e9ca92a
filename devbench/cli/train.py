"""``devbench train``: train a spec (a registered name or a .json file) from scratch into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_text_format_argument, positive_int, print_records

HELP = "train a network (base, reduced, scratch or family member) from scratch"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="registered name or spec .json (input shape follows the dataset)")
    p.add_argument("--dataset", required=True, help="fashion_mnist, cifar10, cifar100 (synthetic: tests only)")
    p.add_argument("--data-dir", help="where the dataset lives (CIFAR; Fashion-MNIST defaults to Debian's files)")
    p.add_argument("--download", action="store_true", help="download a missing torchvision dataset into --data-dir")
    p.add_argument("--epochs", type=positive_int, help="default: the schedule's (milestones scale with it)")
    p.add_argument("--schedule", help="wrn or densenet (default: the family's)")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=float, help="initial learning rate (default: the schedule's)")
    p.add_argument("--train-subset", type=positive_int, help="train on a fixed random subset of N images")
    p.add_argument("--test-subset", type=positive_int, help="evaluate on a fixed random subset of N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<model>_<dataset>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_text_format_argument(p)


def run(args: argparse.Namespace) -> int:
    from devbench.models import resolve
    from devbench.training import TrainConfig, check_device, load_dataset, load_run, train

    # every setting is checked before the dataset is read (seconds to minutes with --download)
    config = TrainConfig(epochs=args.epochs, schedule=args.schedule, batch_size=args.batch_size, lr=args.lr,
                         train_subset=args.train_subset, test_subset=args.test_subset, seed=args.seed,
                         device=args.device)
    check_device(args.device)
    spec, _ = resolve(args.model)
    dataset = load_dataset(args.dataset, args.data_dir, args.download)
    out = args.out or Path("runs") / f"{spec.name}_{dataset.name}"
    path = train(spec, dataset, out, config, resume=args.resume, progress=not args.no_progress)
    if path.is_dir():  # the main process of a distributed run; the others wrote nothing
        m = load_run(path).metrics
        if args.format == "json":
            print_records([{"run": str(path), **{k: m[k] for k in ("test_error", "params", "macs")}}], "json")
        else:
            print(f"{path}: test error {m['test_error']:.4f}, {m['params']} params, {m['macs']} MACs")
    return 0
