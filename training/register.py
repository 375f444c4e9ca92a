"""Publish a finished run or prune stage (spec + weights) under a model name in a spec folder.

The registry names every ``X.json`` in ``models/specs`` the model ``X`` with weights ``X.pt`` beside
it, so registering a network is writing that pair: the spec renamed (its provenance kept in ``meta``)
and the run's weights, checked to fit. This replaces hand-editing the JSON after ``devbench prune``
or ``devbench train``; into any other folder it is a plain export that ``--model DIR/X.json`` reads.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

from devbench.errors import DevbenchError
from devbench.models import registry
from devbench.training import rundir

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")
#: run metrics copied into the registered spec's ``meta["trained"]``, so the figures travel with it
PROVENANCE = ("dataset", "test_error", "test_subset", "train_subset", "epochs", "method", "prunes")


def register_network(source: str | Path, name: str, to: str | Path | None = None, force: bool = False
                     ) -> tuple[Path, Path]:
    """Write ``<to>/<name>.json`` and ``<to>/<name>.pt`` from the run or stage directory ``source``.

    ``to`` defaults to the registry's spec folder. Refuses a name a built-in network already has
    (the built-in would shadow the file) and, unless ``force``, an existing file. Both files appear
    by atomic renames, the weights first, so a half-written pair never looks registered.
    """
    if not _NAME.match(name) or name.endswith(".json"):
        raise DevbenchError(f"model name {name!r} must be letters, digits, '_', '.', '-' (starting with a letter)")
    if name in registry.list_models() and not (registry.SPEC_DIR / f"{name}.json").is_file():
        raise DevbenchError(f"{name!r} is a built-in network name; choose another")
    folder = Path(to) if to is not None else registry.SPEC_DIR
    if folder.exists() and not folder.is_dir():
        raise DevbenchError(f"--to {folder} is a file, not a folder; name a folder (made if missing)")
    run = rundir.load_run(source)  # checks that the weights fit the spec
    spec_path, weights_path = folder / f"{name}.json", folder / f"{name}.pt"
    existing = [p for p in (spec_path, weights_path) if p.exists()]
    if existing and not force:
        raise DevbenchError(f"{existing[0]} already exists; pass --force to replace it")
    trained = {k: run.metrics[k] for k in PROVENANCE if run.metrics.get(k) is not None}
    spec = replace(run.spec, name=name, meta={**run.spec.meta, "trained": trained, "source": str(source)})

    tmp_weights, tmp_spec = (p.with_name(p.name + ".tmp") for p in (weights_path, spec_path))
    try:  # a parent that is a file, /proc, a read-only folder: only trying tells, so say it in one line
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run.path / rundir.WEIGHTS, tmp_weights)
    except OSError as e:
        raise DevbenchError(f"--to {folder}: cannot write there ({e.strerror})") from None
    spec.save(tmp_spec)
    os.replace(tmp_weights, weights_path)
    os.replace(tmp_spec, spec_path)
    return spec_path, weights_path
