"""--tuning none|default|PATH: which database a TVM compile applies, and what its row says about it."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from devbench.backends.base import CompileRequest
from devbench.backends.tvm_backend import TVMBackend
from devbench.errors import DevbenchError
from devbench.models import build_model, get_spec
from devbench.report import _tuning
from devbench.results import ResultRow
from devbench.targets import get_target
from devbench.tuning import tune
from devbench.tuning.database import database_dir, tuned_for
from tests.conftest import run_cli


@pytest.mark.slow
def test_untuned_by_choice_another_database_and_kernels_tuned_for_another_network(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path))
    target = get_target("local", threads=2)
    a = replace(get_spec("resnet8"), name="net_a", input_shape=(3, 8, 8)).with_flat_widths([4, 4, 4], name="net_a")
    b = replace(a, name="net_b")  # the same kernels, another network
    tune(a, target, trials=4, search_strategy="replay-trace", verbose=False)
    assert tuned_for(database_dir(target)) == ["net_a"]

    backend = TVMBackend()

    def compile_(spec, tuning: str = "default", where: str = "x") -> dict:
        request = CompileRequest(spec, build_model(spec).eval(), target, tuning=tuning)
        return backend.compile(request, tmp_path / where)

    assert compile_(a, where="a")["tuned_via"] == ""  # its own tuning
    via = compile_(b, where="b")
    assert via["tuned"] and via["tuned_via"] == "net_a" and via["trials"] > 0
    untuned = compile_(b, "none", "c")
    assert not untuned["tuned"] and untuned["tuning_db"] == "" and untuned["trials"] == 0
    keys = {t: backend.version_key(CompileRequest(b, build_model(b), target, tuning=t)) for t in ("none", "default")}
    assert keys["none"] != keys["default"]  # two artifacts in the cache, never one for the other

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(database_dir(target), elsewhere)
    (database_dir(target) / "database_tuning_record.json").unlink()  # the target's own is gone now
    assert not compile_(b, "default", "d")["tuned"]
    other = compile_(b, str(elsewhere), "e")
    assert other["tuned"] and other["database"] == str(elsewhere)
    with pytest.raises(DevbenchError, match="no tuning database there"):
        compile_(b, str(tmp_path / "nothing"), "f")


def test_a_folder_without_a_database_is_one_line_before_compiling(tmp_path: Path) -> None:
    r = run_cli("compile", "--model", "resnet8", "--tuning", str(tmp_path / "nothing"), timeout=300)
    assert r.returncode == 2 and "no tuning database there" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_the_table_says_how_a_tvm_row_was_scheduled() -> None:
    row = ResultRow(job_id="j", model="m", target="local", backend="tvm", batch=1, threads=2, status="ok")
    assert _tuning(row) == "untuned"
    assert _tuning(replace(row, tuning_choice="none")) == "untuned (--tuning none)"
    assert _tuning(replace(row, tuned=True, trials=48, tuned_via="resnet56")) == "tuned (48 trials, via resnet56)"
    assert _tuning(replace(row, tuned=True, trials=4, tuning_choice="/db")) == "tuned (4 trials, database /db)"
    assert _tuning(replace(row, backend="onnxruntime")) == ""
