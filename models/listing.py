"""The table behind ``devbench models``: every registered name with its exact counts."""

from __future__ import annotations

from typing import Any

from devbench.models.counts import count_macs, count_params
from devbench.models.registry import get_spec, list_models


def model_table(pattern: str | None = None) -> list[dict[str, Any]]:
    rows = []
    for name in list_models(pattern):
        spec = get_spec(name)
        rows.append({
            "name": name,
            "family": spec.family,
            "params": count_params(spec),
            "macs": count_macs(spec),
            "input": "x".join(str(d) for d in spec.input_shape),
            "classes": spec.num_classes,
        })
    return rows
