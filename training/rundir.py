"""Run directories: written under ``<out>.partial`` and renamed into place only when complete.

A run directory holds ``spec.json`` (the architecture), ``weights.pt`` (a state_dict), ``metrics.json``
and, for training, ``history.csv``. Because the final name appears only by an atomic rename, a
directory called ``<out>`` is always complete; an interrupted run leaves ``<out>.partial`` (with its
checkpoint, so ``--resume`` can continue) and nothing that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from devbench.errors import DevbenchError
from devbench.models import ArchSpec, build_model, count_macs, count_params, load_weights

SPEC, WEIGHTS, METRICS, HISTORY, CHECKPOINT = "spec.json", "weights.pt", "metrics.json", "history.csv", "checkpoint.pt"


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def check_out(out: Path) -> None:
    """Refuse ``out`` (and its ``.partial`` beside it) before any work: a finished run is never
    overwritten, and a file or a folder that cannot be made is said as such, not as a run."""
    if out.is_dir():
        finished = (out / SPEC).is_file() or (out / METRICS).is_file()  # a trained network, or a prune's stages
        what = "a finished run" if finished else "a directory that is not a run"
        raise DevbenchError(f"{out} already exists ({what}); choose another --out or remove it")
    if out.exists() or out.is_symlink():
        raise DevbenchError(f"{out} is a file, not a run directory; choose another --out")
    work = partial_dir(out)
    if (work.exists() or work.is_symlink()) and not work.is_dir():
        raise DevbenchError(f"{work} is a file, not the unfinished run directory of {out}; remove it or choose "
                            "another --out")
    parent = next((p for p in out.absolute().parents if p.exists()), None)
    if parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK)):
        raise DevbenchError(f"cannot make {out}: {parent} is not a directory devbench can write in; "
                            "choose another --out")


def start(out: str | Path, resume: bool = False) -> Path:
    """The ``.partial`` working directory for ``out``; refuses to overwrite a finished run."""
    out = Path(out)
    check_out(out)
    work = partial_dir(out)
    if work.exists() and not resume:
        shutil.rmtree(work)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # what access() cannot foresee: a read-only file system, /proc
        raise DevbenchError(f"cannot make {work}: {e.strerror}; choose another --out") from None
    return work


def finish(work: Path) -> Path:
    """Atomically publish a completed ``.partial`` directory under its final name."""
    final = work.with_name(work.name.removesuffix(".partial"))
    (work / CHECKPOINT).unlink(missing_ok=True)
    os.replace(work, final)
    return final


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def save_torch(path: Path, obj: Any) -> None:
    """``torch.save`` through a temp file, so a killed process never leaves a truncated checkpoint."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def size_metrics(spec: ArchSpec) -> dict[str, int]:
    """Exact parameter and multiply-accumulate counts of one forward pass (batch 1)."""
    return {"params": count_params(spec), "macs": count_macs(spec)}


def write_network(work: Path, spec: ArchSpec, model: nn.Module, metrics: dict[str, Any]) -> None:
    """Write the spec, its weights and its metrics (with exact params and MACs) into ``work``."""
    spec.save(work / SPEC)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_torch(work / WEIGHTS, state)
    write_json(work / METRICS, {"name": spec.name, **size_metrics(spec), **metrics})


@dataclass
class Run:
    """A finished run directory, loaded: its spec, a model with its weights, and its metrics."""

    path: Path
    spec: ArchSpec
    model: nn.Module
    metrics: dict[str, Any]


def load_run(path: str | Path) -> Run:
    """Load a run directory written by ``devbench train`` or ``devbench prune`` (one saved stage)."""
    path = Path(path)
    if not (path / SPEC).is_file() or not (path / WEIGHTS).is_file():
        hint = " (an unfinished run: continue it with --resume)" if partial_dir(path).exists() else ""
        raise DevbenchError(f"{path} is not a finished run directory (needs {SPEC} and {WEIGHTS}){hint}")
    spec = ArchSpec.load(path / SPEC)
    model = build_model(spec)
    load_weights(model, path / WEIGHTS, spec)
    metrics = json.loads((path / METRICS).read_text()) if (path / METRICS).is_file() else {}
    return Run(path, spec, model, metrics)


