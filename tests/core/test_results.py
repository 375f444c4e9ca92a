import sqlite3

from devbench.report import render
from devbench.results import ResultRow, ResultStore


def _row(model: str, median: float, status: str = "ok", job: str = "j") -> ResultRow:
    return ResultRow(job_id=job, model=model, target="local", backend="onnxruntime", batch=1, threads=2,
                     status=status, median_ms=median, p90_ms=median * 1.1, std_ms=0.1, ci95_low_ms=median - 0.1,
                     ci95_high_ms=median + 0.1, max_abs_err=1e-6, output_check="pass", samples_ms=[median] * 3,
                     environment={"cpu": "x"})


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
