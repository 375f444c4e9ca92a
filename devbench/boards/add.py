"""``devbench board add``: ask a board what it is and write its target file, so using one's own
board is one command instead of a copied TOML file with an LLVM CPU name to look up.

The board is reached as ``run`` reaches it (:class:`~devbench.transports.ssh.SSHTransport`, with
the same host-key rules) and asked by the runner's probe mode (``runner.py --mode probe``): its
architecture, CPU cores (mapped to LLVM by :mod:`devbench.boards.cpus`), Jetson GPU, Python, numpy
and which runtimes import. The target is built as a table, checked with the schema every target
file is read with, and written with a TOML writer into the user's target directory
(:func:`devbench.targets.user_targets_dir`). A target named after an ``~/.ssh/config`` host
(:mod:`devbench.boards.aliases`) and the emulated board (:mod:`devbench.boards.emulate`) are made
by the same :func:`describe`, so nothing tells a board added by hand from them but what it is.
"""

from __future__ import annotations

import difflib
import platform
import socket
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w

from devbench.boards import cpus
from devbench.boards.paths import expand_path
from devbench.errors import DevbenchError
from devbench.targets import BUILTIN_DIR, Target, all_targets, load_target_file, target_from_dict, user_targets_dir

#: first words of every file a ``devbench board`` verb wrote (``board emulate --port`` wrote such
#: files before ``board add`` existed); only such a file is ever replaced or rewritten
MARK = "# written by `devbench board"
HEADER = f"{MARK} add` from what the board reported; `board add` again refreshes it, `board remove` deletes it"
#: board kinds guessed from a name (the first hint the lower-cased name contains wins): what is
#: assumed where a probe cannot tell, e.g. the core under qemu-user or a board that cannot be probed
KIND_HINTS = (
    ("xavier", "jetson-xavier-nx"), ("orin", "jetson-orin-nano"), ("jetson", "jetson-orin-nano"),
    ("pi5", "pi5"), ("pi3", "pi3"), ("raspberry", "pi4"), ("pi", "pi4"),
)
#: the emulated board's own defaults (threads, [measure], run timeout) come from its built-in file
EMULATED_DEFAULTS = BUILTIN_DIR / "emulated-pi.toml"
#: seconds `board list` waits for a board's SSH port
REACH_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class BoardRequest:
    """A board to add: its name and how to reach it (the fields of a target's ``[ssh]`` table)."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    known_hosts: str | None = None
    python: str = "python3"
    workdir: str | None = None
    #: a built-in board kind (pi4, jetson-orin-nano, ...) for what the probe cannot tell; None: guessed from the name
    like: str | None = None

    @property
    def where(self) -> str:
        user = f"{self.user}@" if self.user else ""
        if not self.port:
            return f"{user}{self.host}"
        return f"{user}[{self.host}]:{self.port}" if ":" in self.host else f"{user}{self.host}:{self.port}"

    def ssh_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"host": self.host}
        for key in ("port", "user", "key_file", "known_hosts"):
            if (value := getattr(self, key)) is not None:
                table[key] = value
        table["python"] = self.python
        if self.workdir is not None:
            table["workdir"] = self.workdir
        return table


@dataclass(frozen=True)
class Board:
    """What a probe made of a board: its target table, what was found, assumed, and is missing."""

    table: dict[str, Any]
    facts: tuple[str, ...]
    assumed: tuple[str, ...]
    #: "backend: why" for each backend of the board's kind that it cannot run yet
    missing: tuple[str, ...]
    #: the one command that installs what is missing (None: nothing, or an emulated board)
    install: str | None

    def target(self, source: str) -> Target:
        return target_from_dict(self.table, source)


@dataclass(frozen=True)
class Added:
    path: Path
    text: str
    #: False when the file already said exactly this (a re-add or a restart leaves it alone)
    changed: bool
    board: Board


def parse_host(text: str) -> tuple[str | None, str, int | None]:
    """``[USER@]HOST[:PORT]`` (``[::1]:2222`` for an IPv6 address with a port) -> user, host, port."""
    user, at, rest = text.rpartition("@")
    port_text = ""
    if rest.startswith("["):  # [IPv6]:PORT
        host, _, after = rest[1:].partition("]")
        port_text = after.removeprefix(":") if after.startswith(":") else after
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:  # a name, or a bare IPv6 address
        host = rest
    if not host or (port_text and not port_text.isdigit()) or "@" in user or (at and not user):
        raise DevbenchError(f"--host {text!r} is not [USER@]HOST[:PORT]")
    port = int(port_text) if port_text else None
    if port is not None and not 1 <= port <= 65535:
        raise DevbenchError(f"--host {text!r}: port {port} is not between 1 and 65535")
    return user or None, host, port


def local_path(path: str) -> str:
    """A key or known_hosts path as the target file keeps it: absolute (a relative path would mean
    another file in another directory), or with ``{cache}`` as the caller wrote it."""
    return path if "{cache}" in path else str(Path(path).expanduser().resolve())


def make_request(name: str, host: str, like: str | None = None, key_file: str | None = None,
                 python: str = "python3", workdir: str | None = None) -> BoardRequest:
    """A :class:`BoardRequest` from the command line's words, each checked before any connection."""
    user, hostname, port = parse_host(host)
    if key_file is not None:
        key_file = local_path(key_file)
        if not Path(expand_path(key_file)).is_file():
            raise DevbenchError(f"--key {key_file}: no such file")
    return BoardRequest(name, hostname, port, user, key_file, None, python, workdir, like)


