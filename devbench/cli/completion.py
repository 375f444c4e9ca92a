"""``devbench completion SHELL``: the shell completion script, generated from devbench's own parser.

shtab writes it from the argparse parser, so every verb and option completes without a hand-kept list,
and nothing of devbench runs at completion time (a static script, not a Python call per keystroke).
"""

from __future__ import annotations

import argparse

HELP = "print a shell completion script: eval \"$(devbench completion bash)\" (or zsh, tcsh)"
SHELLS = ("bash", "zsh", "tcsh")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    p.epilog = ("bash: add `eval \"$(devbench completion bash)\"` to ~/.bashrc; zsh: `devbench completion zsh > "
                "~/.zfunc/_devbench` with ~/.zfunc on fpath")


def run(args: argparse.Namespace) -> int:
    import shtab

    from devbench.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return 0
