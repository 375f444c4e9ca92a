"""Transports by name (the target's ``transport`` field): local, ssh, rpc.

Each is imported only when a target needs it, so a local run never loads paramiko.
"""

from __future__ import annotations

import importlib
from typing import Any

from devbench.errors import DevbenchError
from devbench.targets import Target
from devbench.transports.base import BoardJob, Transport

#: transport name -> "module:class"
TRANSPORTS = {
    "local": "devbench.transports.local:LocalTransport",
    "ssh": "devbench.transports.ssh:SSHTransport",
    "rpc": "devbench.transports.rpc:RPCTransport",
}


def open_transport(target: Target, **options: Any) -> Transport:
    """A connected transport for ``target``; ``options`` go to its constructor (e.g. trust_new_host)."""
    if target.transport not in TRANSPORTS:
        raise DevbenchError(f"target {target.name}: unknown transport {target.transport!r}")
    module_name, _, cls_name = TRANSPORTS[target.transport].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(target, **options)


__all__ = ["BoardJob", "Transport", "open_transport", "TRANSPORTS"]
