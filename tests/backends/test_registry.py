"""Each backend is described once: its module and one registry line, read by everything else.

The host's backend names, the board runner's backends and the runtimes the probe reports must be
the same list; a backend module must import on a board that has nothing of devbench, torch or any
runtime; and a backend registered in one place is offered by ``--backend``, targets, doctor, the
transports' uploads and the runner, with no other edit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from devbench.backends import BACKENDS, REGISTERED, board_modules
from devbench.board.protocol import RunRequest
from devbench.targets import get_target
from devbench.transports import BoardJob, open_transport
from devbench.transports.base import BOARD_FILES

BACKEND_DIR = Path(__file__).resolve().parents[2] / "devbench" / "backends"


def test_every_backend_module_is_registered_under_its_own_name() -> None:
    files = sorted(p.name.removesuffix("_backend.py") for p in BACKEND_DIR.glob("*_backend.py"))
    assert files == sorted(REGISTERED) == sorted(BACKENDS)
    for name, backend in BACKENDS.items():
        assert backend.info.name == name
        assert Path(sys.modules[type(backend).__module__].__file__).name == f"{name}_backend.py"
    assert len({b.info.artifact for b in BACKENDS.values()}) == len(BACKENDS)  # one cache dir may hold any two
    assert set(board_modules()) <= set(BOARD_FILES)


def test_backend_modules_import_on_a_board_with_only_the_standard_library(tmp_path: Path) -> None:
    """The board side of every backend loads where devbench, numpy, torch and every runtime are
    missing: a module that imports one of them at its top level would break every board."""
    for name, path in BOARD_FILES.items():
        shutil.copy(path, tmp_path / name)
    script = textwrap.dedent("""
        import importlib, importlib.abc, json, sys
        BLOCKED = {"devbench", "numpy", "torch", "tvm", "tvm_ffi", "onnx", "onnxruntime", "executorch"}

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] in BLOCKED:
                    raise ImportError(f"{name} is not on this board")

        sys.meta_path.insert(0, Block())
        names = sys.argv[1:]
        infos = {n: importlib.import_module(f"{n}_backend").BACKEND.info for n in names}
        print(json.dumps({n: [i.name, i.runtime.module] for n, i in infos.items()}))
    """)
    proc = subprocess.run([sys.executable, "-c", script, *REGISTERED], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found == {n: [n, b.info.runtime.module] for n, b in BACKENDS.items()}


def test_the_probe_reports_the_runtime_of_every_registered_backend() -> None:
    """What the runner's probe knows comes from the uploaded backend modules, so it is the registry."""
    transport = open_transport(get_target("local"))
    try:
        probe = transport.run(BoardJob(files={}, request=RunRequest(mode="probe", out="probe.json")))
    finally:
        transport.close()
    assert set(probe["runtimes"]) == {b.info.runtime.module for b in BACKENDS.values()}
    assert all(probe["runtimes"].values()), probe["runtimes"]  # the host has every runtime it compiles for


FAKE_BACKEND = '''
"""A backend as a third party would write it: one module, board-side imports only at the top."""
from __future__ import annotations

if __package__:
    from devbench.board.protocol import BackendInfo, Loaded, Runtime
else:
    from protocol import BackendInfo, Loaded, Runtime


class FakeBackend:
    info = BackendInfo(name="fake", runtime=Runtime("json", ("fake-runtime",)), artifact="model.fake")

    def version_key(self, request):
        return "fake=1"

    def compile(self, request, out_dir):
        (out_dir / self.info.artifact).write_text("2.5")
        return {}

    def load(self, artifact, x, threads, device):
        with open(artifact) as f:
            scale = float(f.read())
        return Loaded(lambda: x * scale, lambda a: a * scale, None, "1")

    def profile(self, request, x):
        raise ValueError("no profiler")


BACKEND = FakeBackend()
'''

#: registers the fake backend in the one registry, then asks every consumer about it
REGISTER_AND_ASK = '''
import importlib.util, json, sys
from dataclasses import replace
from pathlib import Path

import devbench.backends as registry

spec = importlib.util.spec_from_file_location("devbench.backends.fake_backend", sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
registry.BACKENDS["fake"] = module.BACKEND  # the one registration

import numpy as np
from devbench.bench import backends_for
from devbench.board.protocol import RunRequest
from devbench.doctor import check_backends, probe
from devbench.errors import DevbenchError
from devbench.targets import Target, get_target
from devbench.transports import BoardJob, open_transport

local = get_target("local")
fake_target = replace(local, backends=("fake",))
try:
    backends_for(local, ["nope"])
except DevbenchError as e:
    unknown = str(e)
found = probe(local)
x = Path(sys.argv[2]) / "x.npy"
np.save(x, np.ones((1, 3), dtype=np.float32))
artifact = Path(sys.argv[2]) / "model.fake"
artifact.write_text("2.5")
transport = open_transport(local)
result = transport.run(BoardJob(files={"model.fake": artifact, "x.npy": x},
                                request=RunRequest(backend="fake", artifact="model.fake", input="x.npy", warmup=0,
                                                   repeats=2, out="r.json")))
print(json.dumps({
    "choices": backends_for(fake_target, ["fake"]),
    "unknown": unknown,
    "default_target": list(Target("t", "", "local", {}, 1).backends),
    "doctor": [[c.backend, c.ok, c.detail] for c in check_backends(fake_target, found)],
    "probe": found["runtimes"].get("json"),
    "output": result.get("output", result),
}))
'''


def test_a_backend_registered_in_one_place_is_offered_everywhere(tmp_path: Path) -> None:
    fake = tmp_path / "fake_backend.py"
    fake.write_text(FAKE_BACKEND)
    proc = subprocess.run([sys.executable, "-c", REGISTER_AND_ASK, str(fake), str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["choices"] == ["fake"]  # --backend fake
    assert "fake" in seen["unknown"]  # named among the known backends
    assert "fake" in seen["default_target"]  # a target file without a backends line offers it
    assert seen["doctor"][0][:2] == ["fake", True] and "json" in seen["doctor"][0][2]
    assert seen["probe"] is not None  # the runner probed the runtime the description names
    assert seen["output"] == [[2.5, 2.5, 2.5]]  # the uploaded module loaded and ran it on the board


def test_a_board_without_numpy_is_told_in_the_contracts_words(tmp_path: Path) -> None:
    """The runner's only non-stdlib import fails with :data:`NO_NUMPY`, the text doctor turns into an
    install command, not Python's own ImportError message."""
    from devbench.board.protocol import NO_NUMPY

    for name, path in BOARD_FILES.items():
        shutil.copy(path, tmp_path / name)
    script = "import sys, runpy; sys.modules['numpy'] = None; sys.argv = ['runner.py', '--mode', 'probe']; " \
             "runpy.run_path('runner.py', run_name='__main__')"
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip() == NO_NUMPY, proc.stderr
