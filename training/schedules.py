"""SGD recipes as small registered objects, so a new recipe is one entry and not another if-branch.

Milestones are stored as fractions of the full run, so ``--epochs`` shortens a recipe without
changing its shape (WRN: ×0.2 at 60/120/160 of 200 epochs stays ×0.2 at 30/60/80% of any length).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from devbench.errors import DevbenchError
from devbench.models.families import get_family


@dataclass(frozen=True)
class Schedule:
    """Base training: SGD with momentum and step decay; fine-tuning (pruning) uses ``prune_lr`` constant."""

    name: str
    lr: float
    epochs: int
    milestones: tuple[float, ...]  # fractions of ``epochs`` at which the lr is multiplied by ``gamma``
    gamma: float
    weight_decay: float
    batch_size: int
    prune_lr: float
    momentum: float = 0.9

    def milestone_epochs(self, epochs: int) -> list[int]:
        """The decay epochs for a run of ``epochs`` epochs (scaled, at least 1, strictly increasing)."""
        out: list[int] = []
        for f in self.milestones:
            m = max(1, round(f * epochs))
            if m < epochs and (not out or m > out[-1]):
                out.append(m)
        return out

    def scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.MultiStepLR:
        """torch's step decay at this recipe's milestones scaled to ``epochs``; stepped once per epoch,
        and checkpointed with the optimizer, so a resumed run continues the same schedule."""
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, self.milestone_epochs(epochs), self.gamma)

    def optimizer(self, params, lr: float, weight_decay: float | None = None) -> torch.optim.SGD:
        wd = self.weight_decay if weight_decay is None else weight_decay
        return torch.optim.SGD(params, lr=lr, momentum=self.momentum, weight_decay=wd)


SCHEDULES: dict[str, Schedule] = {
    s.name: s
    for s in (
        Schedule("wrn", lr=0.1, epochs=200, milestones=(0.3, 0.6, 0.8), gamma=0.2, weight_decay=5e-4,
                 batch_size=128, prune_lr=8e-4),
        Schedule("densenet", lr=0.1, epochs=300, milestones=(0.5, 0.75), gamma=0.1, weight_decay=1e-4,
                 batch_size=64, prune_lr=1e-3),
    )
}

def get_schedule(name: str) -> Schedule:
    if name not in SCHEDULES:
        raise DevbenchError(f"unknown schedule {name!r} (known: {', '.join(sorted(SCHEDULES))})")
    return SCHEDULES[name]


def schedule_for(family: str) -> Schedule:
    """The default recipe of a model family, as its registration names it (the paper's, per family)."""
    return get_schedule(get_family(family).schedule)
