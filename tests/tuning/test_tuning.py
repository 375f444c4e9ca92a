"""Tuning writes the target's database; a second network of the family reuses its kernels and seeds new ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
import torch
from torch import nn

from devbench.backends.base import CompileRequest
from devbench.backends.tvm_backend import TVMBackend
from devbench.backends.tvm_conv_template import VARIANTS
from devbench.errors import DevbenchError
from devbench.models import get_spec
from devbench.targets import get_target
from devbench.tuning import TuneReport, tune
from devbench.tuning.database import RECORDS, WORKLOADS, database_dir, open_database_at
from devbench.tuning.transfer import CANDIDATES
from tests.conftest import REPO, run_cli


def member(extra: bool, width: int = 8) -> nn.Module:
    """A tiny 'family': the second member has the first one's convs plus one new, wider conv.

    Width 8 takes the blocked conv layout (8 divides into a vector); width 37 has no block and
    keeps NCHW, where MetaSchedule's generic schedules are tuned.
    """
    layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
    if extra:
        layers += [nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers).eval()


def _tune(network: nn.Module, root: Path | None = None, **kw: object) -> TuneReport:
    return tune(network, get_target("local", threads=2), trials=4, input_shape=(3, 8, 8),
                search_strategy="replay-trace", verbose=False, database_dir=root, **kw)


@pytest.mark.slow
def test_family_member_reuses_kernels_and_seeds_new_convs_from_the_template(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path))
    target = get_target("local", threads=2)
    first = _tune(member(False))
    db = database_dir(target)
    assert db == tmp_path / "tuning" / "local"
    assert (db / WORKLOADS).stat().st_size > 0 and (db / RECORDS).stat().st_size > 0
    assert first.reused == 0 and first.seeded == 2 and first.seeded + first.tuned == first.tasks  # 2 convs

    second = _tune(member(True))
    assert second.reused >= 2  # both convs of the first member
    # the new, wider conv gets the template's variants measured: a few trials, no search
    new_convs = [name for name in second.best_us if "conv2d_NCHWc" in name]
    assert len(new_convs) == 1 and new_convs[0] not in second.task_names and second.best_us[new_convs[0]] > 0
    assert second.seeded >= 1 and second.trials <= len(VARIANTS) + 4

    # more trials on kernels the database already has: the template's variants again, then a search
    again = _tune(member(False), retune=True)
    assert again.reused == 0 and again.seeded == 2 and again.tuned == first.tasks and again.trials > 0

    # A later compile picks the database up by itself and says so.
    torch.manual_seed(0)
    spec = replace(get_spec("wrn_10_1"), input_shape=(3, 8, 8))  # only its input shape is used here
    meta = TVMBackend().compile(CompileRequest(spec, member(True), target), tmp_path / "art")
    assert meta["tuned"] is True and meta["trials"] >= second.trials
    assert meta["tuned_kernels"] == second.tasks  # the seeded kernels' records are applied too


@pytest.mark.slow
def test_new_nchw_conv_is_seeded_from_a_tuned_neighbour(tmp_path: Path) -> None:
    first = _tune(member(False, width=37), tmp_path)
    assert first.seeded == 0 and first.tuned == first.tasks  # nothing to seed from: searched
    second = _tune(member(True, width=37), tmp_path)
    assert second.reused == first.tasks
    # the new conv starts from the narrower one's schedule, refitted: a few candidates, no search
    assert second.seeded == 1 and second.tuned == 0 and 0 < second.trials <= CANDIDATES
    again = _tune(member(True, width=37), tmp_path)  # nothing new: no builder or runner started, no trials
    assert again.reused == again.tasks and again.seeded == again.tuned == again.trials == 0

    searched = _tune(member(True, width=37), tmp_path / "no-seed", seed=False)
    assert searched.seeded == 0 and searched.tuned == searched.tasks


@pytest.mark.slow
def test_time_budget_stops_after_the_batch_in_flight(tmp_path: Path) -> None:
    target = get_target("local", threads=2)
    report = tune(member(True, width=37), target, trials=1000, input_shape=(3, 8, 8),
                  search_strategy="replay-trace", verbose=False, database_dir=tmp_path, time_budget_min=0.001)
    assert report.stopped_early
    assert 0 < report.trials < 1000  # the first batch was measured and kept, the rest not started
    assert (database_dir(target, tmp_path) / RECORDS).stat().st_size > 0


@pytest.mark.slow
def test_the_cli_tunes_a_family_in_one_call() -> None:
    """`tune --model a,b`: one report per network, in order; the second reuses the first's kernels."""
    r = run_cli("tune", "--model", "resnet8,resnet8", "--trials", "1", "--format", "json", timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    first, second = json.loads(r.stdout)
    assert first["model"] == second["model"] == "resnet8"
    assert first["seeded"] > 0 and first["trials"] > 0
    # every kernel the first measured (--trials 1: its seeded convs only) is reused, none seeded again;
    # the kernels the first left unmeasured get the one trial --trials gives each network
    assert second["reused"] == first["seeded"] and second["seeded"] == 0 and second["trials"] == 1


@pytest.mark.slow
def test_ctrl_c_while_a_family_tunes_its_second_network_stops_within_two_seconds(tmp_path: Path) -> None:
    """Ctrl-C while `tune --model a,b` measures b's new convs, on the runner a started: MetaSchedule
    calls devbench's code from C++, where a KeyboardInterrupt had crashed the process, come out as a
    RuntimeError or been swallowed (the tuning went on to exit 0)."""
    proc = subprocess.Popen([sys.executable, "-m", "devbench", "tune", "--model", "resnet8,resnet8_b0.5",
                             "--trials", "1"], cwd=REPO, env={**os.environ, "DEVBENCH_CACHE_DIR": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # printed when the first network is done
    assert first.startswith("tuned resnet8 for local"), proc.communicate()[1][-2000:]
    time.sleep(3)  # the second network's new convs are being built and timed
    assert proc.poll() is None, "the second network was done before the signal"
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    proc.wait(timeout=30)
    stopped_s = time.monotonic() - t0
    err = proc.stderr.read()
    assert proc.returncode == 130 and "devbench: interrupted" in err and "Traceback" not in err, err[-2000:]
    assert stopped_s < 2.0
    assert workers and not psutil.wait_procs(workers, timeout=2)[1]  # killed ones may take a moment to go

    db = tmp_path / "tuning" / "local"
    kept = len(open_database_at(db).get_all_tuning_records())
    assert kept > 0  # the first network's records, and the second's batches measured before the signal
    # the watchdog may end the process while MetaSchedule appends a line; the next tune still opens it
    whole = (db / RECORDS).read_bytes()
    (db / RECORDS).write_bytes(whole + whole.splitlines(keepends=True)[-1][:100])
    assert len(open_database_at(db).get_all_tuning_records()) == kept


def test_a_cuda_target_tunes_only_where_its_gpu_is(tmp_path: Path) -> None:
    """Tuning a CUDA target on a machine without its GPU failed every candidate for minutes and then
    reported success ("kernels sum to ~0.00 ms"); it is a one-line error before anything is built."""
    from devbench.board.protocol import no_gpu_reason
    from devbench.board.runner import cuda_gpus

    if no_gpu_reason(cuda_gpus()) is None:
        pytest.skip("this machine has a CUDA GPU")
    t0 = time.monotonic()
    r = run_cli("tune", "--targets-file", "benchmarks/gpu-sm90.toml", "--target", "gpu-sm90", "--model", "resnet8",
                env={"DEVBENCH_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr[-2000:]
    assert "gpu-sm90 tunes on this machine's GPU" in r.stderr and time.monotonic() - t0 < 30
    assert not (tmp_path / "tuning" / "gpu-sm90").exists()


@pytest.mark.slow
def test_a_tuning_where_no_candidate_runs_is_an_error_that_says_why(tmp_path: Path) -> None:
    """Every candidate failing (here: aarch64 code linked by the host's x86 linker) is a broken board,
    not a tuning: the error names the failure instead of reporting a network of ~0 ms."""
    board = replace(get_target("local", threads=2), name="wrong-isa",
                    tvm_target={"kind": "llvm", "mtriple": "aarch64-linux-gnu"})
    with pytest.raises(DevbenchError, match=r"none of the 1 candidates .* ran on wrong-isa: .*Relocations in generic"):
        tune(member(False), board, trials=1, seed=False, input_shape=(3, 8, 8), search_strategy="replay-trace",
             verbose=False, database_dir=tmp_path)