def guess_kind(name: str) -> str | None:
    """The built-in board kind a board's name suggests (``jetson`` -> jetson-orin-nano, ``mypi`` ->
    pi4), or None. A built-in target's own name is its kind."""
    builtin = {p.stem for p in BUILTIN_DIR.glob("*.toml")}
    lowered = name.lower()
    if lowered in builtin:
        return lowered
    return next((kind for hint, kind in KIND_HINTS if hint in lowered), None)


def kind_target(request: BoardRequest) -> Target | None:
    """The board kind whose defaults fill what a probe cannot tell: ``--like``, else the name's guess."""
    kinds = {t.name: t for t in all_targets().values() if t.transport == "ssh"}
    if request.like is None:
        guess = guess_kind(request.name)
        return kinds.get(guess) if guess else None
    if request.like not in kinds:
        close = difflib.get_close_matches(request.like, list(kinds), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise DevbenchError(f"--like {request.like!r} is not a board kind; {hint}kinds: {', '.join(sorted(kinds))}")
    return kinds[request.like]


def probe_board(request: BoardRequest, trust_new_host: bool = False) -> dict[str, Any]:
    """The runner's probe on the board, over the connection ``run`` would make. A board without
    numpy cannot even be probed: the error is then the one command that installs numpy and the
    runtimes of the board's kind, so that a second ``board add`` finds everything."""
    from devbench.doctor import NUMPY, RUNTIMES, NoNumpy, pip_install, probe

    reach = target_from_dict({"name": request.name, "transport": "ssh", "threads": 1, "ssh": request.ssh_table()},
                             f"board {request.name}")
    try:
        found = probe(reach, trust_new_host=trust_new_host)
        if cpus.jetson_gpu(found.get("hardware", {})):
            # the probe asked each runtime about the CPU; a Jetson's target runs them on its GPU, where
            # a runtime that imports may still be a CPU build (pip's aarch64 onnxruntime)
            found = probe(replace(reach, device="cuda"), trust_new_host=trust_new_host)
        return found
    except NoNumpy:
        kind = kind_target(request)
        runtimes = [RUNTIMES[b] for b in (kind.backends if kind else RUNTIMES) if b in RUNTIMES]
        raise DevbenchError(f"{request.name} has no numpy, which devbench's board script needs; install it and the "
                            f"runtimes with: {pip_install(request.python, [NUMPY, *runtimes])}") from None


def describe(request: BoardRequest, found: dict[str, Any], kind: Target | None) -> Board:
    """The target table of a probed board. The probe decides the architecture, CPU, GPU, cores,
    emulation and usable backends; ``kind`` fills only what it cannot tell (the CPU core where
    /proc/cpuinfo names none) and says which backends the board should have."""
    from devbench.backends import cpu_backends
    from devbench.doctor import RUNTIMES, check_backends, pip_install

    env, hardware = found.get("environment", {}), found.get("hardware", {})
    machine = str(env.get("machine", ""))
    emulated = bool(env.get("qemu"))
    cores = max(1, int(env.get("cores") or 1))
    assumed_cpu = (kind.tvm_host or kind.tvm_target) if kind else None
    cpu = cpus.board_cpu(machine, hardware, env.get("cpu"), assumed_cpu, kind.name if kind else None)
    assumed = [] if cpu.identified else [f"CPU {cpu.what}"]
    llvm = cpu.llvm(cores)
    gpu = cpus.jetson_gpu(hardware)
    if kind is not None and kind.device == "cuda" and gpu is None:
        assumed.append(f"no Jetson GPU (no Tegra chip in the device tree), so CPU only, not {kind.name}'s CUDA")
    tvm: dict[str, Any] = {"target": {"tag": gpu[0]}, "host": llvm} if gpu else {"target": llvm}
    if cpu.mtriple.split("-")[0] != platform.machine():
        tvm["cross_compiler"] = f"{cpu.mtriple}-g++"

    table: dict[str, Any] = {"name": request.name, "description": _description(request, env, hardware, cpu, gpu, cores),
                             "transport": "ssh", "threads": cores}
    ssh = request.ssh_table()
    measure = dict(kind.measure) if kind else {}
    wanted = list(kind.backends) if kind else list(RUNTIMES)
    if emulated:  # the emulated Pi's threads, [measure], timeout and backends (what its root filesystem has)
        defaults = load_target_file(EMULATED_DEFAULTS)[0]
        table["threads"], measure, wanted = defaults.threads, dict(defaults.measure), list(defaults.backends)
        table["emulated"] = True
        ssh.setdefault("run_timeout_s", defaults.ssh.run_timeout_s)
    if gpu:
        table["device"] = "cuda"
    else:  # GPU-only backends (onnxruntime_trt) are not offered where there is no GPU to run them
        wanted = [b for b in wanted if b in cpu_backends()]
    table["tvm"], table["ssh"] = tvm, ssh
    if measure:
        table["measure"] = measure

    checks = check_backends(target_from_dict({**table, "backends": wanted}, f"board {request.name}"), found)
    usable = {c.backend for c in checks if c.ok}
    lacking = [c for c in checks if c.backend in wanted and not c.ok]
    table["backends"] = [b for b in wanted if b in usable] or wanted
    # what pip can mend: a runtime missing or at the wrong version, not a CPU build on a GPU board
    installable = [RUNTIMES[c.backend] for c in lacking if c.install]
    install = pip_install(request.python, installable) if installable and not emulated else None

    runtimes = ", ".join(f"{k} {v or 'missing'}" for k, v in found.get("runtimes", {}).items())
    facts = [
        f"{env.get('system')} {machine}" + (f", {hardware['model']}" if hardware.get("model") else ""),
        f"CPU {env.get('cpu')}, {cores} cores" + (f": {cpu.what}" if cpu.identified else ""),
        *([f"GPU {gpu[1]} ({hardware.get('l4t') or 'no L4T release'}, CUDA {hardware.get('cuda') or 'not found'})"]
          if gpu else []),
        f"python {env.get('python')}, numpy {env.get('numpy')}, {runtimes}",
        *(["emulated: qemu-user runs this board's Python"] if emulated else []),
    ]
    return Board(table, tuple(facts), tuple(assumed), tuple(f"{c.backend}: {c.detail}" for c in lacking), install)


def _description(request: BoardRequest, env: dict[str, Any], hardware: dict[str, Any], cpu: cpus.CPU,
                 gpu: tuple[str, str] | None, cores: int) -> str:
    core = cpu.mcpu or f"generic {env.get('machine')}"
    what = hardware.get("model") or f"{env.get('machine')} board"
    if env.get("qemu"):
        what = f"Emulated {env.get('machine')} board under qemu-user"
    inside = f"{gpu[1]} GPU + {cores} x {core}" if gpu else f"{cores} x {core}"
    return f"{what} ({inside}) at {request.where}"


def render(board: Board) -> str:
    """The target file's text: a header of what was probed and assumed, then the table."""
    lines = [HEADER, *(f"# probed: {f}" for f in board.facts), *(f"# assumed: {a}" for a in board.assumed)]
    return "\n".join(lines) + "\n" + tomli_w.dumps(board.table)


def target_path(name: str) -> Path:
    return user_targets_dir() / f"{name}.toml"


def written_by_devbench(path: Path) -> bool:
    try:
        return path.read_text().startswith(MARK)
    except OSError:
        return False


def _refuse_the_users_file(path: Path) -> None:
    """A target file of that name that devbench did not write is the user's: never replaced."""
    if path.exists() and not written_by_devbench(path):
        raise DevbenchError(f"{path} exists and was not written by devbench; remove it, or add the board under "
                            "another name")


def write(board: Board) -> Added:
    """Write the board's target file, unless it already says exactly that."""
    path = target_path(board.table["name"])
    text = render(board)
    target_from_dict(tomllib.loads(text), str(path))  # what is written reads back as a valid target
    _refuse_the_users_file(path)
    if path.exists() and path.read_text() == text:
        return Added(path, text, False, board)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")  # a reader never sees half a file
    scratch.write_text(text)
    scratch.replace(path)
    return Added(path, text, True, board)


def add_board(request: BoardRequest, trust_new_host: bool = False) -> Added:
    """Probe the board and write its target file: ``devbench board add`` as a library call."""
    kind = kind_target(request)
    target_from_dict({"name": request.name, "transport": "ssh", "threads": 1, "ssh": request.ssh_table()},
                     "board add")  # a bad name or field fails before any connection
    _refuse_the_users_file(target_path(request.name))  # before the probe, not after it
    return write(describe(request, probe_board(request, trust_new_host), kind))


def _user_files() -> list[Path]:
    d = user_targets_dir()
    return sorted(d.glob("*.toml")) if d.is_dir() else []


def reachable(target: Target) -> str:
    """Whether the board's SSH port (or RPC tracker) answers within a second; no login is tried."""
    if target.transport == "local":
        return "yes (this machine)"
    if target.transport == "rpc":
        host, port = target.rpc.tracker_host, target.rpc.tracker_port
    else:
        from devbench.transports.ssh import resolve_endpoint

        endpoint = resolve_endpoint(target.name, target.ssh)
        if endpoint.proxy_command:
            return "not checked (ProxyCommand)"
        host, port = endpoint.hostname, endpoint.port
    try:
        socket.create_connection((host, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        return f"no: {e.strerror or 'timed out'}"
    return "yes"


def list_boards(check: bool = True) -> list[dict[str, str]]:
    """The targets in the user's target directory, with where they are and (``check``) whether
    their port answers, all boards checked at once."""
    found = [(t, path) for path in _user_files() for t in load_target_file(path)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(reachable, [t for t, _ in found])) if check else [""] * len(found)
    rows = []
    for (t, path), answer in zip(found, answers, strict=True):
        where = t.transport
        if t.ssh is not None:
            where = BoardRequest(t.name, t.ssh.host, t.ssh.port, t.ssh.user).where
        elif t.rpc is not None:
            where = f"rpc {t.rpc.tracker_host}:{t.rpc.tracker_port} key {t.rpc.key}"
        row = {"name": t.name, "host": where, "backends": ",".join(t.backends), "emulated": "yes" if t.emulated else ""}
        if check:
            row["reachable"] = answer
        rows.append({**row, "file": str(path)})
    return rows


def remove_board(name: str) -> Path:
    """Delete the user target file that defines ``name`` (and only it); built-in targets stay."""
    for path in _user_files():
        names = [t.name for t in load_target_file(path)]
        if name not in names:
            continue
        if len(names) > 1:
            raise DevbenchError(f"{path} defines {len(names)} targets ({', '.join(names)}); edit it by hand")
        path.unlink()
        return path
    if (BUILTIN_DIR / f"{name}.toml").exists():
        raise DevbenchError(f"{name} is a built-in target; only boards in {user_targets_dir()} can be removed")
    known = [t.name for path in _user_files() for t in load_target_file(path)]
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise DevbenchError(f"no board {name!r} in {user_targets_dir()}{hint} (`devbench board list` shows them)")


def as_default(kind: Target, name: str, host: str, source: str) -> Target:
    """The built-in ``kind`` as board ``name`` at ``host``: what is assumed where no probe could run."""
    ssh = replace(kind.ssh, host=host) if kind.ssh else None
    return replace(kind, name=name, description=f"{kind.description} (assumed) at {host}", ssh=ssh, source=source)

