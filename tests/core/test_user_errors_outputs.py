"""An output file that cannot be written (a directory, a path under /proc) is one line naming the
flag and the path, exit 2, before any work: `plot` opens no database, `profile` profiles nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbench.cli import main
from devbench.errors import DevbenchError
from devbench.paths import check_output_file


@pytest.mark.parametrize("verb", [["plot", "--db", "{db}", "--out"],
                                  ["profile", "--model", "resnet8", "--backend", "onnxruntime", "--plot"]])
def test_directory_and_proc_are_refused_first(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              verb: list[str]) -> None:
    db = tmp_path / "results.sqlite"
    flag = verb[-1]
    (tmp_path / "d.png").mkdir()
    args = [a.replace("{db}", str(db)) for a in verb]
    directory = tmp_path / "d.png"
    assert main([*args, str(directory)]) == 2
    assert capsys.readouterr().err == f"devbench: error: {flag} {directory} is a directory; name a file in it\n"
    assert main([*args, "/proc/devbench.png"]) == 2
    assert capsys.readouterr().err.startswith(f"devbench: error: {flag} /proc/devbench.png: cannot write there (")
    assert not db.exists()


def test_the_check_leaves_files_as_they_were(tmp_path: Path) -> None:
    new, old = tmp_path / "new.png", tmp_path / "old.png"
    old.write_bytes(b"kept")
    assert check_output_file(new, "--out") == new and not new.exists()
    assert check_output_file(old, "--out") == old and old.read_bytes() == b"kept"
    with pytest.raises(DevbenchError, match="directory .*nowhere does not exist"):
        check_output_file(tmp_path / "nowhere" / "x.png", "--out")
