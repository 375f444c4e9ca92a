"""devbench compare: the first model is the baseline; every other model's latency ratio to it,
with a 95% interval from paired rounds and a verdict (faster / slower / same / unstable)."""

from __future__ import annotations

import argparse
import sys

from devbench.bench import Interrupted, NotStored
from devbench.cli import add_target_arguments, csv_list, open_store
from devbench.cli.run import add_measure_arguments, exit_code, explain, settings_from
from devbench.compare import compare, comparisons
from devbench.report import render, render_comparisons
from devbench.stats import SAME_MARGIN

HELP = "is B faster than A? latency ratios to the first model, with a 95% CI from paired rounds and a verdict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=csv_list, required=True,
                   help="models, comma-separated: the first is the baseline (e.g. pruned_resnet,reduced_resnet)")
    add_target_arguments(p, multiple=True)
    p.add_argument("--backend", type=csv_list, default=["best"],
                   help="backend(s), comma-separated (default: every backend the target offers)")
    add_measure_arguments(p)
    p.epilog = (f"Verdict: 'faster'/'slower' when the ratio's whole 95% interval lies below/above 1 and the "
                f"ratio is more than {SAME_MARGIN:.0%} from 1; 'same' otherwise; 'unstable' when a row's rounds "
                f"disagree or ran beside other load, or there are too few rounds for an interval.")


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        result, rows = compare(args.model, args.target, args.backend, settings_from(args), store,
                               targets_files=args.targets_file, threads=args.threads,
                               trust_new_host=args.trust_new_host, progress=not args.quiet)
    except Interrupted as e:  # no comparison from half the rounds: say what finished
        print(render(e.rows, args.format))
        return exit_code(e.rows, interrupted=True)
    except NotStored as e:  # every round was measured: the answer, then where the rows went
        print(render_comparisons(comparisons(e.rows, args.model[0]), args.format))
        explain(e.rows, args.atol)
        raise
    finally:
        store.close()
    print(render_comparisons(result, args.format))
    explain(rows, args.atol)
    print(f"results stored in {store.path}", file=sys.stderr)
    return 1 if any(c.verdict == "error" for c in result) else 0
