import sqlite3
import subprocess
import sys
import time

from devbench.report import render
from devbench.results import ResultRow, ResultStore


def _row(model: str, median: float | None, status: str = "ok", job: str = "j") -> ResultRow:
    return ResultRow(job_id=job, model=model, target="local", backend="onnxruntime", batch=1, threads=2,
                     status=status, median_ms=median, p90_ms=median and median * 1.1, std_ms=0.1,
                     ci95_low_ms=median and median - 0.1, ci95_high_ms=median and median + 0.1, max_abs_err=1e-6,
                     output_check="pass", samples_ms=[median] * 3 if median else [], environment={"cpu": "x"})


def test_rows_survive_reopening_and_are_real_sqlite(tmp_path):
    db = tmp_path / "r.sqlite"
    store = ResultStore(db)
    store.add(_row("a", 1.0, job="1"))
    store.add(_row("b", 2.0, status="error", job="2"))
    store.close()
    again = ResultStore(db)
    rows = again.rows()
    assert [(r.model, r.median_ms, r.status) for r in rows] == [("a", 1.0, "ok"), ("b", 2.0, "error")]
    assert rows[0].samples_ms == [1.0, 1.0, 1.0] and rows[0].environment == {"cpu": "x"}
    assert again.done_job_ids() == {"1"}
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_latest_only_and_filters(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.add(_row("a", 1.0))
    store.add(_row("a", 3.0))
    store.add(_row("b", 2.0))
    assert [r.median_ms for r in store.rows(models=["a"])] == [3.0]
    assert len(store.rows(latest_only=False)) == 3


def test_render_formats(tmp_path):
    rows = [_row("a", 1.25)]
    md = render(rows, "markdown")
    assert "| model" in md and "1.250" in md
    csv = render(rows, "csv").splitlines()
    assert csv[0].startswith("model,target,backend,median_ms,p90_ms,std_ms") and csv[1].startswith("a,local,")
    assert '"median_ms": 1.25' in render(rows, "json")


def test_a_failed_rerun_never_hides_a_good_row(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.add(_row("a", 1.0))
    store.add(_row("a", None, status="error"))
    store.add(_row("b", None, status="error"))
    latest = {r.model: r for r in store.rows()}
    assert latest["a"].status == "ok" and latest["a"].median_ms == 1.0
    assert latest["b"].status == "error"  # no good row: the newest attempt is what there is


def test_a_database_from_the_previous_release_opens_and_gains_the_new_columns(tmp_path):
    """tests/core/data/results_v1.sqlite was written by devbench before rounds existed (schema 1)."""
    import shutil
    from pathlib import Path

    from devbench.results import SCHEMA_VERSION

    db = tmp_path / "old.sqlite"
    shutil.copy(Path(__file__).parent / "data" / "results_v1.sqlite", db)
    store = ResultStore(db)
    (row,) = store.rows()
    assert (row.model, row.status, row.median_ms, row.samples_ms) == ("resnet20", "ok", 0.5, [0.5, 0.49, 0.51])
    assert row.rounds == 0 and row.round_medians_ms == [] and row.conditions == [] and row.unstable == ""
    store.add(_row("new", 2.0, job="j2"))
    assert {r.model for r in store.rows()} == {"resnet20", "new"}
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_database_from_a_newer_devbench_is_refused_in_one_line(tmp_path):
    import pytest

    from devbench.errors import DevbenchError

    db = tmp_path / "new.sqlite"
    sqlite3.connect(db).execute("PRAGMA user_version = 999").connection.commit()
    with pytest.raises(DevbenchError, match="newer devbench"):
        ResultStore(db)


def test_two_processes_opening_one_new_database_at_once_both_get_it(tmp_path):
    """Two runs started together (two terminals, a job array): switching a new file to WAL mode
    answered "database is locked" at once to one of them, in about half of such pairs. A run
    prepares its store for writing before measuring; opening alone creates nothing."""
    for pair in range(5):
        path = tmp_path / f"r{pair}.sqlite"
        start = time.time() + 1.0  # both are past their imports by then
        code = (f"import time\nfrom devbench.results import ResultStore\nwhile time.time() < {start}: pass\n"
                f"s = ResultStore({str(path)!r})\ns.prepare()\ns.close()")
        procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)]
        for proc in procs:
            assert proc.wait(timeout=60) == 0, proc.stderr.read()
        assert ResultStore(path).rows() == []
