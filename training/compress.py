"""Masked network -> a physically smaller dense network: the spec of what survived, plus its weights.

Pruning only zeroes channels through masks; the speed-up the paper measures needs the channels gone.
For every prunable block the kept channels are sliced out of ``conv1`` (output filters), ``bn_inner``
and ``conv2`` (input channels); every other tensor is copied by name. A block whose mask is all zero
gets inner width 0. For the pre-activation WRN its branch then adds exactly zero and the block is its
shortcut; a post-activation ResNet branch ends in ``bn2``, which adds the per-channel constant
``bn2(0)`` even when fully masked, so the zero-width ResNet block keeps ``bn2`` (copied by name here)
and stays bit-exact, running statistics included. DenseNet-BC widths never reach 0. Where channels
are sliced out of a conv the result matches to float rounding only (a shorter sum, in another order).
"""

from __future__ import annotations

import torch
from torch import nn

from devbench.models import ArchSpec, blocks, build_model


def keep_indices(masks: list[torch.Tensor]) -> list[torch.Tensor]:
    """The surviving channel indices of every block (sorted, on CPU)."""
    return [m.detach().cpu().nonzero().flatten() for m in masks]


@torch.no_grad()
def compress(model: nn.Module, spec: ArchSpec, masks: list[torch.Tensor], name: str = "") -> tuple[ArchSpec, nn.Module]:
    """The dense equivalent of ``model`` with ``masks`` (one 0/1 tensor per block in ``spec.widths`` order)."""
    if len(masks) != len(spec.widths):
        raise ValueError(f"{len(masks)} masks for {len(spec.widths)} blocks")
    keep = keep_indices(masks)
    small_spec = spec.with_flat_widths([len(k) for k in keep], name=name or spec.name)
    small = build_model(small_spec)

    module_names = {id(m): n for n, m in model.named_modules()}
    slices: dict[str, tuple[int, torch.Tensor]] = {}
    for block, idx in zip(blocks(model), keep, strict=True):
        if not block.inner:
            continue
        prefix = module_names[id(block)]
        for part, dim in (("conv1", 0), ("bn_inner", 0), ("conv2", 1)):
            for key, tensor in getattr(block, part).state_dict().items():
                if tensor.dim() > dim and tensor.shape[dim] == block.inner:
                    slices[f"{prefix}.{part}.{key}"] = (dim, idx)

    old = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    state = {}
    for key in small.state_dict():
        tensor = old[key]
        if key in slices:
            dim, idx = slices[key]
            tensor = tensor.index_select(dim, idx)
        state[key] = tensor.clone()
    small.load_state_dict(state)  # strict: any shape the slicing missed is a bug and raises here
    return small_spec, small
