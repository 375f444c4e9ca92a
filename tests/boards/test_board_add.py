"""`board add` / `list` / `remove`, ~/.ssh/config hosts as targets and the emulated board's target
file, from canned probes: no board, sshd or qemu needed (tests/boards/test_board_add_emulated.py
does it for real)."""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from devbench.boards import add, aliases, cpus, emulate
from devbench.boards.sshd import LoopbackSSHD, free_port
from devbench.doctor import NUMPY, RUNTIMES, pip_install
from devbench.errors import DevbenchError
from devbench.targets import get_target, load_target_file, user_targets_dir
from tests.conftest import run_cli

TVM = metadata.version("apache-tvm")


def runtimes(**present: str) -> dict[str, str | None]:
    """The probe's runtimes, by each backend's module: missing unless ``present`` (by backend) names a version
    (backends that share a module, onnxruntime and onnxruntime_trt, share its version)."""
    found: dict[str, str | None] = {}
    for backend, runtime in RUNTIMES.items():
        found[runtime.module] = found.get(runtime.module) or present.get(backend)
    return found


def probe(machine: str = "aarch64", parts: tuple[str, ...] = (), qemu: bool = False, cores: int = 4,
          found_runtimes: dict[str, str | None] | None = None, **hardware: Any) -> dict[str, Any]:
    """What runner.py --mode probe answers, trimmed to what board add reads."""
    return {
        "environment": {"machine": machine, "system": "Linux 6.6", "cpu": hardware.pop("cpu", "some CPU"),
                        "cores": cores, "python": "3.11.2", "numpy": "2.4.6", "qemu": qemu},
        "hardware": {"cpu_parts": list(parts), "cpu_features": [], "cpu_flags": [], "compatible": [], **hardware},
        "runtimes": found_runtimes or runtimes(tvm=TVM),
    }


def described(name: str, found: dict[str, Any], like: str | None = None, **request: Any) -> add.Board:
    req = add.BoardRequest(name, "board.lan", like=like, **request)
    return add.describe(req, found, add.kind_target(req))


def test_every_core_in_the_table_is_a_cpu_tvms_llvm_knows() -> None:
    from tvm.target import Target as TVMTarget
    from tvm.target import codegen

    known = set(codegen.llvm_get_cpu_archlist(TVMTarget({"kind": "llvm", "mtriple": "aarch64-linux-gnu"})))
    assert {c.mcpu for c in cpus.ARM_CORES.values()} <= known
    x86 = set(codegen.llvm_get_cpu_archlist(TVMTarget({"kind": "llvm", "mtriple": "x86_64-linux-gnu"})))
    assert {name for name, _ in cpus.X86_LEVELS} <= x86


def test_a_pi4_gets_its_core_its_cores_and_what_it_can_import() -> None:
    board = described("lab-pi", probe(parts=("0x41:0xd08",) * 4, model="Raspberry Pi 4 Model B Rev 1.4"))
    t = board.table
    assert t["tvm"]["target"] == {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "cortex-a72",
                                  "mattr": ["+neon"], "num-cores": 4}
    assert t["tvm"]["cross_compiler"] == "aarch64-linux-gnu-g++"
    assert t["threads"] == 4 and t["backends"] == ["tvm"] and "emulated" not in t and "device" not in t
    assert board.assumed == ()  # the core was named, nothing had to be assumed
    missing = [b for b in get_target("pi4").backends if b != "tvm"]
    assert [m.split(":")[0] for m in board.missing] == missing
    assert board.install == pip_install("python3", [RUNTIMES[b] for b in missing])  # one command for all of it
    assert "onnxruntime" in board.install and "torch" in board.install
    assert "Raspberry Pi 4 Model B" in t["description"]


def test_a_tvm_of_another_version_is_missing_and_pinned_to_the_hosts() -> None:
    board = described("box", probe(parts=("0x41:0xd0b",) * 4, found_runtimes=runtimes(tvm="0.20.0", onnxruntime="1.2")))
    assert board.table["backends"] == ["onnxruntime"] and board.table["tvm"]["target"]["mcpu"] == "cortex-a76"
    assert f"apache-tvm=={TVM}" in board.install and "torch" in board.install


