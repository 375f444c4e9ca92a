"""An RPC target whose tracker does not listen fails at once with one line, as an unreachable SSH board
does, not after TVM's minute of retries with a warning line every 5 seconds."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.conftest import run_cli


def test_an_unreachable_tracker_is_one_line_at_once(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port that nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = tmp_path / "rpc.toml"
    target.write_text(f'name = "rpcb"\ntransport = "rpc"\nthreads = 2\n[rpc]\ntracker_host = "127.0.0.1"\n'
                      f'tracker_port = {port}\nkey = "pi"\n')
    start = time.monotonic()
    r = run_cli("run", "--model", "resnet8", "--targets-file", str(target), "--target", "rpcb",
                "--backend", "onnxruntime", "--rounds", "1", "--db", str(tmp_path / "r.db"), timeout=120)
    elapsed = time.monotonic() - start
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [f"devbench: error: cannot reach the RPC tracker of rpcb at 127.0.0.1:{port}: "
                                     f"Connection refused; check the [rpc] table in {target}"]
    assert elapsed < 30  # TVM alone retries for 60 s
