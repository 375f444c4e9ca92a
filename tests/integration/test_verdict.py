"""The verdict, as a user gets it: ``devbench compare`` on the real local stack, a board that
sends back impossible numbers, and Ctrl-C in the middle of a run."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from devbench.bench import MeasureSettings, make_jobs, run_jobs
from devbench.results import ResultStore
from devbench.targets import get_target
from devbench.transports import local as local_transport
from tests.conftest import REPO, has_ended, run_cli

QUICK = ["--repeats", "5", "--warmup", "1", "--min-time", "0"]


@pytest.mark.slow
def test_compare_prints_ratio_ci_and_verdict_as_json(tmp_path: Path) -> None:
    db = tmp_path / "results.sqlite"
    proc = run_cli("compare", "--model", "pruned_resnet,reduced_resnet", "--backend", "onnxruntime",
                   "--rounds", "6", *QUICK, "--format", "json", env={"DEVBENCH_DB": str(db)})
    assert proc.returncode == 0, proc.stderr
    (c,) = json.loads(proc.stdout)
    assert {"model", "baseline", "target", "backend", "ratio", "ratio_ci_low", "ratio_ci_high", "rounds",
            "verdict"} <= set(c)
    assert (c["model"], c["baseline"], c["target"], c["backend"], c["rounds"]) == (
        "reduced_resnet", "pruned_resnet", "local", "onnxruntime", 6)
    assert c["ratio_ci_low"] <= c["ratio"] <= c["ratio_ci_high"]
    assert c["verdict"] in ("faster", "slower", "same", "unstable")
    # the ratio is the median of the per-round ratios of the rows it stored, recomputed here from them
    # (not the ratio of the two medians: on a busy machine those two estimators can differ by 30 %)
    rows = {r.model: r for r in ResultStore(db).rows()}
    per_round = [m / b for m, b in zip(rows["reduced_resnet"].round_medians_ms,
                                       rows["pruned_resnet"].round_medians_ms, strict=True)]
    assert len(per_round) == 6 and c["ratio"] == pytest.approx(statistics.median(per_round), rel=1e-9)
    assert (c["median_ms"], c["baseline_median_ms"]) == (rows["reduced_resnet"].median_ms,
                                                         rows["pruned_resnet"].median_ms)
    assert c["test_error"] is not None and c["params"] > 0  # the shipped networks carry their test error


def test_compare_needs_two_distinct_models() -> None:
    for models, says in (("pruned_resnet", "compare needs at least two models"),
                         ("pruned_resnet,pruned_resnet", "model 'pruned_resnet' is named twice")):
        proc = run_cli("compare", "--model", models, "--backend", "onnxruntime")
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert proc.stderr.startswith(f"devbench: error: {says}")


class GarbageTransport(local_transport.LocalTransport):
    """A real local board whose answers are then corrupted, as a broken board script would send them."""

    corrupt: dict[str, Any] | list[Any] = {}

    def run(self, job):  # type: ignore[no-untyped-def]
        return self.corrupt if isinstance(self.corrupt, list) else {**super().run(job), **self.corrupt}


@pytest.mark.parametrize("corrupt", [
    {"samples_ms": [float("nan")] * 5}, {"samples_ms": [-1.0] * 5}, {"samples_ms": [0.0] * 5},
    {"samples_ms": []}, {"output": [[1.0, 2.0]]}, {"load_s": float("inf")}, {"environment": "x"}, [1, 2],
])
def test_impossible_measurements_become_error_rows_never_ok(corrupt: dict[str, Any] | list[Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GarbageTransport, "corrupt", corrupt)
    monkeypatch.setitem(sys.modules["devbench.transports"].TRANSPORTS, "local",
                        f"{__name__}:GarbageTransport")
    jobs = make_jobs(["resnet8"], [get_target("local")], ["onnxruntime"],
                     MeasureSettings(repeats=5, warmup=1, min_time_s=0.0, rounds=1))
    store = ResultStore(tmp_path / "r.sqlite")
    try:
        run_jobs(jobs, store, progress=False)
        (row,) = store.rows(latest_only=False)
        assert row.status == "error" and row.median_ms is None, row
        assert store.done_job_ids() == set()  # --resume measures it again
    finally:
        store.close()


def _cmdline(proc: psutil.Process) -> str:
    """A child's command line, or '' for one that has just exited (a zombie has none to read)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_run_within_two_seconds_and_stores_nothing_half_measured(sig: int, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    env = {**os.environ, "DEVBENCH_DB": str(db)}
    proc = subprocess.Popen([sys.executable, "-m", "devbench", "run", "--model", "resnet8", "--backend",
                             "onnxruntime", "--rounds", "50", "--format", "json"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 120
    while not any("runner.py" in _cmdline(c) for c in parent.children(recursive=True)):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never reached its board"
        time.sleep(0.1)
    runners = parent.children(recursive=True)
    os.kill(proc.pid, sig)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert json.loads(out) == []  # the table of what finished: nothing did
    assert all(has_ended(p.pid) for p in runners)
    store = ResultStore(db)
    try:
        assert store.rows(latest_only=False) == []
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="Debian's dataset-fashion-mnist")
def test_accuracy_mode_evaluates_the_deployed_artifact_on_the_full_test_set(tmp_path: Path) -> None:
    """MLPerf's accuracy mode: the shipped Fashion-MNIST network, deployed, on all 10 000 test images."""
    proc = run_cli("run", "--model", "pruned_resnet", "--backend", "onnxruntime", "--rounds", "1", *QUICK,
                   "--accuracy", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    store = ResultStore(Path(os.environ["DEVBENCH_DB"]))
    try:
        (stored,) = store.rows()
    finally:
        store.close()
    assert stored.top1_error is not None and 0.0 < stored.top1_error < 0.5
    # measured on the whole test set, it agrees with what training recorded on a 2 000-image subset
    assert abs(stored.top1_error - stored.trained_error) < 0.03, (stored.top1_error, stored.trained_error)
    assert row["top1_error"] == pytest.approx(stored.top1_error)


def test_accuracy_of_a_network_with_random_weights_is_one_line_before_any_work(tmp_path: Path) -> None:
    proc = run_cli("run", "--model", "pruned_resnet,resnet8", "--backend", "onnxruntime", "--accuracy")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "resnet8 has random weights" in proc.stderr and proc.stdout == ""


@pytest.mark.slow
@pytest.mark.parametrize("cpu_s", [5.0, 7.0, 9.0])  # torch.export, the Relax import, TVM's build
def test_ctrl_c_during_a_tvm_compile_stops_with_130_and_stores_nothing(cpu_s: float, tmp_path: Path) -> None:
    """TVM turns an interrupt inside its compiler into a RuntimeError: it must not become an error
    row while the run goes on."""
    env = {**os.environ, "DEVBENCH_DB": str(tmp_path / "r.sqlite"), "DEVBENCH_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "devbench", "run", "--model", "densenet_bc_40", "--backend",
                             "tvm", "--format", "json"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    cpu = psutil.Process(proc.pid)
    while cpu.cpu_times().user < cpu_s:  # imports take a few CPU seconds; then TVM compiles for longer
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode == 130, err
    # [] when the compiler returned to Python in time; nothing when the watchdog had to end the
    # process from inside native code (nothing was measured either way)
    assert out.strip() in ("", "[]") and "Traceback" not in err and "interrupted" in err
    store = ResultStore(tmp_path / "r.sqlite")
    try:
        assert store.rows(latest_only=False) == []
    finally:
        store.close()
    artifacts = tmp_path / "cache" / "artifacts"
    assert not any((d / "meta.json").exists() for d in artifacts.iterdir()) if artifacts.exists() else True
