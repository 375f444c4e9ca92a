"""devbench board: add, list and remove your boards; run the emulated aarch64 board (target emulated-pi)."""

from __future__ import annotations

import argparse
import json

from devbench.boards import add as boards
from devbench.boards import emulate
from devbench.cli import add_format_argument, add_text_format_argument

HELP = ("your boards: `board add NAME --host [USER@]HOST[:PORT]` probes one and writes its target, `board list`, "
        "`board remove NAME`; `board emulate` starts the emulated aarch64 Pi (target emulated-pi)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    a = sub.add_parser("add", help="probe a board over SSH and write its target file",
                       description="Connect to a board over SSH (the host-key rules of `run`), ask it what it is "
                                   "and write a target file for it into your target directory.")
    a.add_argument("name", help="the target's name (what --target will call it)")
    a.add_argument("--host", required=True, metavar="[USER@]HOST[:PORT]",
                   help="address, hostname or ~/.ssh/config alias, with an optional user and port")
    a.add_argument("--like", metavar="KIND",
                   help="board kind whose defaults fill what the probe cannot tell (pi4, pi5, jetson-orin-nano, ...; "
                        "default: guessed from NAME)")
    a.add_argument("--key", metavar="FILE", help="private key file (default: ~/.ssh/config's, ~/.ssh's, the agent's)")
    a.add_argument("--python", default="python3", help="the board's Python (default: python3)")
    a.add_argument("--workdir", help="where runs unpack on the board (default: /tmp/devbench)")
    a.add_argument("--trust-new-host", action="store_true",
                   help="accept and record the board's host key on first contact")
    add_text_format_argument(a)
    lst = sub.add_parser("list", help="the boards you added, where they are and whether they answer")
    lst.add_argument("--no-check", action="store_true", help="do not try to reach them")
    add_format_argument(lst)
    rm = sub.add_parser("remove", help="delete a board's target file from your target directory")
    rm.add_argument("name")
    add_text_format_argument(rm)
    e = sub.add_parser("emulate", help="the qemu aarch64 board behind sshd on loopback")
    e.add_argument("--port", type=int, default=emulate.DEFAULT_PORT,
                   help=f"loopback port of its sshd (default {emulate.DEFAULT_PORT}; never 22)")
    group = e.add_mutually_exclusive_group()
    group.add_argument("--stop", action="store_true", help="stop the board's sshd")
    group.add_argument("--status", action="store_true", help="say whether it runs, and where")
    add_text_format_argument(e)


def run(args: argparse.Namespace) -> int:
    return {"add": run_add, "list": run_list, "remove": run_remove, "emulate": run_emulate}[args.action](args)


def run_add(args: argparse.Namespace) -> int:
    request = boards.make_request(args.name, args.host, like=args.like, key_file=args.key, python=args.python,
                                  workdir=args.workdir)
    added = boards.add_board(request, trust_new_host=args.trust_new_host)
    board = added.board
    if args.format == "json":
        print(json.dumps({"name": args.name, "path": str(added.path), "changed": added.changed,
                          "target": board.table, "facts": list(board.facts), "assumed": list(board.assumed),
                          "missing": list(board.missing), "install": board.install}, indent=2))
        return 0
    state = "wrote" if added.changed else "unchanged:"
    print(f"{state} {added.path}\n\n{added.text}")
    if board.missing:
        print("missing on the board: " + "; ".join(board.missing))
        if board.install:
            print(f"install: {board.install}")
    print(f"try: devbench run --target {args.name} --model pruned_resnet")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from devbench.report import render_records

    rows = boards.list_boards(check=not args.no_check)
    if not rows and args.format == "markdown":
        print("no boards yet: devbench board add NAME --host [USER@]HOST[:PORT]")
    else:
        print(render_records(rows, args.format).rstrip("\n"))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    path = boards.remove_board(args.name)
    print(json.dumps({"removed": args.name, "path": str(path)}) if args.format == "json"
          else f"removed {args.name}: {path}")
    return 0


def _status_json(s: emulate.BoardStatus, **extra: object) -> str:
    return json.dumps({"name": s.name, "running": s.running, "host": s.host, "port": s.port, "pid": s.pid,
                       "python": str(s.python), "known_hosts": str(s.known_hosts), "key_file": str(s.key_file),
                       **extra}, indent=2)


def run_emulate(args: argparse.Namespace) -> int:
    as_json = args.format == "json"
    if args.stop:
        stopped = emulate.stop()
        print(json.dumps({"name": emulate.NAME, "stopped": stopped}) if as_json
              else f"{emulate.NAME}: {'stopped' if stopped else 'was not running'}")
        return 0
    if args.status:
        s = emulate.status()
        if as_json:
            print(_status_json(s))
            return 0 if s.running else 1
        where = f"running on {s.host}:{s.port} (sshd pid {s.pid})" if s.running else "not running"
        print(f"{emulate.NAME}: {where}; board python {s.python}")
        return 0 if s.running else 1
    s = emulate.start(args.port)
    if as_json:
        print(_status_json(s, build_s=round(s.build_s, 1)))
        return 0
    built = f" (root filesystem built in {s.build_s:.0f} s)" if s.build_s else ""
    print(f"{emulate.NAME}: running on {s.host}:{s.port} (sshd pid {s.pid}){built}")
    print(f"try: devbench doctor --target {emulate.NAME}")
    return 0
