"""devbench board emulate: start, stop or inspect the emulated aarch64 board (target emulated-pi)."""

from __future__ import annotations

import argparse

from devbench.boards import emulate

HELP = "run boards on this machine: `board emulate` starts the emulated aarch64 Pi (target emulated-pi)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["emulate"], help="emulate: the qemu aarch64 board behind sshd on loopback")
    p.add_argument("--port", type=int, default=emulate.DEFAULT_PORT,
                   help=f"loopback port of its sshd (default {emulate.DEFAULT_PORT}; never 22)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--stop", action="store_true", help="stop the board's sshd")
    group.add_argument("--status", action="store_true", help="say whether it runs, and where")


def run(args: argparse.Namespace) -> int:
    if args.stop:
        print(f"{emulate.NAME}: {'stopped' if emulate.stop() else 'was not running'}")
        return 0
    if args.status:
        s = emulate.status()
        where = f"running on {s.host}:{s.port} (sshd pid {s.pid})" if s.running else "not running"
        print(f"{emulate.NAME}: {where}; board python {s.python}")
        return 0 if s.running else 1
    s = emulate.start(args.port)
    built = f" (root filesystem built in {s.build_s:.0f} s)" if s.build_s else ""
    print(f"{emulate.NAME}: running on {s.host}:{s.port} (sshd pid {s.pid}){built}")
    print(f"try: devbench doctor --target {emulate.NAME}")
    return 0
