"""Targets: where a network runs and how devbench reaches it, one TOML file per board.

Built-in files live next to this module. Users add their own in ``$DEVBENCH_TARGETS_DIR`` (default
``~/.config/devbench/targets``) or pass ``--targets-file FILE``; a user file with the same ``name``
as a built-in one replaces it. See ``targets/README.md`` for every field.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal, Required

from pydantic import Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from devbench.backends import cpu_backends
from devbench.errors import DevbenchError
from devbench.paths import cache_dir, user_targets_dir
from devbench.schema import STRICT, Loc, field_name, one_line, toml_line_of

BUILTIN_DIR = Path(__file__).resolve().parent
TRANSPORTS = ("local", "ssh", "rpc")
#: more threads than any board has cores: a typo, and thousands of threads hang the machine
MAX_THREADS = 1024
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
    #: a file that lists none gets every backend a CPU board can run (``devbench.backends.cpu_backends``)
    backends: tuple[str, ...] = field(default_factory=cpu_backends)
    tvm_host: dict[str, Any] | None = None
    cross_compiler: str | None = None
    emulated: bool = False
    #: where the network runs on the board: "cpu", or "cuda" on a Jetson (the runner's --device)
    device: str = "cpu"
    ssh: SSHConfig | None = None
    rpc: RPCConfig | None = None
    #: this board's measurement defaults (:class:`MeasureTable`: warmup, repeats, rounds, min_time_s,
    #: max_time_s); the command line wins
    measure: dict[str, float] = field(default_factory=dict, compare=False, hash=False)
    source: str = ""

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


_Port = Annotated[int, Field(ge=1, le=65535)]
_Seconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]
_Text = Annotated[str, Field(min_length=1, max_length=4096)]


@with_config(STRICT)
class _SSHTable(TypedDict, total=False):
    """``[ssh]``: the fields of :class:`SSHConfig` (absent ones take its defaults)."""

    host: Required[_Text]
    port: _Port
    user: _Text
    key_file: _Text
    known_hosts: _Text
    password: bool
    python: _Text
    workdir: _Text
    connect_timeout_s: _Seconds
    run_timeout_s: _Seconds


@with_config(STRICT)
class _RPCTable(TypedDict, total=False):
    """``[rpc]``: the fields of :class:`RPCConfig`."""

    tracker_host: Required[_Text]
    tracker_port: _Port
    key: Required[_Text]
    session_timeout_s: _Seconds


@with_config(STRICT)
class MeasureTable(TypedDict, total=False):
    """``[measure]``: a board's measurement defaults; the command line wins."""

    warmup: Annotated[int, Field(ge=0, le=1_000_000)]
    repeats: Annotated[int, Field(ge=1, le=1_000_000)]
    rounds: Annotated[int, Field(ge=1, le=10_000)]
    min_time_s: Annotated[float, Field(ge=0, le=3600)]
    max_time_s: _Seconds


@with_config(STRICT)
class _TVMTable(TypedDict, total=False):
    """``[tvm]``: the TVM target (a table: TVM 0.27 rejects target strings), its host, the cross compiler."""

    target: dict[str, Any]
    host: dict[str, Any]
    cross_compiler: str


@with_config(STRICT)
class TargetTable(TypedDict, total=False):
    """One target as a TOML file writes it: every field with a type and a range (targets/README.md)."""

    name: Required[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]]
    description: Annotated[str, Field(max_length=4096)]
    transport: Literal[TRANSPORTS]
    threads: Annotated[int, Field(ge=0, le=MAX_THREADS)]
    backends: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(min_length=1, max_length=16)]
    emulated: bool
    device: Literal["cpu", "cuda"]
    tvm: _TVMTable
    ssh: _SSHTable
    rpc: _RPCTable
    measure: MeasureTable


_TARGET = TypeAdapter(TargetTable)


def detect_host_cpu() -> str | None:
    """The LLVM name of this machine's CPU when it can be trusted, else ``None`` (generic code).

    Asking LLVM means importing TVM (seconds); the answer is remembered in the cache directory,
    keyed by the kernel's CPU description, so a cached ``devbench run`` starts fast.
    """
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


def target_from_dict(d: Any, source: str, line_of: Callable[[Loc], int | None] = lambda loc: None,
                     where: Loc = ()) -> Target:
    """Build a :class:`Target` from a parsed TOML table, with one-line errors naming ``source``.

    ``line_of`` finds a field's line in the file and ``where`` is the table's place in it
    (``("target", 1)`` for the second ``[[target]]``).
    """
    if isinstance(d, dict) and isinstance(d.get("tvm"), dict) and isinstance(d["tvm"].get("target"), str):
        raise DevbenchError(
            f"{source}: tvm.target must be a table such as {{kind = \"llvm\", mtriple = \"...\"}}; "
            "TVM 0.27 rejects target strings"
        )
    try:
        t = _TARGET.validate_python(d)
    except ValidationError as e:
        raise DevbenchError(one_line(e, source, line_of, where, hint=" (see targets/README.md)")) from None
    _check_backends(t, source, line_of, where)
    transport = t.get("transport", "local")
    threads = t.get("threads", 0)
    if threads == 0 and transport != "local":
        raise DevbenchError(f"{source}: threads = 0 (all cores) is for local targets; "
                            f"say how many threads the {t['name']!r} board should use")
    if transport in ("ssh", "rpc") and transport not in t:
        raise DevbenchError(f"{source}: transport {transport!r} needs an [{transport}] table")
    tvm = t.get("tvm", {})
    optional = {k: t[k] for k in ("backends", "emulated", "device") if k in t}
    if "backends" in optional:
        optional["backends"] = tuple(optional["backends"])
    return Target(
        name=t["name"],
        description=t.get("description", ""),
        transport=transport,
        tvm_target=tvm.get("target", {"kind": "llvm"}),
        tvm_host=tvm.get("host"),
        cross_compiler=tvm.get("cross_compiler") or None,
        threads=threads or os.cpu_count() or 1,
        ssh=SSHConfig(**t["ssh"]) if "ssh" in t else None,
        rpc=RPCConfig(**t["rpc"]) if "rpc" in t else None,
        measure=dict(t.get("measure", {})),
        source=source,
        **optional,
    )


