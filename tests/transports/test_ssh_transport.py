"""A real OpenSSH sshd on loopback running this machine's Python as an x86 "remote" board."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import psutil
import pytest
from onnx import TensorProto, helper

from devbench.board.protocol import RunRequest
from devbench.boards.sshd import LoopbackSSHD, free_port
from devbench.doctor import doctor
from devbench.errors import DevbenchError
from devbench.targets import Target, target_from_dict
from devbench.transports import ssh as ssh_module
from devbench.transports.base import BoardJob
from devbench.transports.ssh import SSHTransport, resolve_endpoint

WEIGHT = np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5


def board_target(sshd: LoopbackSSHD, tmp: Path, python: str = sys.executable, known_hosts: Path | None = None,
                 **ssh: object) -> Target:
    return target_from_dict(
        {
            "name": "x86-loopback", "transport": "ssh", "threads": 1, "backends": ["tvm", "onnxruntime"],
            "ssh": {
                "host": "127.0.0.1", "port": sshd.port, "key_file": str(sshd.client_key),
                "known_hosts": str(known_hosts or tmp / "known_hosts"), "python": python,
                "workdir": str(tmp / "work"), "connect_timeout_s": 5.0, **ssh,
            },
        },
        "test",
    )


def tiny_onnx(path: Path) -> Path:
    """y = relu(x @ W): small enough to build by hand, real enough for onnxruntime."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3], WEIGHT.ravel().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def measure_job(artifact_name: str, artifact: Path, x: Path, **extra: object) -> BoardJob:
    request = RunRequest(backend="onnxruntime", artifact=artifact_name, input="input.npy", threads=1, warmup=1,
                         repeats=5, **extra)
    return BoardJob(files={artifact_name: artifact, "input.npy": x}, request=request)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    server = LoopbackSSHD(tmp_path_factory.mktemp("sshd"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def board(sshd: LoopbackSSHD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    """A target whose known_hosts trusts ``sshd``; devbench's own known_hosts is a temp file."""
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "devbench_known_hosts"))
    sshd.write_known_hosts(tmp_path / "known_hosts")
    return board_target(sshd, tmp_path)


@pytest.fixture
def model(tmp_path: Path) -> tuple[Path, Path]:
    x = np.array([[1.0, -2.0, 3.0, 0.5]], dtype=np.float32)
    np.save(tmp_path / "input.npy", x)
    return tiny_onnx(tmp_path / "tiny.onnx"), tmp_path / "input.npy"


@pytest.mark.slow
def test_probe_and_onnxruntime_run_on_ssh_board(board: Target, model: tuple[Path, Path], tmp_path: Path) -> None:
    with SSHTransport(board) as t:
        probe = t.run(BoardJob(files={}, request=RunRequest(mode="probe", out="probe.json")))
        assert probe["runtimes"]["onnxruntime"] is not None
        assert probe["environment"]["machine"] == "x86_64"
        result = t.run(measure_job("tiny.onnx", *model))
    assert "error" not in result, result
    assert len(result["samples_ms"]) >= 5
    expected = np.maximum(np.load(model[1]) @ WEIGHT, 0)
    np.testing.assert_allclose(np.array(result["output"]), expected, rtol=1e-6)
    assert list((tmp_path / "work").iterdir()) == []  # run directories are removed


def test_hostile_names_are_data_not_commands(board: Target, model: tuple[Path, Path], tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    # A file name cannot hold "/", so its commands are relative: they would land in $HOME or the run dir.
    hostile = "x; touch pwned $(touch pwned2) `touch pwned3` '\"$USER.onnx"
    job = measure_job(hostile, *model, device=f"cpu; touch {pwned}4 $(touch {pwned}5)")
    with SSHTransport(board) as t:
        result = t.run(job)
        assert "error" not in result, result  # the file arrived under that exact name and was loaded
        with pytest.raises(DevbenchError, match="not a plain file name"):
            t.run(measure_job("../escape.onnx", *model))
    assert not list(tmp_path.glob("pwned*")) and not list(Path.home().glob("pwned*"))
    assert list((tmp_path / "work").iterdir()) == []


def test_unknown_host_key_is_refused_until_trusted(sshd: LoopbackSSHD, tmp_path: Path, model: tuple[Path, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "devbench_known_hosts"))
    target = board_target(sshd, tmp_path)
    job = measure_job("tiny.onnx", *model)
    with pytest.raises(DevbenchError, match=r"unknown host key .*127\.0\.0\.1.*SHA256:.*--trust-new-host"):
        SSHTransport(target).run(job)
    with SSHTransport(target, trust_new_host=True) as t:
        assert "samples_ms" in t.run(job)
    assert f"[127.0.0.1]:{sshd.port} ssh-ed25519" in (tmp_path / "known_hosts").read_text()
    with SSHTransport(target) as t:  # now known: no flag needed
        assert "samples_ms" in t.run(job)


def test_changed_host_key_is_refused(sshd: LoopbackSSHD, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "devbench_known_hosts"))
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    key_type, key = Path(f"{other}.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key}\n")
    target = board_target(sshd, tmp_path)
    with pytest.raises(DevbenchError, match=r"host key of board .*CHANGED"):
        SSHTransport(target, trust_new_host=True).run(
            BoardJob(files={}, request=RunRequest(mode="probe", out="p.json")))


def test_doctor_names_what_a_board_without_tvm_misses(sshd: LoopbackSSHD, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "devbench_known_hosts"))
    sshd.write_known_hosts(tmp_path / "known_hosts")
    # The board's python cannot import tvm: a module of that name that refuses to load shadows it.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "tvm.py").write_text("raise ImportError('no TVM on this board')\n")
    python = tmp_path / "python3"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={shadow} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    diagnosis = doctor(board_target(sshd, tmp_path, python=str(python)))
    checks = {c.backend: c for c in diagnosis.checks}
    assert not diagnosis.ok
    assert not checks["tvm"].ok and "tvm is missing" in checks["tvm"].detail
    assert checks["tvm"].install.startswith(f"{python} -m pip install apache-tvm==")
    assert checks["onnxruntime"].ok
    text = "\n".join(diagnosis.lines())
    assert "MISSING: tvm is missing" in text and "disk free" in text


