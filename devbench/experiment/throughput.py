"""This machine's training throughput, measured, for :func:`devbench.experiment.plan.make_plan`'s estimates.

The plan's assumed figures (:data:`devbench.experiment.plan.MACS_PER_S`) are one CPU's and one GPU's,
but MAC/s differ by family (DenseNet-BC's thin concatenated layers reach half of ResNet's here), so a few
timed SGD steps of each of a recipe's base networks, with the thread count a worker will use, replace
them: a couple of seconds per network.
"""

from __future__ import annotations

import time

import torch

from devbench.experiment.plan import fitted_spec
from devbench.experiment.recipe import Recipe
from devbench.models import ArchSpec, build_model, count_macs
from devbench.training.loop import TrainConfig, sgd_step

#: the largest batch timed: throughput per image has levelled off by then, and a big network's steps stay short
MAX_BATCH = 32


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


def measure_recipe(recipe: Recipe, device: str = "cpu", threads: int = 1) -> dict[str, float]:
    """The training MAC/s of each of ``recipe``'s base networks on ``device`` with ``threads`` torch
    threads (a worker's count), shaped for the recipe's dataset."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rates = {}
        for net in recipe.network:
            spec = fitted_spec(recipe, net.base)
            batch = TrainConfig(batch_size=net.training.batch_size, schedule=net.training.schedule).resolve(spec)[2]
            rates[net.base] = measure_macs_per_s(spec, device, batch_size=min(batch, MAX_BATCH), steps=2)
        return rates
    finally:
        torch.set_num_threads(before)
