"""Hostile command lines: prefixes of options, empty lists, unbounded counts, infinite durations."""

from __future__ import annotations

import pytest

#: case -> (arguments, words the message must contain)
FLAGS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "prefix --targets for --targets-file": (["compile", "--model", "resnet8", "--targets", "x.toml"],
                                            ("--targets",)),
    "prefix --repeat for --repeats": (["run", "--model", "resnet8", "--repeat", "3"], ("--repeat",)),
    "prefix --mod for --model": (["compile", "--mod", "resnet8"], ("--mod",)),
    "prefix of a global option": (["--deb", "models"], ("--deb",)),
    "run --model ,": (["run", "--model", ","], ("--model", "names nothing")),
    "compile --backend ,": (["compile", "--model", "resnet8", "--backend", " , "], ("--backend", "names nothing")),
    "report --target ,": (["report", "--target", ","], ("--target", "names nothing")),
    "family --budgets ,": (["family", "--from", "resnet20", "--budgets", ","], ("--budgets",)),
    "threads 10000": (["run", "--model", "resnet8", "--threads", "10000"], ("--threads", "1024")),
    "threads 0": (["compile", "--model", "resnet8", "--threads", "0"], ("--threads", "positive integer")),
    "threads 1e3": (["doctor", "--threads", "1e3"], ("--threads",)),
    "min-time inf": (["run", "--model", "resnet8", "--min-time", "inf"], ("--min-time", "finite")),
    "min-time nan": (["run", "--model", "resnet8", "--min-time", "nan"], ("--min-time", "finite")),
    "tolerance inf": (["reduce", "--like", "resnet20", "--tolerance", "inf"], ("--tolerance", "finite")),
    "tolerance -0.1": (["reduce", "--like", "resnet20", "--tolerance", "-0.1"], ("--tolerance",)),
    "time-budget nan": (["tune", "--model", "resnet8", "--time-budget", "nan"], ("--time-budget",)),
    "epochs 0": (["train", "--model", "resnet8", "--dataset", "synthetic", "--epochs", "0"], ("--epochs",)),
    "board port 22": (["board", "emulate", "--port", "22"], ("never 22",)),
    "board port 70000": (["board", "emulate", "--port", "70000"], ("70000",)),
    "board port abc": (["board", "emulate", "--port", "abc"], ("--port",)),
    "unknown verb": (["frobnicate"], ("frobnicate",)),
    "unknown format": (["models", "--format", "xml"], ("--format",)),
    "unknown target": (["doctor", "--target", "nowhere"], ("unknown target", "'nowhere'")),
    "register a path as a name": (["register", "--from", "nowhere", "--name", "../evil"], ("model name",)),
    "register from nowhere": (["register", "--from", "nowhere", "--name", "x"], ("not a finished run",)),
}


@pytest.mark.parametrize("case", list(FLAGS))
def test_hostile_flags(devbench, case: str) -> None:
    args, words = FLAGS[case]
    devbench(*args).assert_one_line_error(*words)
