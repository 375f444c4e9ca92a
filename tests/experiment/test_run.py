"""``devbench experiment``: stages chosen, stored and resumed; the engine path on a real dask cluster;
the shipped smoke recipe end to end, killed half way and continued without redoing finished stages."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devbench.errors import DevbenchError
from devbench.experiment.plan import make_plan
from devbench.experiment.recipe import load_recipe, shipped_recipes
from devbench.experiment.run import LOCK, STAGE_JSON, is_done, pick_pruned, select, stage_dir
from tests.conftest import REPO, run_cli

#: one seed, one budget, a few hundred images: every kind of training stage in well under a minute
TINY = """\
name = "tiny"
seeds = [3]

[training]
epochs = 1
batch_size = 32
train_subset = 256
test_subset = 200

[pruning]
prune_every = 1
batch_size = 32
train_subset = 256

[[network]]
base = "resnet8"
prunes = 6
save_every = 3
stages = [6]
reduced = ["bottleneck"]
scratch = true
family = true
"""


def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_only_selects_matching_stages_and_what_they_read(tmp_path: Path) -> None:
    plan = make_plan(load_recipe(tiny(tmp_path)), device="cpu")
    assert [s.name for s in select(plan)] == [s.name for s in plan.stages]
    chosen = [s.name for s in select(plan, ["*/reduced_bottleneck"])]
    assert chosen == ["resnet8/seed3/base", "resnet8/seed3/prune_fisher", "resnet8/seed3/stage0006/reduced_bottleneck"]
    assert [s.name for s in select(plan, ["resnet8/seed3/base"])] == ["resnet8/seed3/base"]
    assert len(select(plan, ["resnet8"])) == len(plan.stages)  # a prefix up to a '/'
    with pytest.raises(DevbenchError, match="matches no stage"):
        select(plan, ["resnet2"])


def test_pick_pruned_is_the_first_saved_stage_within_the_budget(tmp_path: Path) -> None:
    stages = [{"stage": f"stage_{p:04d}", "prunes": p, "params": n, "macs": 10 * n, "test_error": 0.1}
              for p, n in ((10, 900), (20, 800), (30, 700))]
    (tmp_path / "metrics.json").write_text(json.dumps({"stages": stages}))
    assert pick_pruned(tmp_path, {"params": 850}).path == tmp_path / "stage_0020"
    assert pick_pruned(tmp_path, {"params": 700}).params == 700
    assert pick_pruned(tmp_path, {"stage": 10}).params == 900
    with pytest.raises(DevbenchError, match="smallest has 700 params"):
        pick_pruned(tmp_path, {"params": 650})


@pytest.mark.parametrize("name", shipped_recipes())
def test_dry_run_of_each_shipped_recipe_prints_its_plan(name: str) -> None:
    r = run_cli("experiment", name, "--dry-run", "--device", "cpu", timeout=120)
    assert r.returncode == 0, r.stderr
    plan = make_plan(load_recipe(name), device="cpu")
    counts = plan.counts()
    runs = sum(counts[k] for k in ("base", "reduced", "scratch", "family"))
    assert f"{runs} training runs, {counts['prune']} pruning runs" in r.stdout
    assert f"{len(plan.stages)} stages" in r.stdout


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    cases = [
        (["experiment", "no_such_recipe", "--out", str(tmp_path / "o")], "no recipe"),
        (["experiment", str(tiny(tmp_path))], "--out DIR is required"),
        (["experiment", str(tiny(tmp_path)), "--dry-run", "--only", "vgg"], "matches no stage"),
        (["experiment", str(tiny(tmp_path)), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"],
         "cannot reach the dask scheduler"),
    ]
    busy = tmp_path / "busy"
    busy.mkdir()
    cases += [
        (["experiment", "cifar10_paper", "--out", str(tmp_path / "c10")], "CIFAR10 needs --data-dir"),
        (["experiment", str(tiny(tmp_path)), "--out", str(busy)], f"{busy} is in use by another devbench "
                                                                   f"experiment (pid {os.getpid()})"),
    ]
    with (busy / LOCK).open("w") as lock:  # another run in progress holds the folder's lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(str(os.getpid()))
        lock.flush()
        for args, message in cases:
            r = run_cli(*args, timeout=120)
            assert r.returncode == 2, (args, r.stderr)
            assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "c10").exists() and {p.name for p in busy.iterdir()} == {LOCK}  # nothing started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_dask_cluster_on_loopback_runs_every_training_stage(tmp_path: Path) -> None:
    """A real ``dask scheduler`` and ``dask worker`` on 127.0.0.1, reached by --scheduler."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        time.sleep(3)
        procs.append(subprocess.Popen([bin_dir / "dask", "worker", address, "--nthreads", "1", "--nworkers", "2",
                                       "--no-dashboard", "--host", "127.0.0.1"], env=env, cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        out = tmp_path / "exp"
        r = run_cli("experiment", str(tiny(tmp_path)), "--out", str(out), "--scheduler", address, "-q", timeout=600)
        assert r.returncode == 0, r.stderr
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(timeout=30)
    plan = make_plan(load_recipe(tiny(tmp_path)), device="cpu")
    assert all(is_done(out, s) for s in plan.stages)
    # the workers, not this test's process, did the training: each stage records its own pid-free
    # result and the run directories load as models
    for s in plan.stages:
        assert json.loads((stage_dir(out, s) / STAGE_JSON).read_text())["key"] == s.key
    rows = json.loads((out / "results.json").read_text())["networks"]
    assert {r["arm"] for r in rows} == {"base", "pruned", "reduced_bottleneck", "scratch", "family"}
    assert all(0 <= r["test_error"] <= 1 and r["test_images"] == 200 for r in rows)


@pytest.mark.slow
def test_smoke_end_to_end_interrupted_and_resumed(tmp_path: Path) -> None:
    """The README's promise: Ctrl-C half way, run again, nothing finished is redone, and the report
    names each claim with a verdict; results.csv has errors and latencies; the figures exist."""
    out = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "devbench", "experiment", "smoke", "--out", str(out), "-q"]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    plan = make_plan(load_recipe("smoke"), device="cpu")
    deadline = time.monotonic() + 300
    while sum(is_done(out, s) for s in plan.stages) < 4 and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    stopping = time.monotonic()
    _, err = first.communicate(timeout=120)
    stopped_s = time.monotonic() - stopping
    assert first.returncode == 130, err
    assert "Traceback" not in err and "leaked" not in err, err  # workers killed, nothing left registered
    assert stopped_s < 5, f"Ctrl-C took {stopped_s:.1f} s to stop the run"  # 1.1 s here, mid-training
    done = {s.name: (stage_dir(out, s) / STAGE_JSON).read_text() for s in plan.stages if is_done(out, s)}
    assert 4 <= len(done) < len(plan.stages)
    dry = run_cli("experiment", "smoke", "--out", str(out), "--dry-run", "--format", "json")
    assert {s["name"] for s in json.loads(dry.stdout)["stages"] if s["stored"]} == set(done), dry.stderr

    second = subprocess.run([*cmd[:-1], "--format", "json"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr
    verdicts = json.loads(second.stdout)["verdicts"]
    assert set(verdicts) == {"reduced_beats_pruned", "scratch_competitive", "reduced_faster"}
    assert all(v["verdict"] in ("supported", "not supported", "inconclusive") and v["why"] for v in verdicts.values())
    assert f"{len(done)} stages done, {len(plan.stages) - len(done)} to run" in second.stderr
    for name, record in done.items():  # untouched: not retrained, not even rewritten
        assert (stage_dir(out, plan[name]) / STAGE_JSON).read_text() == record
    assert all(is_done(out, s) for s in plan.stages)

    report = (out / "report.md").read_text()
    for number in ("1.", "2.", "3."):
        line = next(x for x in report.splitlines() if x.startswith(f"| {number} "))
        assert any(f"**{v}**" in line for v in ("supported", "not supported", "inconclusive")), line
    import csv

    rows = list(csv.DictReader((out / "results.csv").open()))
    assert {r["arm"] for r in rows} >= {"base", "pruned", "reduced_bottleneck", "scratch", "family"}
    assert all(0 <= float(r["test_error"]) <= 1 for r in rows)
    timed = [r for r in rows if r["local/onnxruntime median_ms"]]
    assert timed and all(float(r["local/onnxruntime median_ms"]) > 0 for r in timed)
    for fig in ("error_vs_params", "latency_vs_params", "error_vs_latency"):
        for suffix in (".png", ".svg"):
            assert (out / f"{fig}{suffix}").stat().st_size > 1000
    assert "Unfinished" not in report
