"""Networks as data: ``ArchSpec`` -> ``nn.Module``, exact counts, and a registry of named networks.

Importing this package imports every module in it, and a family module's one ``register_family``
call (:mod:`devbench.models.families`) is its registration: a new family is one new module here and
nothing else (wrn, resnet and densenet_bc are registered that way).
"""

import importlib
import pkgutil

from devbench.models.build import build_model
from devbench.models.counts import count_macs, count_params
from devbench.models.densenet import densenet_bc_spec
from devbench.models.families import Family, get_family, register_family
from devbench.models.layers import ChannelGate, PrunableBlock, blocks, gates
from devbench.models.registry import create_model, get_spec, list_models, load_weights, register_model, resolve
from devbench.models.resnet import resnet_spec
from devbench.models.spec import ArchSpec
from devbench.models.wrn import wrn_spec

__all__ = [
    "ArchSpec",
    "ChannelGate",
    "Family",
    "PrunableBlock",
    "blocks",
    "build_model",
    "count_macs",
    "count_params",
    "create_model",
    "densenet_bc_spec",
    "gates",
    "get_family",
    "get_spec",
    "list_models",
    "load_weights",
    "register_family",
    "register_model",
    "resnet_spec",
    "resolve",
    "wrn_spec",
]

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
