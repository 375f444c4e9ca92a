"""devbench: is a pruned network really faster than one simply built smaller? Measure it on your boards.

The verbs are functions too, for a notebook::

    import devbench
    rows = devbench.run_matrix(["pruned_resnet", "reduced_resnet"], backends=["onnxruntime"])
    comparisons, rows = devbench.compare(["pruned_resnet", "reduced_resnet"])
    fig = devbench.plot_latency(rows)

Names are imported on first use (PEP 562), so ``import devbench`` and ``devbench --version`` do not
load torch or TVM.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_API = {
    "MeasureSettings": "devbench.bench",
    "run_matrix": "devbench.bench",
    "compile_artifacts": "devbench.bench",
    "compare": "devbench.compare",
    "Comparison": "devbench.compare",
    "profile_models": "devbench.profile",
    "ResultStore": "devbench.results",
    "ResultRow": "devbench.results",
    "render": "devbench.report",
    "plot_latency": "devbench.plots",
    "write_figures": "devbench.plots",
    "get_target": "devbench.targets",
    "get_spec": "devbench.models",
    "list_models": "devbench.models",
    "create_model": "devbench.models",
    "train": "devbench.training",
    "prune": "devbench.training",
    "reduce": "devbench.training",
    "family": "devbench.training",
    "tune": "devbench.tuning.tune",
    "load_recipe": "devbench.experiment",
    "make_plan": "devbench.experiment",
    "run_experiment": "devbench.experiment.run",
    "doctor": "devbench.doctor",
    "DevbenchError": "devbench.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'devbench' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
