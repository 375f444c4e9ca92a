"""The pruning loop end to end on synthetic data, and its bad-input errors through the CLI."""

import json

import pytest
import torch

from devbench.cli import main
from devbench.models import ArchSpec, count_params
from devbench.training import Criterion, PruneConfig, load_run, prune


def test_prune_writes_compressed_stages_and_history(synthetic, tiny_run, tmp_path):
    run = load_run(tiny_run)
    out = prune(run, synthetic, tmp_path / "p", PruneConfig(method="fisher", prune_every=2, prunes=6, save_every=3),
                progress=False)
    history = json.loads((out / "prune_history.json").read_text())
    assert [e["prune"] for e in history] == list(range(1, 7))
    assert [e["step"] for e in history] == list(range(2, 13, 2))
    stages = sorted(p.name for p in out.glob("stage_*"))
    assert stages == ["stage_0003", "stage_0006"]
    last = ArchSpec.load(out / "stage_0006" / "spec.json")
    assert sum(last.widths) == sum(run.spec.widths) - 6
    metrics = json.loads((out / "stage_0006" / "metrics.json").read_text())
    assert metrics["params"] == count_params(last) < count_params(run.spec)
    removed = [0] * len(run.spec.widths)
    for e in history:
        removed[e["block"]] += 1
    assert [w - r for w, r in zip(run.spec.widths, removed, strict=True)] == last.widths
    stage = load_run(out / "stage_0006")  # loads: the weights fit the compressed spec
    assert stage.model(torch.zeros(1, *last.input_shape)).shape == (1, 10)


class LastChannelFirst(Criterion):
    """A notebook's own criterion: the highest channel index of the widest block is the least salient."""

    name = "last_channel_first"

    def scores(self, blocks):
        widest = max(range(len(blocks)), key=lambda i: blocks[i].inner)
        return [-torch.arange(b.inner, dtype=torch.float) if i == widest else torch.full((b.inner,), 1e9)
                for i, b in enumerate(blocks)]


def test_prune_takes_a_criterion_object(synthetic, tiny_run, tmp_path):
    run = load_run(tiny_run)
    out = prune(run, synthetic, tmp_path / "p", PruneConfig(prune_every=1, prunes=2, save_every=2), progress=False,
                criterion=LastChannelFirst())
    history = json.loads((out / "prune_history.json").read_text())
    widest = max(range(len(run.spec.widths)), key=lambda i: run.spec.widths[i])
    assert [(e["block"], e["channel"]) for e in history] == [(widest, run.spec.widths[widest] - 1),
                                                              (widest, run.spec.widths[widest] - 2)]
    assert json.loads((out / "metrics.json").read_text())["method"] == "last_channel_first"


def test_too_many_prunes_is_exit_2_and_leaves_nothing(tiny_run, tmp_path, capsys):
    out = tmp_path / "p"
    code = main(["prune", "--from", str(tiny_run), "--prunes", "1000", "--out", str(out), "--no-progress"])
    assert code == 2
    assert "more than the 36 prunable channels" in capsys.readouterr().err
    assert not out.exists() and not out.with_name("p.partial").exists()


def test_unknown_dataset_is_exit_2(tmp_path, capsys):
    assert main(["train", "--model", "wrn_10_1", "--dataset", "imagenet", "--out", str(tmp_path / "r")]) == 2
    assert "unknown dataset" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["l1", "random"])
def test_other_methods_run(synthetic, tiny_run, tmp_path, method):
    out = prune(load_run(tiny_run), synthetic, tmp_path / method,
                PruneConfig(method=method, prune_every=1, prunes=2, save_every=2), progress=False)
    assert (out / "stage_0002" / "weights.pt").is_file()
