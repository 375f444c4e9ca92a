"""The whole local chain on the real stack, as a user drives it: compile, run on three backends,
report, plot, resume, a failing output check, and an unreachable board beside a working one.

One module-wide artifact cache means TVM compiles resnet8 once (by ``devbench compile``); every
later command, ``devbench run`` included, must find it there.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from devbench.bench import MeasureSettings, make_jobs, run_jobs
from devbench.errors import DevbenchError
from devbench.results import ResultRow, ResultStore
from devbench.targets import get_target
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

MODEL = "resnet8"
BACKENDS = ("tvm", "onnxruntime", "torch")
#: two rounds of exactly five samples per row (no minimum sampling time): the test is about the flow, not the figure
RUN = ["run", "--model", MODEL, "--backend", ",".join(BACKENDS), "--repeats", "5", "--warmup", "2", "--min-time", "0",
       "--rounds", "2"]


@dataclass
class Stack:
    """What the module's first two commands left behind."""

    env: dict[str, str]
    db: Path
    compiled: subprocess.CompletedProcess
    ran: subprocess.CompletedProcess

    def stored(self) -> list[ResultRow]:
        store = ResultStore(self.db)
        try:
            return store.rows(latest_only=False)
        finally:
            store.close()


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifact-cache")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Stack:
    tmp = tmp_path_factory.mktemp("stack")
    db = tmp / "results.sqlite"
    env = {"DEVBENCH_DB": str(db), "DEVBENCH_CACHE_DIR": str(shared_cache)}
    compiled = run_cli("compile", "--model", MODEL, "--backend", ",".join(BACKENDS), env=env)
    ran = run_cli(*RUN, "--format", "json", env=env)
    return Stack(env, db, compiled, ran)


def test_run_measures_and_checks_every_backend(stack: Stack) -> None:
    assert stack.ran.returncode == 0, stack.ran.stderr
    rows = json.loads(stack.ran.stdout)
    assert sorted(r["backend"] for r in rows) == sorted(BACKENDS)
    for r in rows:
        assert (r["model"], r["target"], r["status"], r["check"]) == (MODEL, "local", "ok", "pass"), r
        assert 0 <= r["max_abs_err"] < 1e-3, r
        assert r["median_ms"] > 0 and r["n"] == 10 and r["rounds"] == 2, r
        assert r["ci95_low_ms"] is None and r["ci95_high_ms"] is None, r  # two rounds give no 95% interval
        assert r["load_s"] > 0 and r["peak_rss_mb"] > 0 and r["artifact_mb"] > 0, r
    assert len(stack.stored()) == len(BACKENDS)


def test_second_compile_is_cached_and_run_used_the_compiled_artifacts(stack: Stack) -> None:
    assert stack.compiled.returncode == 0, stack.compiled.stderr
    first = stack.compiled.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in first] == ["compiled"] * len(BACKENDS), first
    again = run_cli("compile", "--model", MODEL, "--backend", ",".join(BACKENDS), env=stack.env)
    assert again.returncode == 0, again.stderr
    second = again.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in second] == ["cached"] * len(BACKENDS), second
    # same paths both times, and they are the artifacts the run measured (cache dir = key prefix)
    assert [line.split(" -> ")[1] for line in first] == [line.split(" -> ")[1] for line in second]
    for row in stack.stored():
        assert any(f"/{row.artifact_key[:24]}/" in line for line in first), (row.backend, row.artifact_key)


def test_report_reads_the_same_rows_back(stack: Stack) -> None:
    proc = run_cli("report", "--format", "csv", env=stack.env)
    assert proc.returncode == 0, proc.stderr
    reported = {r["backend"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    measured = {r["backend"]: r for r in json.loads(stack.ran.stdout)}
    assert set(reported) == set(measured) == set(BACKENDS)
    for backend, r in measured.items():
        assert float(reported[backend]["median_ms"]) == pytest.approx(r["median_ms"], rel=1e-9)
        assert reported[backend]["check"] == "pass"


def test_plot_writes_a_png(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "x.png"
    proc = run_cli("plot", "--out", str(out), env=stack.env)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_measures_nothing_already_stored_and_prints_the_stored_table(stack: Stack) -> None:
    before = [(r.job_id, r.created) for r in stack.stored()]
    proc = run_cli(*RUN, "--resume", "--format", "csv", env=stack.env)
    assert proc.returncode == 0, proc.stderr
    assert [(r.job_id, r.created) for r in stack.stored()] == before
    printed = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert sorted(r["backend"] for r in printed) == sorted(BACKENDS)
    assert {float(r["median_ms"]) for r in printed} == {r.median_ms for r in stack.stored()}


def test_output_check_failure_exits_1_and_keeps_the_row(stack: Stack, tmp_path: Path) -> None:
    """ONNX Runtime's fused kernels round differently from PyTorch: a zero tolerance must fail."""
    env = {**stack.env, "DEVBENCH_DB": str(tmp_path / "check.sqlite")}
    common = ["run", "--model", MODEL, "--backend", "onnxruntime", "--repeats", "3", "--warmup", "1", "--min-time", "0",
              "--rounds", "1", "--atol", "0"]
    failed = run_cli(*common, "--format", "json", env=env)
    assert failed.returncode == 1, failed.stderr
    (row,) = json.loads(failed.stdout)
    assert row["max_abs_err"] > 0, "precondition: onnxruntime differs from PyTorch in the last bits"
    assert row["check"] == "FAIL"
    assert "output differs from PyTorch" in failed.stderr and "Traceback" not in failed.stderr
    store = ResultStore(tmp_path / "check.sqlite")
    try:
        (stored,) = store.rows(latest_only=False)
    finally:
        store.close()
    assert (stored.status, stored.output_check, stored.median_ms > 0) == ("check_failed", "FAIL", True)

    unchecked = run_cli(*common, "--no-check", "--format", "json", env=env)
    assert unchecked.returncode == 0, unchecked.stderr
    (row,) = json.loads(unchecked.stdout)
    assert (row["status"], row["check"]) == ("ok", "off")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_board_is_one_line_before_anything_is_compiled(shared_cache: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    port = _closed_port()
    targets_file = tmp_path / "gone.toml"
    targets_file.write_text(
        'name = "gone"\ntransport = "ssh"\nthreads = 1\nbackends = ["onnxruntime"]\n'
        '[tvm]\ntarget = { kind = "llvm" }\n'
        f'[ssh]\nhost = "127.0.0.1"\nport = {port}\nconnect_timeout_s = 2.0\n'
    )
    targets = [get_target("local"), get_target("gone", [targets_file])]
    settings = MeasureSettings(repeats=3, warmup=1, min_time_s=0.0, rounds=2)
    jobs = make_jobs([MODEL], targets, ["onnxruntime"], settings)
    store = ResultStore(tmp_path / "results.sqlite")
    try:
        with pytest.raises(DevbenchError) as e:
            run_jobs(jobs, store, progress=False)
        assert store.rows(latest_only=False) == []
    finally:
        store.close()
    message = str(e.value)
    assert f"cannot reach board gone at 127.0.0.1:{port}" in message and "\n" not in message
    assert f"check [ssh] host in {targets_file}" in message and "devbench board add gone --host" in message
    assert not (tmp_path / "empty-cache" / "artifacts").exists() or not any(
        (tmp_path / "empty-cache" / "artifacts").iterdir())  # nothing was compiled for it
    proc = run_cli("run", "--model", MODEL, "--target", "gone", "--targets-file", str(targets_file),
                   env={"DEVBENCH_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
