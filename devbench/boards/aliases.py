"""Hosts of ``~/.ssh/config`` work as targets: ``--target jetson`` where the config has ``Host jetson``.

Such a target is made as ``devbench board add`` makes one (probe the board, then
:func:`~devbench.boards.add.describe`), only kept in memory: the board kind its name suggests
(``jetson`` -> jetson-orin-nano, ``pi`` / ``raspberrypi`` -> pi4) fills what the probe cannot
tell, and what the probe found wins where it contradicts the kind. A board behind ``jetson`` with
no Tegra GPU gets a CPU target rather than CUDA code it cannot run; a board whose /proc/cpuinfo
names its core gets that core. Where no probe can run (an unknown host key, a board that is off),
the kind's built-in defaults are taken as they are. Either way one line on stderr says what was
assumed and how to pin it with ``board add``, which also spares the probe on every run.
"""

from __future__ import annotations

import logging
from pathlib import Path

import paramiko

from devbench.boards.add import BoardRequest, as_default, describe, kind_target, probe_board
from devbench.errors import DevbenchError
from devbench.targets import SSHConfig, Target
from devbench.transports.ssh import resolve_endpoint

log = logging.getLogger(__name__)

#: targets already made in this process, by (name, config file, its text): one probe per run
_resolved: dict[tuple[str, str, str], Target] = {}


def config_path() -> Path:
    return Path.home() / ".ssh" / "config"


def config_hosts(path: Path | None = None) -> list[str]:
    """The hosts named literally in the config's ``Host`` lines (a pattern such as ``*`` names no board)."""
    path = path or config_path()
    if not path.is_file():
        return []
    try:
        config = paramiko.SSHConfig.from_path(str(path))
    except Exception as e:  # a malformed user file: say which
        raise DevbenchError(f"cannot read {path}: {e}") from None
    return sorted(h for h in config.get_hostnames() if not set(h) & set("*?!"))


def alias_target(name: str) -> Target | None:
    """The target of ``Host name`` in ``~/.ssh/config``, or None when the config has no such host."""
    path = config_path()
    if name not in config_hosts(path):
        return None
    key = (name, str(path), path.read_text())
    if key in _resolved:
        return _resolved[key]
    request = BoardRequest(name, name)
    # a mistake in the Host block itself (a Port that is no port) is the user's to fix there, not a
    # board that "could not be probed" and gets a kind's defaults
    resolve_endpoint(name, SSHConfig(host=name), path)
    kind = kind_target(request)
    source = f"{path} (Host {name})"
    pin = f"pin it: devbench board add {name} --host {name}"
    try:
        board = describe(request, probe_board(request), kind)
    except DevbenchError as e:
        if kind is None:
            raise DevbenchError(
                f"target {name} is Host {name} in {path}, but devbench could not probe it ({e}); "
                f"add it: devbench board add {name} --host {name} --like KIND --trust-new-host"
            ) from None
        target = as_default(kind, name, name, source)
        note = (f"target {name} is Host {name} of {path} with the built-in {kind.name} defaults as they are, "
                f"since the board could not be probed ({e}); {pin} --trust-new-host")
    else:
        target = board.target(source)
        defaults = f"the {kind.name} defaults where the board could not tell" if kind else "no board kind assumed"
        showed = "; ".join([*board.assumed, *(["emulated (qemu-user)"] if target.emulated else []),
                            f"backends {', '.join(target.backends)}"])
        note = f"target {name} is Host {name} of {path} with {defaults} ({showed}); {pin}"
    log.info("%s", note)
    _resolved[key] = target
    return target