def test_sshd_killed_mid_run_is_a_clear_error(tmp_path: Path, model: tuple[Path, Path],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssh_module, "BACKOFF_S", 0.2)
    monkeypatch.setenv("DEVBENCH_KNOWN_HOSTS", str(tmp_path / "devbench_known_hosts"))
    server = LoopbackSSHD(tmp_path / "sshd", free_port())
    server.start()
    server.write_known_hosts(tmp_path / "known_hosts")
    master = psutil.Process(server.pid())

    def kill_server() -> None:
        time.sleep(3)
        for p in [*master.children(recursive=True), master]:
            if "sshd" in p.name():
                p.kill()

    killer = threading.Thread(target=kill_server)
    try:
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(DevbenchError, match=r"(lost the connection to|cannot reach) board x86-loopback at 127"):
            SSHTransport(board_target(server, tmp_path)).run(measure_job("tiny.onnx", *model, min_time_s=6.0))
        assert time.monotonic() - t0 < 6  # the drop is noticed, not waited out
    finally:
        killer.join()
        server.stop()
        for p in psutil.process_iter(["cwd"]):  # the orphaned runner of the dropped session
            if str(tmp_path / "work") in (p.info.get("cwd") or ""):
                p.kill()


def test_run_past_its_timeout_is_stopped(board: Target, model: tuple[Path, Path], tmp_path: Path) -> None:
    job = measure_job("tiny.onnx", *model, min_time_s=30.0)
    with SSHTransport(board) as t, pytest.raises(DevbenchError, match="did not finish within 2 s"):
        t.run(BoardJob(job.files, job.request, timeout_s=2))
    assert list((tmp_path / "work").iterdir()) == []  # killed and cleaned up, not left running


def test_ssh_config_alias_is_honoured(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host mypi\n  HostName 10.1.2.3\n  Port 2200\n  User alice\n")
    target = target_from_dict({"name": "p", "transport": "ssh", "threads": 1, "ssh": {"host": "mypi"}}, "test")
    ep = resolve_endpoint(target.name, target.ssh, config)
    assert (ep.hostname, ep.port, ep.user) == ("10.1.2.3", 2200, "alice")
    target = target_from_dict({"name": "p", "transport": "ssh", "threads": 1, "ssh": {"host": "mypi", "port": 22}},
                              "test")
    assert resolve_endpoint(target.name, target.ssh, config).port == 22  # the target file wins


def test_unreachable_board_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssh_module, "BACKOFF_S", 0.05)
    target = target_from_dict(
        {"name": "gone", "transport": "ssh", "threads": 1, "ssh": {"host": "127.0.0.1", "port": free_port()}}, "test"
    )
    with pytest.raises(DevbenchError, match=r"cannot reach board gone at 127\.0\.0\.1:\d+") as e:
        SSHTransport(target).run(BoardJob(files={}, request=RunRequest(mode="probe", out="p.json")))
    assert "\n" not in str(e.value)
