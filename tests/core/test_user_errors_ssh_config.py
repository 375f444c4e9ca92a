"""A ``Port`` in ``~/.ssh/config`` that is no port is the user's mistake: one line naming the file,
the host and the value, exit 2, whichever verb read the config first."""

from __future__ import annotations

from pathlib import Path

import pytest

from devbench.errors import DevbenchError
from devbench.targets import SSHConfig
from devbench.transports.ssh import resolve_endpoint
from tests.conftest import run_cli


def _config(port: str) -> Path:
    """``Host weird`` with ``port`` in the real ``~/.ssh/config`` of the test's HOME."""
    path = Path.home() / ".ssh" / "config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"Host weird\n  HostName 127.0.0.1\n  Port {port}\n")
    return path


@pytest.mark.parametrize("port", ["notaport", "0", "70000", "-22"])
def test_bad_port_is_named(port: str) -> None:
    path = _config(port)
    with pytest.raises(DevbenchError, match=rf"Host weird has Port '{port}'; a port is a number from 1 to 65535"):
        resolve_endpoint("weird", SSHConfig(host="weird"), path)


def test_good_port_still_read() -> None:
    assert resolve_endpoint("weird", SSHConfig(host="weird"), _config("2200")).port == 2200


@pytest.mark.parametrize("verb", [
    ["doctor", "--target", "weird"],
    ["board", "add", "wb", "--host", "weird"],
    ["run", "--model", "resnet8", "--target", "weird", "--backend", "onnxruntime"],
])
def test_every_verb_says_it_in_one_line(verb: list[str]) -> None:
    _config("notaport")
    done = run_cli(*verb)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [f"devbench: error: {Path.home()}/.ssh/config: Host weird has "
                                                 "Port 'notaport'; a port is a number from 1 to 65535"]
