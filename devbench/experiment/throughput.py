"""This machine's training throughput, measured, for :func:`devbench.experiment.plan.make_plan`'s estimates.

The plan's assumed figures (:data:`devbench.experiment.plan.MACS_PER_S`) are one CPU's and one GPU's;
a few timed SGD steps of a recipe's own network on this machine replace them when asked (the
``--dry-run`` of a later session), at the cost of a few seconds.
"""

from __future__ import annotations

import time

import torch

from devbench.models import ArchSpec, build_model, count_macs
from devbench.training.loop import sgd_step


def measure_macs_per_s(spec: ArchSpec, device: str = "cpu", batch_size: int = 32, steps: int = 3) -> float:
    """Multiply-accumulates per second of training ``spec`` (a step counted as 3 forward passes)."""
    torch.manual_seed(0)
    model = build_model(spec).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch_size, *spec.input_shape, device=device)
    y = torch.randint(0, spec.num_classes, (batch_size,), device=device)
    sgd_step(model, opt, x, y)  # warm-up: allocations and kernel choice are not throughput
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        sgd_step(model, opt, x, y)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 3 * count_macs(spec) * batch_size * steps / (time.perf_counter() - start)
