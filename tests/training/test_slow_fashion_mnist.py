"""End to end on real data: train a small WRN on Fashion-MNIST, Fisher-prune it, retrain the pruned
architecture from scratch; every network must be far better than chance (90% error)."""

import json
from pathlib import Path

import pytest

from devbench.models import ArchSpec, count_params, wrn_spec
from devbench.training import PruneConfig, TrainConfig, load_dataset, load_run, prune, train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing"),
]


def test_train_prune_retrain_on_fashion_mnist(tmp_path):
    data = load_dataset("fashion_mnist")
    cfg = TrainConfig(epochs=3, batch_size=64, lr=0.05, train_subset=6000, test_subset=1000)
    base = train(wrn_spec(10, 1, input_shape=(1, 28, 28)), data, tmp_path / "base", cfg, progress=False)
    base_err = json.loads((base / "metrics.json").read_text())["test_error"]
    assert base_err < 0.35

    pruned = prune(load_run(base), data, tmp_path / "pruned",
                   PruneConfig(prune_every=3, prunes=40, save_every=20, batch_size=32, train_subset=2500,
                               test_subset=1000), progress=False)
    stage = pruned / "stage_0040"
    spec = ArchSpec.load(stage / "spec.json")
    assert sum(spec.widths) == 112 - 40 and count_params(spec) < count_params(load_run(base).spec)
    assert json.loads((stage / "metrics.json").read_text())["test_error"] < 0.45

    scratch = train(spec, data, tmp_path / "scratch", cfg, progress=False)
    assert json.loads((scratch / "metrics.json").read_text())["test_error"] < 0.4
