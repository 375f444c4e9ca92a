"""Shared fixtures: a tiny WRN trained for a few steps on the synthetic dataset."""

from __future__ import annotations

import pytest
import torch

from devbench.models import ArchSpec, wrn_spec
from devbench.training import TrainConfig, load_dataset, train


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Tiny convs run several times faster on one thread than on two contended ones; restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synthetic():
    return load_dataset("synthetic")


def tiny_wrn(**kw) -> ArchSpec:
    """WRN-16-1 narrowed: 2 blocks per stage, a few channels each, on 3x16x16 inputs."""
    spec = wrn_spec(16, 1, input_shape=(3, 16, 16))
    return spec.with_flat_widths([4, 4, 6, 6, 8, 8], name=kw.get("name", "tiny_wrn"))


@pytest.fixture(scope="session")
def tiny_run(synthetic, tmp_path_factory):
    """A finished run directory (2 quick epochs on synthetic data)."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, train_subset=256)
    return train(tiny_wrn(), synthetic, out, cfg, progress=False)
