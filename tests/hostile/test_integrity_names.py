"""A list option naming one thing twice, and measuring times that contradict each other: one line
and exit 2 before anything is measured. A repeated name made two jobs with one job id, whose
rounds were pooled into one row (6 rounds from 3) and, in ``compare``, into a verdict."""

from __future__ import annotations

import pytest

QUICK = ["--rounds", "1", "--repeats", "3", "--warmup", "1", "-q"]

#: case -> (arguments, words the message must contain)
CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "run: a model twice": (["run", "--model", "resnet8,resnet8", "--backend", "onnxruntime"],
                           ("model 'resnet8' is named twice",)),
    "run: a backend twice": (["run", "--model", "resnet8", "--backend", "onnxruntime,onnxruntime"],
                             ("backend 'onnxruntime' is named twice",)),
    "run: a target twice": (["run", "--model", "resnet8", "--backend", "onnxruntime", "--target", "local,local"],
                            ("target 'local' is named twice",)),
    "compare: a model twice": (["compare", "--model", "resnet8,resnet8", "--backend", "onnxruntime"],
                               ("model 'resnet8' is named twice",)),
    "compare: a backend twice": (["compare", "--model", "resnet8,resnet20", "--backend", "onnxruntime,onnxruntime"],
                                 ("backend 'onnxruntime' is named twice",)),
    "compare: a target twice": (["compare", "--model", "resnet8,resnet20", "--backend", "onnxruntime",
                                 "--target", "local,local"], ("target 'local' is named twice",)),
    "run: max time 0": (["run", "--model", "resnet8", "--backend", "onnxruntime", "--max-time", "0"],
                        ("max time 0 s", "--max-time", "greater than 0")),
    "run: min time above max time": (["run", "--model", "resnet8", "--backend", "onnxruntime", "--min-time", "5",
                                      "--max-time", "1"], ("min time 5 s is more than max time 1 s",)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_contradictory_lists_and_times_are_one_line(devbench, tmp_path, case: str) -> None:
    args, words = CASES[case]
    quick = QUICK if "--min-time" in args else [*QUICK, "--min-time", "0"]
    db = tmp_path / "r.sqlite"
    devbench(*args, *quick, "--db", db).assert_one_line_error(*words)
    assert not db.exists()  # refused before anything was measured or stored
