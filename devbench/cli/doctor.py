"""devbench doctor: reach a board and say what it has and what its backends still need."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from devbench.cli import add_target_arguments, add_text_format_argument
from devbench.doctor import doctor
from devbench.errors import DevbenchError
from devbench.targets import get_target

HELP = "check a board: Python, numpy, runtimes, CPU, disk, and what each backend is missing"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_target_arguments(p)
    p.add_argument("--trust-new-host", action="store_true",
                   help="accept and record an SSH board's host key on first contact")
    p.add_argument("--json", action="store_true",
                   help="print only the board's raw probe as JSON (--format json: the checks with the probe)")
    add_text_format_argument(p)
    # no default here, so that a --format given beside --json is seen (and refused) rather than
    # ignored; unset means text
    p.set_defaults(format=None)


def run(args: argparse.Namespace) -> int:
    if args.json and args.format is not None:
        raise DevbenchError(f"--json prints the board's raw probe and --format {args.format} another document; "
                            "give one of them")
    target = get_target(args.target, args.targets_file)
    diagnosis = doctor(target, trust_new_host=args.trust_new_host)
    if args.json:
        print(json.dumps(diagnosis.probe, indent=1))
    elif args.format == "json":
        print(json.dumps({"target": target.name, "emulated": target.emulated, "ok": diagnosis.ok,
                          "checks": [asdict(c) for c in diagnosis.checks], "probe": diagnosis.probe},
                         indent=2, default=str))
    else:
        print("\n".join(diagnosis.lines()))
    return 0 if diagnosis.ok else 1
