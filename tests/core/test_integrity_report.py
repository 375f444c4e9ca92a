"""Reports agree with themselves: ``--full`` JSON writes the fields it shares with the plain JSON
the same way, a ``|`` in a name stays inside its markdown cell, and an empty CSV still has its header."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from devbench.cli import main
from devbench.report import DATA_COLUMNS, render_comparisons
from devbench.results import ResultRow, ResultStore


def _row(model: str, unstable: str = "") -> ResultRow:
    return ResultRow(job_id=model, model=model, target="local", backend="onnxruntime", batch=1, threads=1,
                     status="ok", median_ms=1.0, ci95_low_ms=0.9, ci95_high_ms=1.1, rounds=10,
                     round_medians_ms=[1.0] * 10, samples_ms=[1.0] * 10, unstable=unstable)


def _db(tmp_path: Path, *rows: ResultRow) -> str:
    store = ResultStore(tmp_path / "r.sqlite")
    store.prepare()
    for r in rows:
        store.add(r)
    store.close()
    return str(tmp_path / "r.sqlite")


def _report(capsys, *args: str) -> str:
    capsys.readouterr()
    assert main(["report", *args]) == 0
    return capsys.readouterr().out


def test_full_json_writes_the_shared_fields_as_the_plain_json_does(tmp_path: Path, capsys) -> None:
    db = _db(tmp_path, _row("steady"), _row("shaky", unstable="rounds disagree (CV 9% > 5%)"))
    plain = {r["model"]: r for r in json.loads(_report(capsys, "--db", db, "--format", "json"))}
    full = {r["model"]: r for r in json.loads(_report(capsys, "--db", db, "--format", "json", "--full"))}
    for model in ("steady", "shaky"):
        shared = set(plain[model]) & set(full[model])
        assert {"created", "ci95_low_ms", "ci95_high_ms"} <= shared
        assert {k: full[model][k] for k in shared} == {k: plain[model][k] for k in shared}
    assert full["shaky"]["ci95_low_ms"] is None and full["steady"]["ci95_low_ms"] == 0.9
    assert full["steady"]["samples_ms"] == [1.0] * 10  # --full keeps its extra fields


def test_a_bar_in_a_model_name_stays_in_its_markdown_cell(tmp_path: Path, capsys) -> None:
    out = _report(capsys, "--db", _db(tmp_path, _row("a|b"), _row("plain")))
    lines = [line for line in out.splitlines() if line.startswith("|")]
    cells = [line.replace("\\|", "").count("|") for line in lines]
    assert len(set(cells)) == 1, out  # every line (header, rule, rows) has as many cells
    assert "a\\|b" in out


def test_an_empty_csv_report_prints_its_header(tmp_path: Path, capsys) -> None:
    out = _report(capsys, "--db", _db(tmp_path), "--format", "csv")
    assert next(csv.reader(io.StringIO(out))) == [name for name, _ in DATA_COLUMNS]
    assert render_comparisons([], "csv").startswith("model,baseline,target,backend,ratio,")
