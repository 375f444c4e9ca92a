"""``devbench tune`` settings that could not do what they say are refused before anything starts: a time
budget of 0 minutes (which used to mean no budget), a trial count no tuning needs, a target whose
backends do not include tvm (nothing would read the tuning)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from devbench.errors import DevbenchError
from devbench.models import get_spec
from devbench.targets import get_target
from devbench.tuning import tune, tune_each
from devbench.tuning.tune import MAX_TRIALS


@pytest.mark.parametrize(("args", "words"), [
    (["--time-budget", "0"], ("--time-budget", "'0' is not a positive number of minutes")),
    (["--trials", "99999999999"], ("--trials", f"at most {MAX_TRIALS}")),
    (["--trials-per-task", str(MAX_TRIALS + 1)], ("--trials-per-task", f"at most {MAX_TRIALS}")),
])
def test_settings_that_cannot_be_applied_are_one_line(devbench, args: list[str], words: tuple[str, ...]) -> None:
    devbench("tune", "--model", "resnet8", *args).assert_one_line_error(*words)


def test_a_target_without_tvm_is_not_tuned(devbench, tmp_path: Path) -> None:
    f = tmp_path / "ort.toml"
    f.write_text('name = "ortonly"\nbackends = ["onnxruntime"]\n')
    devbench("tune", "--model", "resnet8", "--targets-file", f, "--target", "ortonly", "--trials", "1",
             ).assert_one_line_error("target ortonly does not offer the tvm backend", "onnxruntime", str(f))


def test_the_library_refuses_them_too(tmp_path: Path) -> None:
    spec, local, db = get_spec("resnet8"), get_target("local"), tmp_path / "db"
    with pytest.raises(DevbenchError, match="time_budget_min must be a positive number"):
        tune(spec, local, 1, time_budget_min=0, database_dir=db)
    with pytest.raises(DevbenchError, match=f"trials must be a positive integer of at most {MAX_TRIALS}"):
        tune(spec, local, MAX_TRIALS + 1, database_dir=db)
    with pytest.raises(DevbenchError, match="does not offer the tvm backend"):
        next(tune_each([spec], replace(local, backends=("onnxruntime",)), 1, database_dir=db))
    assert not db.exists()  # no database was started
