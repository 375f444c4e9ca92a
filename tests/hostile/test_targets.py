"""Hostile target files (``targets --targets-file FILE``): every field has a type and a range, and
the one-line error names the file, the field and, where it can, the line."""

from __future__ import annotations

from pathlib import Path

import pytest

SSH = 'name = "pi"\ntransport = "ssh"\nthreads = 4\n[ssh]\nhost = "pi"\n'
LOCAL = 'name = "box"\n'

#: case -> (file content, words the message must contain besides the file name)
TARGETS: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "emulated = no": (LOCAL + 'emulated = "no"\n', (":2:", "emulated", "boolean")),
    "backends a string": (LOCAL + 'backends = "onnxruntime"\n', (":2:", "backends", "list")),
    "backends empty": (LOCAL + "backends = []\n", (":2:", "backends")),
    "port 70000": (SSH + "port = 70000\n", (":6:", "ssh.port", "65535")),
    "port 0": (SSH + "port = 0\n", (":6:", "ssh.port")),
    "port a string": (SSH + 'port = "22"\n', (":6:", "ssh.port", "integer")),
    "misspelled ssh key": (SSH + "prot = 22\n", (":6:", "unknown field ssh.prot")),
    "name a number": ("name = 5\n", (":1:", "name", "string")),
    "name a path": ('name = "../../etc/passwd"\n', (":1:", "name")),
    "name missing": ("threads = 1\n", ("name is required",)),
    "threads 100000": (LOCAL + "threads = 100000\n", (":2:", "threads", "1024")),
    "threads -1": (LOCAL + "threads = -1\n", (":2:", "threads")),
    "threads a string": (LOCAL + 'threads = "4"\n', (":2:", "threads", "integer")),
    "threads 0 on a board": (SSH.replace("threads = 4", "threads = 0"), ("threads = 0",)),
    "transport ftp": (LOCAL + 'transport = "ftp"\n', (":2:", "transport")),
    "ssh without [ssh]": ('name = "pi"\ntransport = "ssh"\nthreads = 1\n', ("needs an [ssh] table",)),
    "rounds 0": (LOCAL + "[measure]\nrounds = 0\n", (":3:", "measure.rounds")),
    "repeats 1.5": (LOCAL + "[measure]\nrepeats = 1.5\n", (":3:", "measure.repeats", "integer")),
    "min_time_s nan": (LOCAL + "[measure]\nmin_time_s = nan\n", (":3:", "measure.min_time_s", "finite")),
    "max_time_s inf": (LOCAL + "[measure]\nmax_time_s = inf\n", (":3:", "measure.max_time_s", "finite")),
    "unknown measure key": (LOCAL + "[measure]\nrepeat = 3\n", (":3:", "unknown field measure.repeat")),
    "negative timeout": (SSH + "connect_timeout_s = -1\n", (":6:", "ssh.connect_timeout_s")),
    "password yes": (SSH + 'password = "yes"\n', (":6:", "ssh.password", "boolean")),
    "device tpu": (LOCAL + 'device = "tpu"\n', (":2:", "device")),
    "tvm target string": (LOCAL + '[tvm]\ntarget = "llvm -mcpu=znver5"\n', ("rejects target strings",)),
    "tvm a string": (LOCAL + 'tvm = "llvm"\n', (":2:", "tvm")),
    "rpc without key": ('name = "farm"\ntransport = "rpc"\nthreads = 1\n[rpc]\ntracker_host = "h"\n',
                        (":4:", "rpc.key is required")),
    "not UTF-8": (b'name = "\xff"\n', ("not UTF-8",)),
    "deep nesting": (LOCAL + "x = " + "[" * 5000 + "]" * 5000 + "\n", ("malformed TOML",)),
    "stray [tvm] between [[target]]s": ('[[target]]\nname = "a"\n[tvm]\ntarget = {kind = "llvm"}\n',
                                        ("[target.tvm]",)),
    "target = 5": ("target = 5\n", ("[[target]]",)),
    "second [[target]] bad": ('[[target]]\nname = "a"\n[[target]]\nname = "b"\nthreads = true\n',
                              (":5:", "target[1].threads")),
    "empty file": ("", ("name is required",)),
    "malformed TOML": (LOCAL + "threads = \n", ("malformed TOML", "line 2")),
}


@pytest.mark.parametrize("case", list(TARGETS))
def test_hostile_target_file(devbench, tmp_path: Path, case: str) -> None:
    content, words = TARGETS[case]
    f = tmp_path / "t.toml"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    devbench("targets", "--targets-file", f).assert_one_line_error(str(f), *words)


@pytest.mark.parametrize("path", ["missing.toml", "dir.toml"])
def test_target_path_that_is_not_a_file(devbench, tmp_path: Path, path: str) -> None:
    (tmp_path / "dir.toml").mkdir()
    devbench("targets", "--targets-file", tmp_path / path).assert_one_line_error("cannot read target file")


def test_a_bad_file_in_the_user_directory_is_named(devbench, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEVBENCH_TARGETS_DIR", str(tmp_path))
    (tmp_path / "mine.toml").write_text(LOCAL + "emulated = 1\n")
    devbench("targets").assert_one_line_error(str(tmp_path / "mine.toml"), "emulated")
