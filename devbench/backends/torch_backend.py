"""PyTorch eager, the reference stack: the network as an exported program (``.pt2``).

``torch.export`` gives a file the board loads with nothing but torch, without devbench's model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from devbench.backends.base import CompileRequest
from devbench.backends.example_input import example_input


class TorchBackend:
    name = "torch"
    runtime_module = "torch"
    artifact_name = "model.pt2"

    def version_key(self, request: CompileRequest) -> str:
        return f"torch={torch.__version__}"

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        program = torch.export.export(request.module.eval(), (example_input(request),))
        torch.export.save(program, str(out_dir / self.artifact_name))
        return {}
