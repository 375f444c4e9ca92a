"""Named networks, timm-style: ``@register_model`` functions that return an :class:`ArchSpec`.

Names (see models/README.md): ``wrn_{depth}_{k}``, ``resnet{depth}``, ``densenet_bc_{depth}[_k{growth}]``,
any name + ``_b{mult}`` for a uniform bottleneck multiplier, every ``models/specs/*.json`` under its
file stem, and any path ending in ``.json``.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import pickle
import re
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from devbench.errors import DevbenchError
from devbench.models.build import build_model
from devbench.models.spec import MAX_WIDTH, ArchSpec

SpecFn = Callable[[], ArchSpec]
_MODELS: dict[str, SpecFn] = {}

#: spec files shipped with devbench; each ``X.json`` is the model ``X`` (weights: ``X.pt`` beside it)
SPEC_DIR = Path(__file__).parent / "specs"
#: the bottleneck multipliers ``list_models`` shows for every registered name (any other parses too)
LISTED_BOTTLENECKS = (0.25, 0.5, 0.75)
_BOTTLENECK_SUFFIX = re.compile(r"^(?P<base>.+)_b(?P<mult>\d+(?:\.\d+)?)$")


def register_model(fn: SpecFn | None = None, *, name: str | None = None):
    """Register a spec function under ``name`` (default: the function's name).

    Used as ``@register_model`` or, for generated names, ``register_model(partial(...), name=...)``.
    """

    def deco(f: SpecFn) -> SpecFn:
        key = name or f.__name__
        if key in _MODELS:
            raise ValueError(f"model {key!r} is already registered")
        _MODELS[key] = f
        return f

    return deco(fn) if fn is not None else deco


def scale_inner(spec: ArchSpec, mult: float, name: str = "") -> ArchSpec:
    """Every inner width times ``mult``, rounded half up, at least 1 (a removed block stays removed)."""
    if not 0 < mult <= MAX_WIDTH:  # also refuses NaN, and inf (whose product cannot be rounded)
        raise DevbenchError(f"bottleneck multiplier must be in (0, {MAX_WIDTH}], got {mult}")
    inner = [[max(1, math.floor(w * mult + 0.5)) if w else 0 for w in s] for s in spec.inner]
    return spec.with_inner(inner, name=name)


def _spec_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SPEC_DIR.glob("*.json"))}


#: the spec file of a training run directory (``devbench.training.rundir.SPEC``; models does not
#: import training)
RUN_SPEC = "spec.json"


def _is_file(path: Path) -> bool:
    """``path.is_file()`` that is simply False for names no file system takes (too long, NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _weights_beside(path: Path) -> Path | None:
    """``X.pt`` beside ``X.json``, else ``weights.pt`` in the same folder. Something else under one
    of those names (a folder) is an error: taken for "no weights", a trained network would be timed
    and checked with random ones without a word."""
    for candidate in (path.with_suffix(".pt"), path.parent / "weights.pt"):
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise DevbenchError(f"{candidate} is not a weights file (a network's weights are a file beside its spec)")
    return None


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names (each followed by its listed ``_b`` variants), then shipped spec files."""
    names: list[str] = []
    for base in _MODELS:
        names.append(base)
        names += [f"{base}_b{m:g}" for m in LISTED_BOTTLENECKS]
    names += [stem for stem in _spec_files() if stem not in _MODELS]
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def _lookup(name: str) -> tuple[ArchSpec, Path | None] | None:
    if name in _MODELS:
        return replace(_MODELS[name](), name=name), None
    files = _spec_files()
    if name in files:
        return ArchSpec.load(files[name]), _weights_beside(files[name])
    m = _BOTTLENECK_SUFFIX.match(name)
    if m:
        found = _lookup(m["base"])
        if found:
            return scale_inner(found[0], float(m["mult"]), name=name), None
    return None


def resolve(name_or_path: str | Path) -> tuple[ArchSpec, Path | None]:
    """The spec for a name, a ``.json`` path or a training run (or pruning stage) directory, and
    its weights file (a state_dict) when one exists. A run's spec is named after its directory, so
    ``runs/reduced_a`` and ``runs/reduced_b`` stay two networks in every table.

    A ``_b`` variant never has weights: they would not fit its narrower convs.
    """
    text = str(name_or_path)
    if text.endswith(".json"):
        path = Path(text)
        return ArchSpec.load(path), _weights_beside(path)
    run_spec = Path(text) / RUN_SPEC
    if _is_file(run_spec):
        return replace(ArchSpec.load(run_spec), name=run_spec.parent.name), _weights_beside(run_spec)
    found = _lookup(text)
    if found is None:
        close = difflib.get_close_matches(text, list_models(), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise DevbenchError(f"unknown model {text!r}{hint} (`devbench models` lists them all)")
    return found


def get_spec(name_or_path: str | Path) -> ArchSpec:
    """The :class:`ArchSpec` of a registered name, a ``_b`` variant, a shipped spec or a ``.json`` path."""
    return resolve(name_or_path)[0]


def create_model(name_or_path: str | Path, weights: bool = True) -> nn.Module:
    """Build the network; load its weights file when one exists and ``weights`` is true."""
    spec, weights_path = resolve(name_or_path)
    model = build_model(spec)
    if weights and weights_path is not None:
        load_weights(model, weights_path, spec)
    return model


def read_torch_file(path: Path, what: str) -> Any:
    """``torch.load`` that never runs code: tensors and plain Python values only (``weights_only``).

    Weights and checkpoints come from other people's runs; a pickle naming any other global (as a
    crafted file calling ``os.system`` would) is refused, and every way of not being a torch file is
    the one-line error of a bad input.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols on stderr: not one line
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        raise DevbenchError(f"cannot read {what} {path}: {e.strerror or e}") from None
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line or "global" in line]
        why = f" ({lines[-1].rstrip('.')})" if lines else ""
        raise DevbenchError(f"{path}: refused: a {what} file may hold only tensors and plain values{why}") from None
    except Exception as e:  # torch.load raises EOFError, KeyError, RuntimeError... for files not written by torch.save
        # a RuntimeError says what is wrong with the archive in its first sentence; the others say nothing useful
        why = str(e).split(". ")[0].strip() if isinstance(e, RuntimeError) else type(e).__name__
        raise DevbenchError(f"{path} is not a {what} file written by torch.save ({_one_line(why)})") from None


def load_weights(model: nn.Module, path: Path, spec: ArchSpec) -> None:
    """Load a state_dict file; anything else, or one that belongs to another spec, is a one-line error."""
    state = read_torch_file(path, "weights")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise DevbenchError(f"{path} is not a state_dict (a dict of parameter names to tensors)")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise DevbenchError(f"{path}: weights do not fit spec {spec.name!r}: {_one_line(str(e))}") from None


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters: torch's messages span many lines."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
