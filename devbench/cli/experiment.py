"""``devbench experiment``: the paper's comparison from one recipe, resumable, into one folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devbench.cli import add_text_format_argument, count_up_to

#: the most ``--workers`` (``--workers 100000`` is a typo, refused as other counts are); a local cluster is
#: further held to this machine's cores (``Engine.default``), a --scheduler cluster's count only shapes the estimate
MAX_WORKERS = 4096

HELP = "the paper in one command: train, prune, reduce, retrain and time from a recipe; report the three claims"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="a recipe .toml, or a shipped one: smoke, fashion_mnist, cifar10_paper")
    p.add_argument("--out", type=Path, help="the experiment's folder; rerun with the same one to continue "
                                            "(required unless --dry-run)")
    p.add_argument("--only", action="append", default=[], metavar="STAGE",
                   help="run only stages matching this name or glob (and what they need); repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan: every run, how many, how long (timed on this machine), and with --out "
                        "how many are stored")
    p.add_argument("--data-dir", help="where CIFAR lives (wins over the recipe's [dataset] data_dir)")
    p.add_argument("--workers", type=count_up_to(MAX_WORKERS, "workers"),
                   help="parallel training processes (default: one per core, one thread each; one per GPU)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a dask scheduler (tcp://host:8786) whose workers see --out, instead of a local cluster")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when there is one")
    add_text_format_argument(p)
    p.epilog = ("Every stage is stored in OUT/stages keyed by its content: a rerun, or a run after Ctrl-C or a "
                "crash, recomputes nothing finished. OUT/report.md gives each claim a verdict.")


def run(args: argparse.Namespace) -> int:
    from devbench.errors import DevbenchError
    from devbench.experiment import load_recipe
    from devbench.experiment.run import dry_run, run_experiment

    recipe = load_recipe(args.recipe, data_dir=args.data_dir)
    if args.dry_run:
        print(dry_run(recipe, args.out, args.only, args.workers, args.scheduler, args.device,
                      as_json=args.format == "json"))
        return 0
    if args.out is None:
        raise DevbenchError("--out DIR is required (the folder the experiment is stored in)")
    report = run_experiment(recipe, args.out, only=args.only, workers=args.workers, scheduler=args.scheduler,
                            device=args.device, progress=not args.quiet)
    if args.format == "json":  # the verdicts and where everything is
        verdicts = json.loads((report.parent / "results.json").read_text())["verdicts"]
        print(json.dumps({"report": str(report), "results": str(report.parent / "results.csv"),
                          "verdicts": verdicts}, indent=2))
        return 0
    print(report.read_text().split("## Verdicts", 1)[1].split("\n## ", 1)[0].strip())
    print(f"\n{report}")
    return 0
