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


def start(out: str | Path, resume: bool = False) -> Path:
    """The ``.partial`` working directory for ``out``; refuses to overwrite a finished run."""
    out = Path(out)
    if out.exists():
        raise DevbenchError(f"{out} already exists (a finished run); choose another --out or remove it")
    work = partial_dir(out)
    if work.exists() and not resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
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


