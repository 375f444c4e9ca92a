"""Transports by name (the target's ``transport`` field): local, ssh, rpc.

Each is imported only when a target needs it, so a local run never loads paramiko.
"""

from __future__ import annotations

import importlib

from devbench.errors import DevbenchError
from devbench.targets import Target
from devbench.transports.base import BoardJob, Transport

#: transport name -> "module:class"
TRANSPORTS = {
    "local": "devbench.transports.local:LocalTransport",
    "ssh": "devbench.transports.ssh:SSHTransport",
    "rpc": "devbench.transports.rpc:RPCTransport",
}


def open_transport(target: Target, trust_new_host: bool = False) -> Transport:
    """A transport for ``target``. ``trust_new_host`` accepts an SSH board's key on first contact."""
    if target.transport not in TRANSPORTS:
        raise DevbenchError(f"target {target.name}: unknown transport {target.transport!r}")
    module_name, _, cls_name = TRANSPORTS[target.transport].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(target, trust_new_host=trust_new_host)


__all__ = ["BoardJob", "Transport", "open_transport", "TRANSPORTS"]
