"""``devbench doctor``: what a board has, and what it lacks for the backends its target lists.

The board is asked through its own transport (``runner.py --mode probe``), so the answer comes from
the same Python, over the same connection, that a measurement would use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from devbench.backends import BACKENDS
from devbench.board.protocol import NO_NUMPY, RunRequest, Runtime, no_gpu_reason
from devbench.errors import DevbenchError
from devbench.targets import Target
from devbench.transports import BoardJob, open_transport

#: backend -> what the board must import for it, from each backend's description
RUNTIMES = {name: b.info.runtime for name, b in BACKENDS.items()}


#: what the board script itself imports besides the standard library
NUMPY = Runtime("numpy", ("numpy",))


class NoNumpy(DevbenchError):
    """The board has no numpy, so the board script cannot run there, not even to probe."""


@dataclass(frozen=True)
class BackendCheck:
    backend: str
    ok: bool
    detail: str
    install: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    target: Target
    probe: dict[str, Any]
    checks: list[BackendCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        """The report as aligned ``key  value`` lines."""
        env = self.probe.get("environment", {})
        runtimes = self.probe.get("runtimes", {})
        disk = self.probe.get("disk_free_mb")
        rows = [
            ("target", f"{self.target.name}{' (emulated)' if self.target.emulated else ''}"),
            ("python", f"{env.get('python')} on {env.get('machine')} ({env.get('system')})"),
            ("numpy", env.get("numpy") or "missing"),
            ("cpu", f"{env.get('cpu')}, {env.get('cores')} cores"),
            ("governor", env.get("governor") or "not readable"),
            ("disk free", f"{disk / 1024:.1f} GiB in the run directory" if disk is not None else "unknown"),
            ("cuda gpus", str(self.probe.get("hardware", {}).get("cuda_gpus", "not probed"))),
            *((name, version or "missing") for name, version in runtimes.items()),
        ]
        for c in self.checks:
            rows.append((f"backend {c.backend}", f"{'OK' if c.ok else 'MISSING'}: {c.detail}"))
            if c.install:
                rows.append(("  install", c.install))
        width = max(len(k) for k, _ in rows)
        return [f"{k:<{width}}  {v}" for k, v in rows]


def _host_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def install_command(target: Target, runtime: Runtime) -> str:
    """The command that gives the board ``runtime``, pinned to the host's versions where they must match."""
    if target.emulated:
        return "the emulated board has what devbench/boards/rootfs.py installs; drop the backend from the target"
    return pip_install(target.ssh.python if target.ssh else "python3", [runtime])


def pip_install(python: str, runtimes: list[Runtime]) -> str:
    """One line that installs all of ``runtimes`` (a user runs one line, not one per backend): one
    pip command, and a second for the packages to install without their dependencies."""
    packages: dict[bool, list[str]] = {False: [], True: []}
    for runtime in runtimes:
        for pkg in runtime.pip:
            version = _host_version(pkg) if runtime.same_version_as_host else None
            packages[runtime.no_deps].append(f"{pkg}=={version}" if version else pkg)
    return " && ".join(f"{python} -m pip install {'--no-deps ' if no_deps else ''}{' '.join(pkgs)}"
                       for no_deps, pkgs in packages.items() if pkgs)


def check_backends(target: Target, probe: dict[str, Any]) -> list[BackendCheck]:
    """One check per backend the target lists: importable on the board, at a usable version, and able
    to run on the target's device (a GPU runtime, not the CPU build)."""
    runtimes = probe.get("runtimes", {})
    # a count, or why there is none; absent from an older board script's probe, which is not judged
    gpus = probe.get("hardware", {}).get("cuda_gpus")
    checks = []
    for backend in target.backends:
        if target.device == "cuda" and gpus is not None and (why := no_gpu_reason(gpus)):
            checks.append(BackendCheck(backend, False, f"this target runs on CUDA; on the board, {why}"))
            continue
        runtime = RUNTIMES.get(backend)
        if runtime is None:
            checks.append(BackendCheck(backend, False, "devbench knows no runtime for this backend"))
            continue
        board = runtimes.get(runtime.module)
        host = _host_version(runtime.pip[0]) if runtime.same_version_as_host else None
        if board is None:
            install = install_command(target, runtime)
            checks.append(BackendCheck(backend, False, f"{runtime.module} is missing", install))
        elif host and board != host:
            checks.append(
                BackendCheck(
                    backend, False, f"{runtime.module} {board} on the board, but the host compiles with {host}",
                    install_command(target, runtime),
                )
            )
        elif why := probe.get("unusable", {}).get(backend):  # imports, but cannot run on the target's device
            checks.append(BackendCheck(backend, False, why))
        else:
            checks.append(BackendCheck(backend, True, f"{runtime.module} {board}"))
    return checks


def probe(target: Target, trust_new_host: bool = False) -> dict[str, Any]:
    """``runner.py --mode probe`` on the board, through the target's transport."""
    if target.transport == "rpc":
        raise DevbenchError(
            f"doctor cannot probe {target.name}: an RPC farm board runs no devbench script; "
            "ask its tracker instead: python -m tvm.exec.query_rpc_tracker"
        )
    transport = open_transport(target, trust_new_host=trust_new_host)
    try:
        request = RunRequest(mode="probe", device=target.device, out="probe.json")
        result = transport.run(BoardJob(files={}, request=request, timeout_s=300.0))
    except DevbenchError as e:
        if NO_NUMPY in str(e):  # the board script itself needs numpy
            raise NoNumpy(
                f"{target.name} has no numpy, which the board script needs; install: "
                f"{install_command(target, NUMPY)}"
            ) from None
        raise
    finally:
        transport.close()
    if "error" in result:
        raise DevbenchError(f"the board script failed on {target.name}: {result['error']}")
    return result


def doctor(target: Target, trust_new_host: bool = False) -> Diagnosis:
    """Reach the board, report what it has and what each listed backend still needs."""
    found = probe(target, trust_new_host=trust_new_host)
    return Diagnosis(target, found, check_backends(target, found))
