"""What a real run could only fail on hours later is refused by ``--dry-run`` (and by a run) up front:
an unknown latency target, more prunes than the base has channels, a subset larger than its split,
more local workers than cores, a GPU this machine does not have. And the estimate adds the latency
stages after the training, as the run does."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from devbench.errors import DevbenchError
from devbench.experiment.plan import make_plan
from devbench.experiment.recipe import load_recipe
from devbench.experiment.run import Engine
from tests.conftest import run_cli

RECIPE = """\
name = "checked"
seeds = [0, 1]

[training]
epochs = 1
train_subset = 500
test_subset = 500

[latency]
targets = ["local"]
backends = ["onnxruntime"]
rounds = 6

[[network]]
base = "resnet8"
prunes = 40
save_every = 20
stages = [20, 40]
family = true
"""


def write(tmp_path: Path, text: str = RECIPE) -> Path:
    path = tmp_path / "checked.toml"
    path.write_text(text)
    return path


def one_line_error(*args: str) -> str:
    r = run_cli(*args, timeout=180)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_an_unknown_latency_target_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, RECIPE.replace('targets = ["local"]', 'targets = ["local", "nosuch"]'))
    with pytest.raises(DevbenchError, match=r"checked\.toml:10: latency\.targets: unknown target 'nosuch'; "
                                            r".*known targets: .*local.*pi4"):
        load_recipe(path)
    assert "unknown target 'nosuch'" in one_line_error("experiment", str(path), "--dry-run", "--device", "cpu")


def test_latency_targets_resolve_as_run_target_does_without_reaching_a_board(tmp_path: Path, monkeypatch) -> None:
    """A user target file's name and a ``~/.ssh/config`` host are targets; the host is not probed (this one
    refuses connections, so a probe would make an error)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "config").write_text("Host myboard\n  HostName 127.0.0.1\n  Port 9\n")
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "mine.toml").write_text('name = "mybox"\n')
    monkeypatch.setenv("DEVBENCH_TARGETS_DIR", str(targets))
    recipe = load_recipe(write(tmp_path, RECIPE.replace('["local"]', '["mybox", "myboard"]')))
    assert recipe.latency.targets == ["mybox", "myboard"]


def test_more_prunes_than_channels_is_refused_as_devbench_prune_refuses_it(tmp_path: Path) -> None:
    from devbench.models import build_model, get_spec
    from devbench.training.criteria import get_criterion
    from devbench.training.prune import Pruner

    spec = get_spec("resnet8")
    pruner = Pruner(build_model(spec), spec, get_criterion("fisher"))
    channels = pruner.prunable()  # what `devbench prune --prunes` is checked against
    pruner.remove()
    path = write(tmp_path, RECIPE.replace("prunes = 40", "prunes = 100000"))
    with pytest.raises(DevbenchError, match=rf"checked\.toml:16: network\[0\]\.prunes: more than the {channels} "
                                            r"prunable channels of 'resnet8', got 100000"):
        load_recipe(path)
    at_most = RECIPE.replace("prunes = 40", f"prunes = {channels}").replace("stages = [20, 40]", "stages = [20]")
    assert load_recipe(write(tmp_path, at_most)).network[0].prunes == channels


@pytest.mark.parametrize(("change", "expected"), [
    (("test_subset = 500", "test_subset = 99999999"),
     r"checked\.toml:7: training\.test_subset: fashion_mnist's test set has 10000 images, got 99999999"),
    (("family = true", "family = true\n[network.training]\ntrain_subset = 60001"),
     r"checked\.toml:21: network\[0\]\.training\.train_subset: fashion_mnist's training set has 60000 images"),
    (("[latency]", "[pruning]\ntrain_subset = 70000\n\n[latency]"), r"checked\.toml:10: pruning\.train_subset"),
])
def test_a_subset_larger_than_its_split_is_refused_where_it_is_written(tmp_path: Path, change, expected) -> None:
    with pytest.raises(DevbenchError, match=expected):
        load_recipe(write(tmp_path, RECIPE.replace(*change)))
    whole = RECIPE.replace("test_subset = 500", "test_subset = 10000")  # the whole test set is fine
    assert load_recipe(write(tmp_path, whole)).network[0].training.test_subset == 10_000


def test_latency_stages_are_estimated_after_the_training_one_after_another(tmp_path: Path) -> None:
    p = make_plan(load_recipe(write(tmp_path)), device="cpu", macs_per_s={"resnet8": 1e10})
    latency = [s for s in p.stages if s.kind == "latency"]
    assert len(latency) == 2
    training = [s for s in p.stages if s.kind != "latency"]
    many = replace(p, workers=1000)  # training as parallel as its chains allow; the timings still one by one
    chain = max(p[f"resnet8/seed{seed}/base"].seconds + p[f"resnet8/seed{seed}/prune_fisher"].seconds
                + max(s.seconds for s in training if s.seed == seed and s.kind not in ("base", "prune"))
                for seed in (0, 1))
    assert many.seconds_left() == pytest.approx(chain + sum(s.seconds for s in latency))
    two = replace(p, workers=2)
    parallel = max(sum(s.seconds for s in training) / 2, chain)
    assert two.seconds_left() == pytest.approx(parallel + sum(s.seconds for s in latency))
    assert f"{_minutes(two.seconds_left())} on 2 parallel workers" in two.describe()


def _minutes(seconds: float) -> str:
    from devbench.experiment.plan import format_seconds

    return format_seconds(seconds)


def test_workers_are_bounded(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(DevbenchError, match=f"--workers {cores + 1} is more than the {cores} cores"):
        Engine.default("cpu", cores + 1)
    assert Engine.default("cpu", cores).workers == cores
    assert Engine.default("cpu", cores + 1, scheduler="tcp://127.0.0.1:9").workers == cores + 1  # not this machine's
    assert "at most 4096" in one_line_error("experiment", str(write(tmp_path)), "--dry-run", "--workers", "100000")
    assert f"is more than the {cores} cores" in one_line_error("experiment", str(write(tmp_path)), "--dry-run",
                                                                "--device", "cpu", "--workers", str(cores + 1))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(tmp_path: Path) -> None:
    words = "--device 'cuda': this machine has no CUDA GPU"
    assert words in one_line_error("experiment", "smoke", "--dry-run", "--device", "cuda")
    assert words in one_line_error("experiment", "smoke", "--device", "cuda", "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
