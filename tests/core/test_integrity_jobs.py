"""Every job of a run is measured as itself: ``best`` beside named backends adds each backend once,
and two jobs with one job id (whose rounds would be pooled into one row) are refused wherever
jobs come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbench.bench import BEST, MeasureSettings, backends_for, make_jobs, run_jobs
from devbench.errors import DevbenchError
from devbench.results import ResultStore
from devbench.targets import get_target

QUICK = MeasureSettings(repeats=3, warmup=1, min_time_s=0.0, rounds=1)


@pytest.mark.parametrize("asked", [["onnxruntime", BEST], [BEST, "onnxruntime"]])
def test_best_beside_a_named_backend_adds_each_backend_once(asked: list[str]) -> None:
    local = get_target("local")
    wanted = backends_for(local, asked)
    assert sorted(wanted) == sorted(local.backends) and len(wanted) == len(set(wanted))
    assert wanted[0] == asked[0] if asked[0] != BEST else wanted == list(local.backends)


def test_run_jobs_refuses_two_jobs_with_one_id_before_measuring(tmp_path: Path) -> None:
    """A notebook can hand run_jobs any list: the same job twice once came back as one row with
    twice the rounds."""
    (job,) = make_jobs(["resnet8"], [get_target("local")], ["onnxruntime"], QUICK)
    db = tmp_path / "r.sqlite"
    store = ResultStore(db)
    try:
        with pytest.raises(DevbenchError, match=f"two jobs share job id {job.job_id}"):
            run_jobs([job, job], store, progress=False)
    finally:
        store.close()
    assert not db.exists()


def test_a_cache_folder_that_cannot_be_made_is_one_line_before_any_row(tmp_path: Path, monkeypatch) -> None:
    """Found in the compile phase, it became an error row (exit 1) for what is the user's setting."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("DEVBENCH_CACHE_DIR", str(tmp_path / "afile"))
    jobs = make_jobs(["resnet8"], [get_target("local")], ["onnxruntime"], QUICK)
    store = ResultStore(tmp_path / "r.sqlite")
    try:
        with pytest.raises(DevbenchError, match="DEVBENCH_CACHE_DIR"):
            run_jobs(jobs, store, progress=False)
        assert store.rows() == []
    finally:
        store.close()


def test_a_network_timed_with_random_weights_has_no_recorded_error(tmp_path: Path) -> None:
    """A shipped spec copied without its weights file keeps the test error its training recorded;
    shown beside random weights, it was an error rate no network of the row has."""
    spec = Path(__file__).parents[2] / "models" / "specs" / "pruned_resnet.json"
    copy = tmp_path / "pruned_copy.json"
    copy.write_text(spec.read_text())
    store = ResultStore(tmp_path / "r.sqlite")
    try:
        rows = run_jobs(make_jobs(["pruned_resnet", str(copy)], [get_target("local")], ["onnxruntime"], QUICK),
                        store, progress=False)
    finally:
        store.close()
    random, trained = sorted(rows, key=lambda r: r.weights)
    assert (trained.weights, random.weights) == ("trained", "random")
    assert trained.trained_error is not None and random.trained_error is None
