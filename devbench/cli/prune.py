"""``devbench prune``: prune a trained run, saving a compressed network every few prunes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devbench.cli import add_text_format_argument, positive_int, print_records

HELP = "prune a trained run (fisher, l1 or random) into a sequence of smaller networks"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="run_dir", type=Path, required=True, help="run directory from `devbench train`")
    p.add_argument("--method", default="fisher", help="fisher, l1 or random")
    p.add_argument("--prune-every", type=positive_int, default=100, help="fine-tuning steps between prunes")
    p.add_argument("--prunes", type=positive_int, required=True, help="channels to remove in total")
    p.add_argument("--save-every", type=positive_int, default=10, help="write a stage every S prunes")
    p.add_argument("--dataset", help="default: the one the run was trained on")
    p.add_argument("--data-dir")
    p.add_argument("--lr", type=float, help="constant fine-tuning lr (default: 8e-4 WRN/ResNet, 1e-3 DenseNet)")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--train-subset", type=positive_int, help="fine-tune on a fixed random subset of N images")
    p.add_argument("--test-subset", type=positive_int, help="evaluate stages on a fixed subset of N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device")
    p.add_argument("--out", type=Path, help="default: RUN_DIR/prune_<method>")
    p.add_argument("--no-progress", action="store_true")
    add_text_format_argument(p, table=True)


def run(args: argparse.Namespace) -> int:
    from devbench.training import PruneConfig, load_dataset, load_run, prune

    run_ = load_run(args.run_dir)
    dataset = load_dataset(args.dataset or run_.metrics.get("dataset", ""), args.data_dir)
    config = PruneConfig(method=args.method, prune_every=args.prune_every, prunes=args.prunes,
                         save_every=args.save_every, lr=args.lr, batch_size=args.batch_size,
                         train_subset=args.train_subset, test_subset=args.test_subset, seed=args.seed,
                         device=args.device)
    out = prune(run_, dataset, args.out or args.run_dir / f"prune_{args.method}", config,
                progress=not args.no_progress)
    if args.format != "text":  # one record per saved stage
        stages = json.loads((out / "metrics.json").read_text())["stages"]
        print_records([{"path": str(out / s["stage"]), **{k: s[k] for k in ("prunes", "params", "macs", "test_error")}}
                       for s in stages], args.format)
        return 0
    print(f"{out}: {args.prunes} channels removed; stages in {out}/stage_*")
    print(f"name one: devbench register --from {out}/stage_NNNN --name pruned_X [--to DIR]")
    return 0