def _check_backends(t: TargetTable, source: str, line_of: Callable[[Loc], int | None], where: Loc) -> None:
    """Each listed backend is registered, and a CPU board lists only backends CPU boards run (those
    ``cpu_backends`` offers): otherwise every job of the target compiles and then fails on the board
    (onnxruntime_trt on a target without ``device = "cuda"``)."""
    from devbench.backends import BACKENDS

    device = t.get("device", "cpu")
    for i, name in enumerate(t.get("backends", ())):
        if name not in BACKENDS:
            why = f"unknown backend {name!r} (known: {', '.join(BACKENDS)})"
        elif device == "cpu" and not BACKENDS[name].info.cpu_default:
            why = (f"{name} does not run on a CPU board, and this target's device is cpu (set device = \"cuda\" "
                   f"for a GPU board; CPU backends: {', '.join(cpu_backends())})")
        else:
            continue
        loc = (*where, "backends", i)
        line = line_of(loc)
        raise DevbenchError(f"{source}{f':{line}' if line else ''}: {field_name(loc)}: {why}")


def load_target_file(path: str | Path) -> list[Target]:
    """Targets of one TOML file: either one target at top level or several ``[[target]]`` tables."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except OSError as e:
        raise DevbenchError(f"cannot read target file {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise DevbenchError(f"{path}: malformed TOML: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DevbenchError(f"{path}: malformed TOML: {e}") from None
    except RecursionError:
        raise DevbenchError(f"{path}: malformed TOML: nested too deeply") from None
    line_of = toml_line_of(text)
    if "target" not in doc or "name" in doc:
        return [target_from_dict(doc, str(path), line_of)]
    tables, beside = doc["target"], sorted(set(doc) - {"target"})
    if not isinstance(tables, list) or not tables or beside:
        # a [tvm] after a [[target]] is a top-level table, not part of that target: TOML wants [target.tvm]
        found = f" (found {', '.join(beside)} outside them; write [target.{beside[0]}])" if beside else ""
        raise DevbenchError(f"{path}: a file of several targets writes each as a [[target]] table{found}")
    return [target_from_dict(t, str(path), line_of, ("target", i)) for i, t in enumerate(tables)]


def all_targets(extra_files: list[str | Path] = ()) -> dict[str, Target]:
    """Every known target by name: built-ins, then the user directory, then ``extra_files``, a later
    layer's target replacing an earlier one of its name (a user's own ``local``). Two of one name in
    one layer are an error: which one a run got would depend on the order of file names."""
    udir = user_targets_dir()
    layers = [sorted(BUILTIN_DIR.glob("*.toml")), sorted(udir.glob("*.toml")) if udir.is_dir() else [],
              [Path(f) for f in extra_files]]
    found: dict[str, Target] = {}
    for files in layers:
        where: dict[str, Path] = {}
        for f in files:
            for t in load_target_file(f):
                if t.name in where:
                    places = f"twice in {f}" if where[t.name] == f else f"in both {where[t.name]} and {f}"
                    raise DevbenchError(f"target {t.name!r} is defined {places}; rename one of them")
                where[t.name] = f
                found[t.name] = t
    return found


def get_target(name: str, extra_files: list[str | Path] = (), threads: int | None = None) -> Target:
    """The target called ``name``: a target file's, else a ``Host`` of ``~/.ssh/config`` made into
    one (:mod:`devbench.boards.aliases`); an unknown name is an error with the closest names."""
    from devbench.boards.aliases import alias_target, config_hosts

    targets = all_targets(extra_files)
    t = targets.get(name) or alias_target(name)
    if t is None:
        raise _unknown_target(name, targets, config_hosts())
    return replace(t, threads=threads) if threads else t


def check_target_name(name: str, extra_files: list[str | Path] = ()) -> None:
    """Raise :func:`get_target`'s error for a name it would not find, without reaching any board: a
    ``Host`` of ``~/.ssh/config`` counts by its line there, unprobed. For plans checked long before
    their boards are needed (an experiment recipe's latency targets)."""
    from devbench.boards.aliases import config_hosts

    targets, hosts = all_targets(extra_files), config_hosts()
    if name not in targets and name not in hosts:
        raise _unknown_target(name, targets, hosts)


def _unknown_target(name: str, targets: dict[str, Target], hosts: list[str]) -> DevbenchError:
    close = difflib.get_close_matches(name, [*targets, *hosts], n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return DevbenchError(f"unknown target {name!r}; {hint}known targets: {', '.join(sorted(targets))}; "
                         f"a board of yours: devbench board add {name} --host [USER@]HOST[:PORT]")


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
