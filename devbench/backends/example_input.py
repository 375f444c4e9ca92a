"""The example input every backend traces with: the spec's shape at the requested batch."""

from __future__ import annotations

import torch

from devbench.backends.base import CompileRequest


def example_input(request: CompileRequest) -> torch.Tensor:
    return torch.zeros((request.batch, *request.spec.input_shape), dtype=torch.float32)
