"""What the results store may and may not do to a file: reading never creates or alters one, a
database devbench did not make is refused untouched, ``--resume`` with nothing stored shows
nothing stored, and rows the database refuses are saved beside it instead of lost, and merged back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import devbench.results
from devbench.cli import main
from devbench.results import ResultRow, ResultStore

QUICK = ["--repeats", "3", "--warmup", "1", "--min-time", "0", "--backend", "onnxruntime", "-q"]


def _row(model: str, job: str) -> ResultRow:
    return ResultRow(job_id=job, model=model, target="local", backend="onnxruntime", batch=1, threads=1,
                     status="ok", median_ms=1.0, rounds=1, round_medians_ms=[1.0], samples_ms=[1.0])


def _dump(db: Path) -> list[tuple]:
    """Everything in a SQLite file: its schema, its version and its rows."""
    conn = sqlite3.connect(db)
    try:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        rows = [r for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                for r in conn.execute(f"SELECT * FROM {name}")]
        return [*schema, conn.execute("PRAGMA user_version").fetchone(), *rows]
    finally:
        conn.close()


def test_report_on_a_missing_database_is_one_line_and_creates_nothing(tmp_path: Path, capsys) -> None:
    db = tmp_path / "no" / "such" / "dir" / "x.sqlite"
    assert main(["report", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("devbench: error: no results database at") and str(db) in err[0]
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("verb", [["report"], ["report", "--format", "csv"], ["plot", "--out", "x.png"]])
def test_reading_a_foreign_database_is_refused_and_leaves_it_as_it_was(tmp_path: Path, capsys, verb) -> None:
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE foo (x)")
        conn.execute("INSERT INTO foo VALUES (1)")
    conn.close()
    before = _dump(db)
    assert main([*verb, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a devbench results database" in err[0] and "foo" in err[0], err
    assert _dump(db) == before


def test_run_refuses_a_foreign_results_table_and_never_alters_it(tmp_path: Path, capsys) -> None:
    """A user's own table called ``results`` once gained fifty columns from ALTER TABLE."""
    db = tmp_path / "schema.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE results (a, b)")
        conn.execute("INSERT INTO results VALUES (1, 2)")
    conn.close()
    before = _dump(db)
    assert main(["run", "--model", "resnet8", "--rounds", "1", *QUICK, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a devbench results database" in err[0], err
    assert _dump(db) == before


def test_reading_an_older_devbench_database_does_not_migrate_it(tmp_path: Path) -> None:
    """Reading is not writing: the columns an older database lacks are read as their defaults,
    and the file gains them only when something is stored in it."""
    import shutil

    db = tmp_path / "old.sqlite"
    shutil.copy(Path(__file__).parent / "data" / "results_v1.sqlite", db)
    before = _dump(db)
    store = ResultStore(db)
    (row,) = store.rows()
    store.close()
    assert row.model == "resnet20" and row.rounds == 0 and row.round_medians_ms == []
    assert _dump(db) == before


def test_an_empty_set_of_job_ids_means_no_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.sqlite")
    store.add(_row("resnet8", "a"))
    assert store.rows(job_ids=set()) == [] and store.rows(job_ids=[], latest_only=False) == []
    assert [r.job_id for r in store.rows(job_ids={"a"})] == ["a"]
    assert [r.job_id for r in store.rows()] == ["a"]  # None: no filter
    store.close()


def test_resume_with_nothing_stored_shows_only_its_own_jobs(tmp_path: Path, capsys) -> None:
    """--resume once printed every ok row of the database when none of its jobs was stored yet."""
    db = tmp_path / "res.sqlite"
    store = ResultStore(db)
    store.add(_row("unrelated", "elsewhere"))
    store.close()
    assert main(["run", "--model", "resnet8", "--rounds", "1", *QUICK, "--db", str(db), "--resume",
                 "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["resnet8"], lines


def test_rows_a_locked_database_refuses_are_printed_and_saved_beside_it(tmp_path: Path, capsys,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program holds the database when the rows are stored: the run used to end with
    exit 2, nothing printed and every round it had measured lost."""
    monkeypatch.setattr(devbench.results, "BUSY_TIMEOUT_S", 0.5)
    db = tmp_path / "lock.sqlite"
    store = ResultStore(db)
    store.add(_row("earlier", "e"))
    store.close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code = main(["run", "--model", "resnet8,resnet20", "--rounds", "2", *QUICK, "--db", str(db),
                     "--format", "csv"])
        out, err = capsys.readouterr()
    finally:
        holder.rollback()
        holder.close()
    assert code == 2
    measured = [line.split(",")[0] for line in out.strip().splitlines()[1:]]
    assert sorted(measured) == ["resnet20", "resnet8"], out
    errors = [line for line in err.splitlines() if line.startswith("devbench: error:")]
    assert errors == err.strip().splitlines()[-1:], err  # one error line, the last (after any "unstable" notes)
    line = errors[0]
    assert line.startswith(f"devbench: error: cannot write to results database {db}: database is locked"), line
    side = next(tmp_path.glob("lock.unsaved-*.sqlite"))
    assert f"2 row(s) it did not store are saved in {side}" in line and f"devbench report --db {side}" in line
    saved = ResultStore(side).rows()
    assert sorted((r.model, r.status, r.rounds) for r in saved) == [("resnet20", "ok", 2), ("resnet8", "ok", 2)]
    assert [r.model for r in ResultStore(db).rows()] == ["earlier"]  # the locked one: as it was
    assert f"devbench merge {side} --db {db}" in line
    # the database free again, the command the message gives brings the rows home, once
    assert main(["merge", str(side), "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == f"{side}: 2 row(s) added to {db}, 0 already there"
    assert main(["merge", str(side), "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == f"{side}: 0 row(s) added to {db}, 2 already there"
    merged = ResultStore(db).rows(latest_only=False)
    assert sorted(r.model for r in merged) == ["earlier", "resnet20", "resnet8"]
    assert {r.job_id: r.samples_ms for r in merged if r.model != "earlier"} == {r.job_id: r.samples_ms for r in saved}


def test_merge_into_a_new_database_and_its_mistakes(tmp_path: Path, capsys) -> None:
    """Merging makes the destination when it is not there; a missing source, the destination
    itself, or a file devbench did not make is one line, exit 2, and the destination unchanged,
    even by the sources named before it."""
    a, b = ResultStore(tmp_path / "a.sqlite"), ResultStore(tmp_path / "b.sqlite")
    a.add(_row("resnet8", "j1"))
    b.add(_row("resnet8", "j1"))  # the same job measured again elsewhere: a row of its own
    b.add(_row("resnet20", "j2"))
    a.close(), b.close()
    dest = tmp_path / "new" / "all.sqlite"
    assert main(["merge", str(a.path), str(b.path), "--db", str(dest)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{a.path}: 1 row(s) added to {dest}, 0 already there",
                                                    f"{b.path}: 2 row(s) added to {dest}, 0 already there"]
    assert sorted(r.job_id for r in ResultStore(dest).rows(latest_only=False)) == ["j1", "j1", "j2"]
    before = _dump(dest)
    c = ResultStore(tmp_path / "c.sqlite")
    c.add(_row("resnet56", "j3"))
    c.close()
    foreign = tmp_path / "foreign.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE results (x)")
    conn.commit(), conn.close()
    for source, says in ((tmp_path / "missing.sqlite", "no results database to merge at"),
                         (dest, "is the database being merged into"),
                         (foreign, "is not a devbench results database")):
        assert main(["merge", str(c.path), str(source), "--db", str(dest)]) == 2  # c's row not merged either
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("devbench: error:") and says in err[0], err
    assert _dump(dest) == before

