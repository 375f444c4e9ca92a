"""The local board's cancel(): Ctrl-C may land between two runs, and the next one must not start."""

from __future__ import annotations

import pytest

from devbench.board.protocol import RunRequest
from devbench.errors import DevbenchError
from devbench.targets import get_target
from devbench.transports.base import BoardJob
from devbench.transports.local import LocalTransport


def test_a_cancel_between_two_runs_refuses_the_next_one() -> None:
    transport = LocalTransport(get_target("local"))
    probe = BoardJob(files={}, request=RunRequest(mode="probe", out="probe.json"))
    assert "error" not in transport.run(probe)
    transport.cancel()  # no runner in flight: the flag alone must stop what comes next
    with pytest.raises(DevbenchError, match="^interrupted"):
        transport.run(probe)
