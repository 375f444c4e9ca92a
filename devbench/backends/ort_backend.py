"""ONNX Runtime, the baseline backend: PyTorch -> ONNX (torch.onnx's dynamo exporter) -> one .onnx file.

ONNX Runtime applies its own graph optimisations (conv+BN folding, fusion) when the session is
created on the board, so the exported graph is left as PyTorch wrote it.
"""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import onnx
import torch

from devbench.backends.base import CompileRequest
from devbench.backends.example_input import example_input

OPSET = 18


class ONNXRuntimeBackend:
    name = "onnxruntime"
    runtime_module = "onnxruntime"
    artifact_name = "model.onnx"

    def version_key(self, request: CompileRequest) -> str:
        return f"torch={torch.__version__};onnx={onnx.__version__};opset={OPSET}"

    def compile(self, request: CompileRequest, out_dir: Path) -> dict[str, Any]:
        path = out_dir / self.artifact_name
        module = request.module.eval()
        # The exporter prints progress lines and deprecation warnings a user cannot act on.
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (example_input(request),), dynamo=True, opset_version=OPSET,
                                        input_names=["input"], output_names=["logits"], verbose=False)
            program.save(str(path))
        onnx.checker.check_model(str(path))
        return {"opset": OPSET}
