"""The CLI as a user meets it: a subprocess per command, exit codes, stdout tables, one-line errors.

Every command here is a fresh ``python -m devbench`` (about two CPU-seconds of imports each), so
the error cases run a few at a time in one module fixture and the tests only read their results.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devbench.cli import VERBS
from tests.conftest import REPO, run_cli

#: case -> (arguments, words the one-line message must contain); {bad_json}/{bad_toml} are tmp files
BAD_INPUT = {
    "unknown model": (["run", "--model", "resnet57"], ["unknown model", "'resnet57'", "resnet56"]),
    "unknown target": (["run", "--model", "resnet8", "--target", "nowhere"], ["unknown target", "'nowhere'", "local"]),
    "unknown backend": (["run", "--model", "resnet8", "--backend", "tensorrt"],
                        ["unknown backend", "'tensorrt'", "tvm", "onnxruntime", "torch"]),
    "malformed spec": (["run", "--model", "{bad_json}"], ["{bad_json}:3", "malformed"]),
    "malformed targets file": (["run", "--model", "resnet8", "--targets-file", "{bad_toml}"],
                               ["{bad_toml}", "line 3", "malformed"]),
    "threads 0": (["run", "--model", "resnet8", "--threads", "0"], ["--threads", "'0'", "positive integer"]),
    "threads abc": (["run", "--model", "resnet8", "--threads", "abc"], ["--threads", "'abc'", "positive integer"]),
    "batch -1": (["run", "--model", "resnet8", "--batch", "-1"], ["--batch", "'-1'", "positive integer"]),
    "repeats 0": (["run", "--model", "resnet8", "--repeats", "0"], ["--repeats", "'0'", "positive integer"]),
}


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, list]]:
    """Every BAD_INPUT case run once (two at a time: the machine has two cores)."""
    tmp = tmp_path_factory.mktemp("bad-input")
    files = {"bad_json": tmp / "bad_spec.json", "bad_toml": tmp / "bad_target.toml"}
    # line 3 is broken in both: the message must point there
    files["bad_json"].write_text('{\n  "family": "wrn",\n  "inner": [[16, 16],, ]\n}\n')
    files["bad_toml"].write_text('name = "broken"\ntransport = "local"\nthreads = \n')
    names = {k: str(v) for k, v in files.items()}
    env = {"DEVBENCH_DB": str(tmp / "results.sqlite"), "DEVBENCH_CACHE_DIR": str(tmp / "cache")}

    def one(case: str) -> tuple[subprocess.CompletedProcess, list]:
        args, words = BAD_INPUT[case]
        return run_cli(*[a.format(**names) for a in args], env=env, timeout=120), [w.format(**names) for w in words]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(BAD_INPUT, pool.map(one, BAD_INPUT), strict=True))


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_and_exit_2(bad_input_runs, case: str) -> None:
    proc, words = bad_input_runs[case]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("devbench: error:"), lines[0]
    for word in words:
        assert word in lines[0], f"{word!r} missing from {lines[0]!r}"


def test_models_csv_has_counts_of_the_paper_networks() -> None:
    proc = run_cli("models", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    assert {"name", "params", "macs"} <= set(next(iter(rows.values())))
    # parameter counts as published: ResNet-56 0.85M, WRN-40-2 2.2M, DenseNet-BC-100 (k=12) 0.8M
    published_params = (("resnet56", 0.85e6, 0.02), ("wrn_40_2", 2.2e6, 0.03), ("densenet_bc_100", 0.8e6, 0.05))
    for name, published, rel in published_params:
        assert name in rows, f"{name} not listed"
        assert abs(int(rows[name]["params"]) - published) <= rel * published, rows[name]
        assert int(rows[name]["macs"]) > int(rows[name]["params"])  # every weight is used at least once per pixel


def test_models_json_parses_and_filters() -> None:
    proc = run_cli("models", "wrn_*", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    names = [r["name"] for r in records]
    assert "wrn_40_2" in names and "resnet56" not in names
    assert all(isinstance(r["params"], int) and isinstance(r["macs"], int) for r in records)


def test_targets_lists_local() -> None:
    proc = run_cli("targets", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(proc.stdout))}
    assert rows["local"]["transport"] == "local"
    assert int(rows["local"]["threads"]) >= 1


def test_no_flag_shows_a_default_in_help() -> None:
    """A flag takes no value, so a default shown would only mislead: ``--no-seed``'s read
    "(default: True)", as if seeding were off unless asked for."""
    import argparse

    from devbench.cli import build_parser

    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for verb, parser in verbs.choices.items():
        text = " ".join(parser.format_help().split())
        assert "(default: True)" not in text and "(default: False)" not in text, verb


def test_help_lists_every_verb_and_console_script_exists() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, proc.stderr
    for verb in VERBS:
        assert verb in proc.stdout
    script = REPO / ".venv" / "bin" / "devbench"
    assert script.is_file() and os.access(script, os.X_OK), f"console script {script} missing"
    assert "devbench" in Path(script).read_text()
