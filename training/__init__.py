"""Training half of devbench: spec + data -> trained, pruned, reduced and family networks (specs + weights).

Every piece can be called from a notebook without the CLI; the ``devbench train/prune/family/reduce``
and ``register`` verbs are thin wrappers around :func:`train`, :func:`prune`, :func:`family`,
:func:`reduce` and :func:`register_network`.
"""

from devbench.training.checks import check_device
from devbench.training.compress import compress
from devbench.training.criteria import CRITERIA, L1, Criterion, Fisher, Random, get_criterion
from devbench.training.data import DATASETS, Batches, Dataset, Split, load_dataset, normalisation
from devbench.training.family import FAMILY_RULES, family, family_member
from devbench.training.loop import TrainConfig, evaluate, train
from devbench.training.prune import PruneConfig, PruneEvent, Pruner, prune
from devbench.training.reduce import reduce
from devbench.training.register import register_network
from devbench.training.rundir import Run, load_run
from devbench.training.schedules import SCHEDULES, Schedule, get_schedule, schedule_for

__all__ = [
    "CRITERIA", "DATASETS", "FAMILY_RULES", "SCHEDULES", "Batches", "Criterion", "Dataset", "Fisher",
    "L1", "PruneConfig", "PruneEvent", "Pruner", "Random", "Run", "Schedule", "Split", "TrainConfig", "check_device",
    "compress", "evaluate", "family", "family_member", "get_criterion", "get_schedule", "load_dataset", "load_run",
    "normalisation", "prune", "reduce", "register_network", "schedule_for", "train",
]
