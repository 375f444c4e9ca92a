"""Settings a user types, checked before a run directory or a model exists.

torch finds a bad device or learning rate only when the model is moved or the optimizer is made,
as a ``RuntimeError`` or ``ValueError`` deep in its own code, after ``train`` has made its
``.partial`` directory; these checks say the same in one line, naming the value and what is
allowed, before anything is written. :func:`check_device` is the one any verb with ``--device``
calls (``train``, ``prune``, the experiment's throughput measurement).
"""

from __future__ import annotations

import math

import torch

from devbench.errors import DevbenchError

#: the device types devbench trains on; torch parses more (``meta``, ``xla``...), none of which trains here
DEVICE_TYPES = ("cpu", "cuda", "mps")
ALLOWED = "cpu, cuda, cuda:N or mps"


def check_device(device: str | None) -> torch.device:
    """``device`` as a torch device that exists on this machine (``None``: cuda when there is one,
    else cpu). A string torch cannot parse, a type devbench does not train on, and a GPU this
    machine lacks are each one :class:`DevbenchError`."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        parsed = None
    if parsed is None or parsed.type not in DEVICE_TYPES:
        raise DevbenchError(f"--device {device!r} is not a device devbench trains on; use {ALLOWED}")
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DevbenchError(f"--device {device!r}: this machine has no CUDA GPU that torch can use; "
                                "use --device cpu")
        if parsed.index is not None and parsed.index >= count:
            raise DevbenchError(f"--device {device!r}: this machine has {count} CUDA GPU(s), "
                                f"cuda:0 to cuda:{count - 1}")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise DevbenchError(f"--device {device!r}: this machine has no Apple GPU (MPS); use --device cpu")
    return parsed


def check_positive(name: str, value: float | None) -> None:
    """A learning rate (or any rate that must move something): a finite number above 0, or unset.
    0 is refused too, since ``lr or default`` would silently turn it into the recipe's value."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise DevbenchError(f"{name} {value!r} is not allowed: it must be a finite number above 0")


def check_non_negative(name: str, value: float | None) -> None:
    """A weight decay: a finite number of at least 0, or unset (the recipe's)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise DevbenchError(f"{name} {value!r} is not allowed: it must be a finite number of at least 0")


def check_count(name: str, value: int | None) -> None:
    """Epochs, batch sizes, subsets, prune counts: a whole number of at least 1, or unset."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise DevbenchError(f"{name} {value!r} is not allowed: it must be a whole number of at least 1")