def test_a_jetson_orin_gets_cuda_with_its_cpu_as_the_host() -> None:
    board = described("orin", probe(parts=("0x41:0xd42",) * 6, cores=6, compatible=["nvidia,p3768", "nvidia,tegra234"],
                                    l4t="# R36 (release), REVISION: 3.0", cuda="12.6.68",
                                    found_runtimes=runtimes(**{b: "1.0" for b in RUNTIMES} | {"tvm": TVM})))
    t = board.table
    assert t["device"] == "cuda" and t["tvm"]["target"] == {"tag": "nvidia/jetson-orin-nano"}
    assert t["tvm"]["host"]["mcpu"] == "cortex-a78ae" and t["threads"] == 6
    assert t["backends"] == list(get_target("jetson-orin-nano").backends) and board.install is None
    assert "onnxruntime_trt" in t["backends"]  # a GPU board gets the GPU-only backend; a CPU one never does
    assert any("CUDA 12.6.68" in f for f in board.facts)


def test_a_jetson_is_asked_whether_its_runtimes_use_its_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip's aarch64 onnxruntime imports on a Jetson but has no CUDA provider: the first probe (asked
    about the CPU) passed it, and every run of the written CUDA target failed."""
    from devbench import doctor

    asked = []

    def jetson(target, trust_new_host=False):  # type: ignore[no-untyped-def]
        asked.append(target.device)
        found = probe(parts=("0x41:0xd42",) * 6, cores=6, compatible=["nvidia,p3768", "nvidia,tegra234"],
                      cuda="12.6.68", found_runtimes=runtimes(tvm=TVM, onnxruntime="1.20.0", torch="2.5.0"))
        cpu_build = "onnxruntime 1.20.0 here cannot use CUDAExecutionProvider: it has CPUExecutionProvider"
        return found | {"unusable": {"onnxruntime": cpu_build} if target.device == "cuda" else {}}

    monkeypatch.setattr(doctor, "probe", jetson)
    req = add.BoardRequest("orin", "board.lan")
    board = add.describe(req, add.probe_board(req), add.kind_target(req))
    assert asked == ["cpu", "cuda"] and board.table["device"] == "cuda"
    assert "onnxruntime" not in board.table["backends"] and {"tvm", "torch"} <= set(board.table["backends"])
    assert any(m.startswith("onnxruntime: ") and "CUDAExecutionProvider" in m for m in board.missing)
    assert board.install is None  # pip's onnxruntime is what the board has: installing it again mends nothing


PI4_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n" for i in range(4)
) + "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"


def test_the_runner_probe_reads_a_pis_cores_and_a_jetsons_chip(monkeypatch: pytest.MonkeyPatch) -> None:
    from devbench.board import runner

    files = {"/proc/cpuinfo": PI4_CPUINFO, "/proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.4\0"}
    monkeypatch.setattr(runner, "read_first", lambda path: files.get(path))
    hardware = runner.hardware()
    assert hardware["cpu_parts"] == ["0x41:0xd08"] * 4 and hardware["model"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert hardware["cpu_features"][:2] == ["fp", "asimd"] and hardware["l4t"] is None
    assert cpus.arm_core(hardware["cpu_parts"]).name == "Cortex-A72"
    files.update({"/proc/device-tree/compatible": "nvidia,p3768-0000+p3767-0005\0nvidia,tegra234\0",
                  "/etc/nv_tegra_release": "# R36 (release), REVISION: 4.0, GCID: 1\nmore"})
    hardware = runner.hardware()
    assert cpus.jetson_gpu(hardware) == ("nvidia/jetson-orin-nano", "Ampere sm_87")
    assert hardware["l4t"] == "# R36 (release), REVISION: 4.0, GCID: 1"


def test_big_little_takes_the_core_most_processors_have_ties_to_the_big_ones() -> None:
    assert cpus.arm_core(["0x41:0xd05"] * 4 + ["0x41:0xd0b"] * 4).mcpu == "cortex-a76"  # RK3588
    assert cpus.arm_core(["0x41:0xd05"] * 6 + ["0x41:0xd0b"] * 2).mcpu == "cortex-a55"
    assert cpus.arm_core(["0x51:0x801", "junk"]) is None


def test_an_emulated_board_behind_a_jetson_name_gets_a_cpu_target_it_can_run() -> None:
    """qemu-user shows the host's /proc/cpuinfo (x86 flags, no CPU part) and no Tegra chip: the
    Jetson kind's core is assumed, its CUDA is not, and the board is marked emulated."""
    found = probe(qemu=True, cores=2, cpu="Intel(R) Xeon(R) Processor", cpu_flags=["avx2", "sse4_2"])
    board = described("jetson", found)
    t = board.table
    assert t["tvm"]["target"]["mcpu"] == "cortex-a78ae" and "device" not in t
    assert t["emulated"] is True and t["threads"] == 1 and t["measure"]["repeats"] == 3
    assert t["backends"] == ["tvm"] and board.install is None
    assert any("no Jetson GPU" in a for a in board.assumed) and any("assumed from jetson-orin-nano" in a
                                                                    for a in board.assumed)
    assert described("box", found).table["tvm"]["target"].get("mcpu") is None  # no kind: generic aarch64


