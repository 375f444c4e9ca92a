"""`devbench completion bash` completes verbs and options in a real bash."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import run_cli


def _complete(script: str, words: list[str]) -> list[str]:
    """What bash offers after ``words`` (the last one being completed), through the script's function."""
    line = " ".join(words)
    program = (f"source /dev/stdin <<'EOF'\n{script}\nEOF\n"
               f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
               f"COMP_LINE={line!r}; COMP_POINT={len(line)}; _shtab_devbench; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    return subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True).stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_verbs_options_and_choices() -> None:
    result = run_cli("completion", "bash")
    assert result.returncode == 0, result.stderr
    script = result.stdout
    assert _complete(script, ["devbench", "exp"]) == ["experiment"]
    assert "--dry-run" in _complete(script, ["devbench", "experiment", "--dr"])
    assert sorted(_complete(script, ["devbench", "experiment", "--device", ""])) == ["cpu", "cuda"]
    assert _complete(script, ["devbench", "board", "em"]) == ["emulate"]


def test_an_unknown_shell_is_one_line() -> None:
    result = run_cli("completion", "fish")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "invalid choice" in result.stderr
