"""Is the deployed network still the network? Compare a board's output with PyTorch's.

A compiler that is fast but wrong would make every latency meaningless, so every measurement
carries this check: the largest absolute difference of the logits, and whether the arg-max class
agrees for every item of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Default tolerance on logits. float32 reassociation across backends stays well below this on the
#: registered networks; a wrong layout or a dropped layer is far above it. It is absolute for logits
#: up to 1 in magnitude and scales with the largest logit beyond that: float32 rounding grows with
#: the values, and deep networks with random weights reach logits of 1e5 (densenet_bc_100: 7e5,
#: where the last bit alone is 0.06).
DEFAULT_ATOL = 1e-3


@dataclass(frozen=True)
class CheckResult:
    max_abs_err: float
    top1_agreement: float
    passed: bool
    atol: float


def compare_outputs(reference: np.ndarray, deployed: np.ndarray, atol: float = DEFAULT_ATOL) -> CheckResult:
    """Compare logits of the same input; a shape mismatch fails the check outright."""
    ref = np.asarray(reference, dtype=np.float32)
    out = np.asarray(deployed, dtype=np.float32)
    if ref.shape != out.shape:
        return CheckResult(max_abs_err=float("inf"), top1_agreement=0.0, passed=False, atol=atol)
    err = float(np.max(np.abs(ref - out))) if ref.size else 0.0
    if not np.isfinite(out).all():
        err = float("inf")
    flat_ref = ref.reshape(ref.shape[0], -1)
    flat_out = out.reshape(out.shape[0], -1)
    agree = float(np.mean(flat_ref.argmax(axis=1) == flat_out.argmax(axis=1)))
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    return CheckResult(max_abs_err=err, top1_agreement=agree, passed=err <= atol * scale and agree == 1.0, atol=atol)
