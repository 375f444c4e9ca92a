"""Tuning writes the target's database; a second network of the family reuses its kernels and seeds new ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from devbench.backends.base import CompileRequest
from devbench.backends.tvm_backend import TVMBackend
from devbench.models import get_spec
from devbench.targets import get_target
from devbench.tuning import tune
from devbench.tuning.database import RECORDS, WORKLOADS, database_dir
from devbench.tuning.transfer import CANDIDATES


def member(extra: bool) -> nn.Module:
    """A tiny 'family': the second member has the first one's convs plus one new, wider conv."""
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    if extra:
        layers += [nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers).eval()


@pytest.mark.slow
def test_second_family_member_reuses_tuned_kernels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path))
    target = get_target("local", threads=2)
    first = tune(member(False), target, trials=4, input_shape=(3, 8, 8), search_strategy="replay-trace",
                 verbose=False)
    db = database_dir(target)
    assert db == tmp_path / "tuning" / "local"
    assert (db / WORKLOADS).stat().st_size > 0 and (db / RECORDS).stat().st_size > 0
    assert first.reused == 0 and first.tuned == first.tasks and first.trials > 0

    second = tune(member(True), target, trials=4, input_shape=(3, 8, 8), search_strategy="replay-trace",
                  verbose=False)
    assert second.tasks == first.tasks + 1
    assert second.reused == first.tasks
    # the new, wider conv starts from the narrower one's schedule: a few candidates, no search
    assert second.transferred == 1 and second.tuned == 0 and 0 < second.trials <= CANDIDATES
    assert len(second.best_us) == 1 and all(us > 0 for us in second.best_us.values())

    searched = tune(member(True), target, trials=4, input_shape=(3, 8, 8), search_strategy="replay-trace",
                    verbose=False, database_dir=tmp_path / "no-transfer", transfer=False)
    assert searched.transferred == 0 and searched.tuned == searched.tasks

    again = tune(member(False), target, trials=4, input_shape=(3, 8, 8), search_strategy="replay-trace",
                 verbose=False, retune=True)  # more trials on kernels the database already has
    assert again.reused == 0 and again.tuned == first.tasks and again.trials > 0

    # A later compile picks the database up by itself and says so.
    torch.manual_seed(0)
    spec = replace(get_spec("wrn_10_1"), input_shape=(3, 8, 8))  # only its input shape is used here
    meta = TVMBackend().compile(CompileRequest(spec, member(True), target), tmp_path / "art")
    assert meta["tuned"] is True and meta["trials"] >= second.trials
    assert meta["tuned_kernels"] == second.tasks  # the seeded kernel's record is applied too


@pytest.mark.slow
def test_time_budget_stops_after_the_batch_in_flight(tmp_path: Path) -> None:
    target = get_target("local", threads=2)
    report = tune(member(True), target, trials=1000, input_shape=(3, 8, 8), search_strategy="replay-trace",
                  verbose=False, database_dir=tmp_path, time_budget_min=0.001)
    assert report.stopped_early
    assert 0 < report.trials < 1000  # the first batch was measured and kept, the rest not started
    assert (database_dir(target, tmp_path) / RECORDS).stat().st_size > 0