def test_x86_boards_get_the_level_their_flags_show() -> None:
    v3 = ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
          "cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"]
    board = described("nuc", probe(machine="x86_64", cpu="Some Other CPU", cpu_flags=v3))
    assert board.table["tvm"]["target"]["mcpu"] == "x86-64-v3"
    assert cpus.x86_level({"avx512f"}) is None
    with pytest.raises(DevbenchError, match="riscv64"):
        described("vf2", probe(machine="riscv64"))


def test_add_writes_a_valid_file_once_and_never_replaces_the_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(add, "probe_board", lambda request, trust_new_host=False: probe(parts=("0x41:0xd08",) * 4))
    request = add.make_request("mypi", "pi@10.0.0.7:2200")
    first = add.add_board(request)
    assert first.changed and first.path == user_targets_dir() / "mypi.toml"
    assert first.text.startswith(add.MARK) and "# probed: CPU some CPU, 4 cores: Cortex-A72" in first.text
    target = get_target("mypi")
    assert (target.ssh.host, target.ssh.port, target.ssh.user) == ("10.0.0.7", 2200, "pi")
    assert tomllib.loads(first.path.read_text())["backends"] == ["tvm"]
    assert not add.add_board(request).changed  # the same board again: the file is left as it is

    (user_targets_dir() / "mine.toml").write_text('name = "mine"\n')
    with pytest.raises(DevbenchError, match="not written by devbench"):
        add.add_board(add.make_request("mine", "h"))
    with pytest.raises(DevbenchError, match="did you mean"):
        add.kind_target(add.make_request("x", "h", like="pi44"))

    rows = add.list_boards(check=False)
    assert [r["name"] for r in rows] == ["mine", "mypi"] and rows[1]["host"] == "pi@10.0.0.7:2200"
    assert add.remove_board("mypi") == first.path and not first.path.exists()
    with pytest.raises(DevbenchError, match="built-in"):
        add.remove_board("pi4")


def test_a_board_without_numpy_gets_one_command_for_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    from devbench import doctor

    def no_numpy(target: object, trust_new_host: bool = False) -> dict[str, Any]:
        raise doctor.NoNumpy("no numpy")

    monkeypatch.setattr(doctor, "probe", no_numpy)
    everything = pip_install("python3", [NUMPY, *(RUNTIMES[b] for b in get_target("pi4").backends)])
    with pytest.raises(DevbenchError, match=re.escape(everything)):
        add.add_board(add.make_request("pi", "pi.lan"))


def test_board_cli_refuses_bad_hosts_and_keys_before_connecting(tmp_path: Path) -> None:
    result = run_cli("board", "add", "x", "--host", "a@b:99999")
    assert result.returncode == 2 and "not between 1 and 65535" in result.stderr
    result = run_cli("board", "add", "x", "--host", "b", "--key", str(tmp_path / "nope"))
    assert result.returncode == 2 and "no such file" in result.stderr
    result = run_cli("board", "list", "--no-check")
    assert result.returncode == 0 and "no boards yet" in result.stdout


