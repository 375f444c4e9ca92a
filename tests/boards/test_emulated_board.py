"""The emulated aarch64 board for real: qemu-user Python behind sshd, a cross-compiled network on it,
measured in one matrix with this machine (the board itself: tests/boards/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devbench.bench import MeasureSettings, run_matrix
from devbench.boards import emulate
from devbench.boards.sshd import port_open
from devbench.doctor import doctor
from devbench.errors import DevbenchError
from devbench.results import ResultStore
from devbench.targets import get_target
from tests.boards.conftest import NEEDS_EMULATION

pytestmark = [pytest.mark.slow, NEEDS_EMULATION]


def test_emulated_board_runs_a_cross_compiled_network(board: emulate.BoardStatus, tmp_path: Path) -> None:
    assert board.running and board.build_s == 0.0  # the shared root filesystem was reused
    with pytest.raises(DevbenchError, match="already runs on port"):
        emulate.start(board.port + 1)
    target = get_target(emulate.NAME)  # the user target file the start wrote through board add
    assert target.ssh.port == board.port and target.emulated

    diagnosis = doctor(target)
    assert diagnosis.probe["environment"]["machine"] == "aarch64"
    assert diagnosis.probe["environment"]["qemu"] is True
    assert diagnosis.ok, diagnosis.lines()  # tvm present, at the host's version

    # The farm path as a user runs it: one matrix, the emulated board and this machine in parallel,
    # each cross-/compiled by the TVM and ExecuTorch backends (ExecuTorch's glue for aarch64, run with
    # no torch on the board), each output checked against PyTorch.
    store = ResultStore(tmp_path / "r.sqlite")
    rows = run_matrix(["resnet8"], [emulate.NAME, "local"], ["tvm", "executorch"], MeasureSettings(), store,
                      progress=False)
    by_target = {(r.target, r.backend): r for r in rows}
    for backend in ("tvm", "executorch"):
        emulated = by_target[emulate.NAME, backend]
        assert emulated.status == "ok" and emulated.output_check == "pass", emulated.error
        assert emulated.emulated and emulated.environment["machine"] == "aarch64"
        assert emulated.n_samples == 3  # the target's [measure] defaults: emulated runs are slow
        assert by_target["local", backend].status == "ok" and not by_target["local", backend].emulated
    assert len(store.rows()) == 4

    assert emulate.stop() and not port_open(board.port)
    assert not emulate.status().running
