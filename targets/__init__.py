"""Targets: where a network runs and how devbench reaches it, one TOML file per board.

Built-in files live next to this module. Users add their own in ``$DEVBENCH_TARGETS_DIR`` (default
``~/.config/devbench/targets``) or pass ``--targets-file FILE``; a user file with the same ``name``
as a built-in one replaces it. See ``targets/README.md`` for every field.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devbench.errors import DevbenchError

BUILTIN_DIR = Path(__file__).resolve().parent
TRANSPORTS = ("local", "ssh", "rpc")
MEASURE_KEYS = ("warmup", "repeats", "min_time_s")
# LLVM reports the host CPU by name (e.g. znver5, rocketlake). Under a hypervisor the name can
# promise AVX-512 that the guest does not expose; such a name is only used when the kernel's flags
# confirm AVX-512, else devbench falls back to the generic target (slower code, never a crash).
AVX512_CPU_PREFIXES = (
    "znver4", "znver5", "skylake-avx512", "cascadelake", "cooperlake", "icelake", "tigerlake", "rocketlake",
    "sapphirerapids", "emeraldrapids", "graniterapids", "cannonlake", "knl", "knm",
)


@dataclass(frozen=True)
class SSHConfig:
    """How to reach a board over SSH. ``host`` may be an alias from ``~/.ssh/config``."""

    host: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    password: bool = False
    python: str = "python3"
    workdir: str = "/tmp/devbench"
    connect_timeout_s: float = 10.0
    run_timeout_s: float = 600.0


@dataclass(frozen=True)
class RPCConfig:
    """A board in a TVM RPC tracker farm (``python -m tvm.exec.rpc_tracker``)."""

    tracker_host: str
    tracker_port: int = 9190
    key: str = ""
    session_timeout_s: float = 600.0


@dataclass(frozen=True)
class Target:
    """One board: its TVM target, compiler, threads, and the transport that reaches it."""

    name: str
    description: str
    transport: str
    tvm_target: dict[str, Any]
    threads: int
    backends: tuple[str, ...] = ("tvm", "onnxruntime", "torch")
    tvm_host: dict[str, Any] | None = None
    cross_compiler: str | None = None
    emulated: bool = False
    #: where the network runs on the board: "cpu", or "cuda" on a Jetson (the runner's --device)
    device: str = "cpu"
    ssh: SSHConfig | None = None
    rpc: RPCConfig | None = None
    #: this board's measurement defaults (warmup, repeats, min_time_s); the command line wins
    measure: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    source: str = ""

    @property
    def is_remote(self) -> bool:
        return self.transport != "local"

    def tvm_target_dict(self) -> dict[str, Any]:
        """The target in the JSON-dict form TVM 0.27 wants, with ``mcpu = "auto"`` resolved."""
        d = dict(self.tvm_target)
        if d.get("mcpu") == "auto":
            cpu = detect_host_cpu()
            if cpu:
                d["mcpu"] = cpu
            else:
                del d["mcpu"]
        if self.tvm_host is not None:
            d["host"] = dict(self.tvm_host)
        return d


def detect_host_cpu() -> str | None:
    """The LLVM name of this machine's CPU when it can be trusted, else ``None`` (generic code).

    Asking LLVM means importing TVM (seconds); the answer is remembered in the cache directory,
    keyed by the kernel's CPU description, so a cached ``devbench run`` starts fast.
    """
    from devbench.paths import cache_dir

    key = hashlib.sha256((_cpuinfo_field("model name") + " ".join(sorted(_cpu_flags()))).encode()).hexdigest()[:16]
    memo = cache_dir() / f"host-cpu-{key}.txt"
    if memo.exists():
        return memo.read_text().strip() or None
    cpu = _ask_llvm_for_cpu()
    memo.write_text(cpu or "")
    return cpu


def _ask_llvm_for_cpu() -> str | None:
    try:
        from tvm.target import codegen
    except ImportError:
        return None
    try:
        cpu = str(codegen.llvm_get_system_cpu())
    except Exception:  # an LLVM without the query: fall back to the generic target
        return None
    if cpu in ("", "generic"):
        return None
    if cpu.startswith(AVX512_CPU_PREFIXES) and "avx512f" not in _cpu_flags():
        return None
    return cpu


def _cpuinfo_field(name: str) -> str:
    """The first value of ``name`` in /proc/cpuinfo ('' where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def _cpu_flags() -> set[str]:
    return set(_cpuinfo_field("flags").split())


def target_from_dict(d: dict[str, Any], source: str) -> Target:
    """Build a :class:`Target` from a parsed TOML table, with one-line errors naming ``source``."""
    d = dict(d)
    try:
        name = d.pop("name")
        tvm = dict(d.pop("tvm", {}))
    except KeyError:
        raise DevbenchError(f"{source}: a target needs a 'name'") from None
    transport = d.pop("transport", "local")
    if transport not in TRANSPORTS:
        raise DevbenchError(f"{source}: transport must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    tvm_target = tvm.pop("target", {"kind": "llvm"})
    if isinstance(tvm_target, str):
        raise DevbenchError(
            f"{source}: tvm.target must be a table such as {{kind = \"llvm\", mtriple = \"...\"}}; "
            "TVM 0.27 rejects target strings"
        )
    threads = d.pop("threads", 0)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise DevbenchError(f"{source}: threads must be a non-negative integer (0 = all cores), got {threads!r}")
    ssh = rpc = None
    if "ssh" in d:
        s = dict(d.pop("ssh"))
        if "host" not in s:
            raise DevbenchError(f"{source}: [ssh] needs a host")
        try:
            ssh = SSHConfig(**s)
        except TypeError as e:
            raise DevbenchError(f"{source}: [ssh]: {e}") from None
    if "rpc" in d:
        r = dict(d.pop("rpc"))
        if "tracker_host" not in r or "key" not in r:
            raise DevbenchError(f"{source}: [rpc] needs tracker_host and key")
        try:
            rpc = RPCConfig(**r)
        except TypeError as e:
            raise DevbenchError(f"{source}: [rpc]: {e}") from None
    measure = dict(d.pop("measure", {}))
    unknown = set(measure) - set(MEASURE_KEYS)
    if unknown:
        raise DevbenchError(f"{source}: [measure] knows {', '.join(MEASURE_KEYS)}, not {', '.join(sorted(unknown))}")
    if any(isinstance(v, bool) or not isinstance(v, int | float) or v < 0 for v in measure.values()):
        raise DevbenchError(f"{source}: [measure] values must be non-negative numbers")
    if transport == "ssh" and ssh is None:
        raise DevbenchError(f"{source}: transport 'ssh' needs an [ssh] table")
    if transport == "rpc" and rpc is None:
        raise DevbenchError(f"{source}: transport 'rpc' needs an [rpc] table")
    fields = {
        "description": str(d.pop("description", "")),
        "tvm_host": tvm.pop("host", None),
        "cross_compiler": tvm.pop("cross_compiler", None) or None,
        "backends": tuple(d.pop("backends", ("tvm", "onnxruntime", "torch"))),
        "emulated": bool(d.pop("emulated", False)),
        "device": str(d.pop("device", "cpu")),
    }
    if d or tvm:  # a typo such as `thread = 4` must not be silently ignored
        unknown = ", ".join(sorted(d) + [f"tvm.{k}" for k in sorted(tvm)])
        raise DevbenchError(f"{source}: unknown field(s) {unknown} (see targets/README.md)")
    return Target(
        name=name,
        transport=transport,
        tvm_target=tvm_target,
        threads=threads or (os.cpu_count() or 1) if transport == "local" else threads,
        **fields,
        ssh=ssh,
        rpc=rpc,
        measure=measure,
        source=source,
    )


def load_target_file(path: str | Path) -> list[Target]:
    """Targets of one TOML file: either one target at top level or several ``[[target]]`` tables."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DevbenchError(f"cannot read target file {path}: {e.strerror}") from None
    try:
        doc = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DevbenchError(f"{path}: malformed TOML: {e}") from None
    tables = doc["target"] if isinstance(doc.get("target"), list) else [doc]
    return [target_from_dict(t, str(path)) for t in tables]


def user_targets_dir() -> Path:
    return Path(os.environ.get("DEVBENCH_TARGETS_DIR", Path.home() / ".config" / "devbench" / "targets"))


def all_targets(extra_files: list[str | Path] = ()) -> dict[str, Target]:
    """Every known target by name: built-ins, then the user directory, then ``extra_files``."""
    files = sorted(BUILTIN_DIR.glob("*.toml"))
    udir = user_targets_dir()
    if udir.is_dir():
        files += sorted(udir.glob("*.toml"))
    files += [Path(f) for f in extra_files]
    found: dict[str, Target] = {}
    for f in files:
        for t in load_target_file(f):
            found[t.name] = t
    return found


def get_target(name: str, extra_files: list[str | Path] = (), threads: int | None = None) -> Target:
    """The target called ``name``; an unknown name is an error listing the known ones."""
    targets = all_targets(extra_files)
    if name not in targets:
        raise DevbenchError(f"unknown target {name!r}; known targets: {', '.join(sorted(targets))}")
    t = targets[name]
    return replace(t, threads=threads) if threads else t


def target_table(extra_files: list[str | Path] = ()) -> list[dict[str, Any]]:
    """One record per known target, for ``devbench targets``."""
    return [
        {
            "name": t.name,
            "transport": t.transport,
            "threads": t.threads,
            "backends": ",".join(t.backends),
            "tvm_target": str(t.tvm_target),
            "cross_compiler": t.cross_compiler or "",
            "description": t.description,
        }
        for t in sorted(all_targets(extra_files).values(), key=lambda t: t.name)
    ]