def test_board_add_probes_a_board_over_ssh_and_list_sees_it_answer(tmp_path: Path) -> None:
    """This machine's Python behind a loopback sshd, as an x86-64 board: the real probe, over SSH."""
    sshd = LoopbackSSHD(tmp_path / "sshd", free_port())
    sshd.start()
    try:
        added = run_cli("board", "add", "loopx", "--host", f"{getpass.getuser()}@127.0.0.1:{sshd.port}",
                        "--key", str(sshd.client_key), "--python", sys.executable, "--trust-new-host",
                        "--format", "json")
        assert added.returncode == 0, added.stderr
        doc = json.loads(added.stdout)
        assert doc["name"] == "loopx" and doc["changed"] and Path(doc["path"]).is_file()
        assert doc["target"]["name"] == "loopx" and doc["missing"] == []
        target = get_target("loopx")
        assert target.tvm_target["mtriple"] == "x86_64-linux-gnu" and target.cross_compiler is None
        assert {"tvm", "onnxruntime", "torch"} <= set(target.backends) and not target.emulated
        assert target.threads == os.cpu_count()
        assert [(r["name"], r["reachable"]) for r in add.list_boards()] == [("loopx", "yes")]
    finally:
        sshd.stop()
    assert add.list_boards()[0]["reachable"].startswith("no: ")
    removed = run_cli("board", "remove", "loopx", "--format", "json")
    assert json.loads(removed.stdout) == {"removed": "loopx", "path": doc["path"]} and not add.list_boards()


@pytest.fixture
def ssh_config() -> Path:
    path = Path(os.environ["HOME"]) / ".ssh" / "config"
    path.parent.mkdir(parents=True)
    path.write_text("Host jetson\n  HostName 192.0.2.1\n  User nvidia\n\nHost *\n  ServerAliveInterval 30\n")
    return path


def test_an_ssh_config_host_is_a_target_probed_once_and_says_what_it_assumed(
    ssh_config: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devbench")  # the note is devbench's INFO, as the CLI shows it
    calls: list[str] = []

    def fake_probe(request: add.BoardRequest, trust_new_host: bool = False) -> dict[str, Any]:
        calls.append(request.host)
        return probe(qemu=True, cores=2)

    monkeypatch.setattr(aliases, "probe_board", fake_probe)
    target = get_target("jetson")
    assert target.ssh.host == "jetson" and target.device == "cpu" and target.emulated
    assert target.tvm_target["mcpu"] == "cortex-a78ae"
    note = caplog.text
    assert note.count("\n") == 1 and "jetson-orin-nano defaults" in note and "no Jetson GPU" in note
    assert "devbench board add jetson --host jetson" in note
    assert get_target("jetson", threads=1).threads == 1 and calls == ["jetson"]  # one probe per process
    with pytest.raises(DevbenchError, match="did you mean jetson"):
        get_target("jetsno-x")


def test_an_ssh_config_host_that_cannot_be_probed_takes_the_kinds_defaults(
    ssh_config: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devbench")
    ssh_config.write_text(ssh_config.read_text() + "\nHost raspberrypi\n  HostName 192.0.2.2\n\nHost nas\n")

    def unknown_key(request: add.BoardRequest, trust_new_host: bool = False) -> dict[str, Any]:
        raise DevbenchError(f"unknown host key for board {request.name}")

    monkeypatch.setattr(aliases, "probe_board", unknown_key)
    target = get_target("raspberrypi")
    assert target.ssh.host == "raspberrypi" and target.tvm_target["mcpu"] == "cortex-a72"  # pi4's, as built in
    assert "built-in pi4 defaults as they are" in caplog.text
    with pytest.raises(DevbenchError, match="could not probe it"):  # no kind to fall back on
        get_target("nas")


def test_the_emulated_board_target_is_written_by_board_add(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[add.BoardRequest] = []

    def fake_probe(request: add.BoardRequest, trust_new_host: bool = False) -> dict[str, Any]:
        seen.append(request)
        return probe(qemu=True, cores=2)

    monkeypatch.setattr(add, "probe_board", fake_probe)
    path = emulate.write_target(2345)
    assert path == user_targets_dir() / "emulated-pi.toml" and add.written_by_devbench(path)
    target = load_target_file(path)[0]
    assert target.emulated and target.ssh.port == 2345 and target.tvm_target["mcpu"] == "cortex-a72"
    assert target.backends == ("tvm",) and target.measure["rounds"] == 1 and target.ssh.python == "python3"
    os.utime(path, ns=(0, 0))
    assert emulate.write_target(2345) is None and path.stat().st_mtime_ns == 0  # up to date: left alone
    assert emulate.write_target(2346) == path and load_target_file(path)[0].ssh.port == 2346
    assert seen[0].key_file == "{cache}/boards/emulated-pi/ssh/client_ed25519"

    path.write_text("# my own\n" + path.read_text())  # now the user's file
    assert emulate.write_target(emulate.DEFAULT_PORT) is None
    with pytest.raises(DevbenchError, match="not written by devbench"):
        emulate.write_target(2347)
