"""Every built-in board target is a target TVM 0.27 accepts, with the CPU and GPU the board has."""

from __future__ import annotations

import json

import pytest
from tvm.target import Target as TVMTarget
from tvm.target import codegen

from devbench.targets import all_targets

BOARDS = {  # name -> (TVM kind, CUDA arch, CPU mcpu of the code that runs on the ARM/x86 cores)
    "emulated-pi": ("llvm", None, "cortex-a72"),
    "pi3": ("llvm", None, "cortex-a53"),
    "pi4": ("llvm", None, "cortex-a72"),
    "pi5": ("llvm", None, "cortex-a76"),
    "jetson-nano": ("cuda", "sm_53", "cortex-a57"),
    "jetson-xavier-nx": ("cuda", "sm_72", "carmel"),
    "jetson-agx-xavier": ("cuda", "sm_72", "carmel"),
    "jetson-orin-nano": ("cuda", "sm_87", "cortex-a78ae"),
    "aarch64-ssh": ("llvm", None, None),
    "x86_64-ssh": ("llvm", None, None),
}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_target_builds_in_tvm(name: str) -> None:
    target = all_targets()[name]
    kind, arch, mcpu = BOARDS[name]
    tvm_target = TVMTarget(target.tvm_target_dict())
    assert tvm_target.kind.name == kind
    cpu = tvm_target.host if kind == "cuda" else tvm_target
    exported = cpu.export()
    assert exported.get("mcpu") == mcpu
    if mcpu is not None:  # an mcpu LLVM does not know only warns and silently means "generic"
        assert mcpu in codegen.llvm_get_cpu_archlist(cpu)
    if kind == "cuda":
        assert tvm_target.export()["arch"] == arch
        assert target.device == "cuda"
    assert target.transport == "ssh" and target.ssh is not None
    if exported["mtriple"].startswith("aarch64"):
        assert target.cross_compiler == "aarch64-linux-gnu-g++"
        assert exported.get("feature.is_aarch64") is True


def test_board_cli_status_and_port_checks(tmp_path, monkeypatch) -> None:
    from devbench.boards.sshd import LoopbackSSHD
    from devbench.errors import DevbenchError
    from tests.conftest import run_cli

    result = run_cli("board", "emulate", "--status", env={"DEVBENCH_CACHE_DIR": str(tmp_path)})
    assert result.returncode == 1 and "emulated-pi: not running" in result.stdout
    result = run_cli("board", "emulate", "--status", "--format", "json", env={"DEVBENCH_CACHE_DIR": str(tmp_path)})
    doc = json.loads(result.stdout)
    assert result.returncode == 1 and doc["name"] == "emulated-pi" and doc["running"] is False and doc["pid"] is None
    for port in (22, 80):
        with pytest.raises(DevbenchError, match="never 22"):
            LoopbackSSHD(tmp_path, port)
