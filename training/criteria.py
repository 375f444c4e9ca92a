"""Pruning criteria as small objects (Torch-Pruning style): each says how salient every channel is.

A criterion sees the network through its prunable blocks (``conv1``/``bn_inner``/``gate``/``conv2``)
and, when ``needs_gradients`` is set, through ``observe(i, a, g)`` calls the pruner makes with the
activation ``a`` at gate ``i`` and its gradient ``g``. ``scores`` returns one tensor per block in
``spec.widths`` order (empty for a zero-width block); the pruner removes the lowest alive channel.
A new criterion is one class plus one line in :data:`CRITERIA`.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from devbench.errors import DevbenchError
from devbench.models import PrunableBlock


class Criterion:
    """Base: no state, no gradients needed."""

    name: ClassVar[str]
    needs_gradients: ClassVar[bool] = False

    def observe(self, index: int, a: torch.Tensor, g: torch.Tensor) -> None:
        """Called on every training step for gate ``index`` (only when ``needs_gradients``)."""

    def scores(self, blocks: list[PrunableBlock]) -> list[torch.Tensor]:
        raise NotImplementedError

    def reset(self) -> None:
        """Called after every prune: accumulated evidence belongs to the network before it."""


class Fisher(Criterion):
    """Theis et al. 2018: per channel k, saliency += ½ · mean over the batch of (Σ_hw a·g)².

    ``a`` is the activation at the gate and ``g`` the gradient of the (batch-mean) loss with respect
    to it; the estimate accumulates over every step since the last prune.
    """

    name = "fisher"
    needs_gradients = True

    def __init__(self) -> None:
        self.acc: dict[int, torch.Tensor] = {}

    def observe(self, index: int, a: torch.Tensor, g: torch.Tensor) -> None:
        delta = (a * g).sum((2, 3)).pow(2).mean(0).mul(0.5)
        if index in self.acc:
            self.acc[index] += delta
        else:
            self.acc[index] = delta

    def scores(self, blocks: list[PrunableBlock]) -> list[torch.Tensor]:
        out = []
        for i, b in enumerate(blocks):
            acc = self.acc.get(i)
            out.append(acc.detach().clone() if acc is not None else torch.zeros(b.inner))
        return out

    def reset(self) -> None:
        self.acc = {}


class L1(Criterion):
    """Li et al. 2017: the L1 norm of each channel's ``conv1`` filter, with the absolute value."""

    name = "l1"

    def scores(self, blocks: list[PrunableBlock]) -> list[torch.Tensor]:
        return [b.conv1.weight.detach().abs().sum((1, 2, 3)) if b.inner else torch.zeros(0) for b in blocks]


class Random(Criterion):
    """Uniform random saliencies (seeded): the baseline every criterion must beat."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def scores(self, blocks: list[PrunableBlock]) -> list[torch.Tensor]:
        return [torch.rand(b.inner, generator=self.generator) for b in blocks]


CRITERIA: dict[str, type[Criterion]] = {c.name: c for c in (Fisher, L1, Random)}


def get_criterion(name: str, seed: int = 0) -> Criterion:
    if name not in CRITERIA:
        raise DevbenchError(f"unknown pruning method {name!r} (known: {', '.join(CRITERIA)})")
    cls = CRITERIA[name]
    return cls(seed) if cls is Random else cls()
