"""``--accuracy``'s test set is read before anything is measured: a data directory that is not there
is one clear line (it names the test set, which is what accuracy reads), and the set is read once."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbench.accuracy import labelled_test_set
from devbench.errors import DevbenchError
from tests.conftest import run_cli


def test_a_missing_data_dir_names_the_test_set(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    with pytest.raises(DevbenchError, match=f"--accuracy reads the fashion_mnist test set from --data-dir {missing}, "
                                            "which is not a directory"):
        labelled_test_set("fashion_mnist", str(missing))


def test_the_test_set_is_read_once_for_every_job() -> None:
    images, labels = labelled_test_set("fashion_mnist", None)
    assert images.shape == (10_000, 1, 28, 28) and labels.shape == (10_000,)
    assert labelled_test_set("fashion_mnist", None)[0] is images


def test_run_with_accuracy_from_a_missing_data_dir_measures_nothing(tmp_path: Path) -> None:
    """Found after the timing, it was an error row and exit 1 for what is a mistyped flag."""
    db = tmp_path / "r.sqlite"
    out = run_cli("run", "--model", "pruned_resnet", "--backend", "onnxruntime", "--rounds", "1", "--accuracy",
                  "--data-dir", str(tmp_path / "none"), "--db", str(db))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "--data-dir" in out.stderr
    assert not db.exists()
