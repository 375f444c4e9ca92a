"""Run the board script on a machine reached over SSH (paramiko): upload, verify, run, fetch, clean up.

Host keys are verified against ``~/.ssh/known_hosts``, devbench's own known_hosts
(``$DEVBENCH_KNOWN_HOSTS``, default ``~/.config/devbench/known_hosts``) and the target's
``ssh.known_hosts``. An unknown host is refused unless the caller passes ``trust_new_host=True``
(the CLI's ``--trust-new-host``), which records its key; a changed key is always refused.
Every remote command is assembled from ``shlex.quote``-d words, so no file, model or user name can
reach the shell as code. Each job runs in its own ``mktemp -d`` directory (an unpredictable name,
mode 0700) inside the target's ``workdir``, removed after the job whether it succeeded or not.

What fails is told apart: a dropped link is retried on a fresh connection; a port that answers
without an SSH banner, a full disk or a refused write on the board is one line at once, never three
retries of a "lost connection".
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import json
import logging
import os
import posixpath
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from devbench.boards.paths import expand_path
from devbench.errors import DevbenchError
from devbench.paths import known_hosts_path
from devbench.targets import SSHConfig, Target
from devbench.transports.base import BOARD_FILES, BoardJob

#: attempts for connecting, and for a job whose connection drops; waits double from BACKOFF_S
ATTEMPTS = 3
BACKOFF_S = 1.0
#: characters no file name on the board may hold (names are quoted, but these break paths or sha256sum)
UNSAFE_CHARS = set("/\\\n\r\0")
#: the template of a job's run directory inside the workdir (mktemp replaces the X's)
RUN_DIR_TEMPLATE = "run-XXXXXXXXXX"


class _QuietUnlessDebugging(logging.Filter):
    """paramiko logs the traceback of every failed handshake (a port that is no SSH server, a
    dropped link) at ERROR from its own thread; devbench turns those failures into one line, so
    paramiko's records pass only when devbench's own logger is at DEBUG (``-vvv``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return logging.getLogger("devbench").isEnabledFor(logging.DEBUG)


for _name in ("paramiko", "paramiko.transport", "paramiko.transport.sftp"):
    logging.getLogger(_name).addFilter(_QuietUnlessDebugging())


class ConnectionLost(Exception):
    """The SSH connection broke; the job may be retried on a fresh one."""


class NotAnSSHServer(ConnectionLost):
    """The port accepted the connection but never sent an SSH banner. ``retry``: it closed the
    connection (an sshd over its MaxStartups does that too), rather than keeping silent."""

    def __init__(self, reason: str, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


class RunTimeout(Exception):
    """A remote command ran past its time (not an OSError, so never mistaken for a dropped link)."""


@dataclass(frozen=True)
class Endpoint:
    """Where to connect after ``~/.ssh/config`` has been applied; ``label`` names it in messages."""

    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    proxy_command: str | None
    label: str


def resolve_endpoint(name: str, ssh: SSHConfig, config_path: Path | None = None) -> Endpoint:
    """Apply ``~/.ssh/config`` (host aliases, HostName, Port, User, IdentityFile, ProxyCommand);
    fields set in the target win over the config file."""
    config_path = config_path or Path.home() / ".ssh" / "config"
    found: dict[str, Any] = {}
    if config_path.exists():
        try:
            found = paramiko.SSHConfig.from_path(str(config_path)).lookup(ssh.host)
        except Exception as e:  # a malformed user file: say which
            raise DevbenchError(f"cannot read {config_path}: {e}") from None
    hostname = found.get("hostname", ssh.host)
    port = ssh.port or _config_port(found.get("port", "22"), ssh.host, config_path)
    user = ssh.user or found.get("user") or getpass.getuser()
    keys = [expand_path(ssh.key_file)] if ssh.key_file else []
    keys += [os.path.expanduser(k) for k in found.get("identityfile", []) if os.path.exists(os.path.expanduser(k))]
    return Endpoint(hostname, port, user, tuple(keys), found.get("proxycommand"), f"{name} at {hostname}:{port}")


def _config_port(value: str, host: str, config_path: Path) -> int:
    """The ``Port`` of ``Host host`` as a number: the config file is the user's, so a word or a
    number outside 1-65535 there is their mistake, said here rather than as a failed connect."""
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise DevbenchError(f"{config_path}: Host {host} has Port {value!r}; a port is a number from 1 to 65535")
    return port


def _fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_base64()[:32]


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Unknown host: refuse with the fingerprint, or record it when the user said to trust it."""

    def __init__(self, label: str, trust: bool, store: Path) -> None:
        self.label, self.trust, self.store = label, trust, store

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.trust:
            raise DevbenchError(
                f"unknown host key for board {self.label} ({key.get_name()} {_fingerprint(key)}); "
                "check it and re-run with --trust-new-host to trust it"
            )
        self.store.parent.mkdir(parents=True, exist_ok=True)
        with self.store.open("a") as f:
            f.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class SSHTransport:
    """Runs :class:`BoardJob` s on one SSH target, one connection reused across jobs."""

    def __init__(self, target: Target, trust_new_host: bool = False) -> None:
        if target.ssh is None:
            raise DevbenchError(f"target {target.name} has no [ssh] table")
        self.target = target
        self.ssh = target.ssh
        self.trust_new_host = trust_new_host
        self.endpoint = resolve_endpoint(target.name, target.ssh)
        self._client: paramiko.SSHClient | None = None
        self._run_dir: str | None = None  # the run directory of the job in progress
        #: run directories left behind by a dropped link: removed (their runner killed) on reconnecting
        self._stale: list[str] = []
        self._cancelled = False

    # ------------------------------------------------------------------ connection
    def _known_hosts_files(self) -> tuple[list[Path], Path]:
        """Files to read, and the one a newly trusted key goes to."""
        own = Path(expand_path(self.ssh.known_hosts)) if self.ssh.known_hosts else known_hosts_path()
        files = [Path.home() / ".ssh" / "known_hosts", known_hosts_path(), own]
        return [f for f in dict.fromkeys(files) if f.exists()], own

    def _password(self) -> str | None:
        if not self.ssh.password:
            return None
        return os.environ.get("DEVBENCH_SSH_PASSWORD") or getpass.getpass(f"password for {self.endpoint.label}: ")

    def _connect_once(self) -> paramiko.SSHClient:
        ep = self.endpoint
        client = paramiko.SSHClient()
        files, store = self._known_hosts_files()
        for f in files:
            try:
                client.load_system_host_keys(str(f))
            except (OSError, paramiko.SSHException) as e:
                raise DevbenchError(f"cannot read known_hosts file {f}: {e}") from None
        client.set_missing_host_key_policy(_HostKeyPolicy(ep.label, self.trust_new_host, store))
        sock = paramiko.ProxyCommand(ep.proxy_command) if ep.proxy_command else None
        try:
            client.connect(
                ep.hostname, port=ep.port, username=ep.user, key_filename=list(ep.key_files) or None,
                password=self._password(), timeout=self.ssh.connect_timeout_s,
                banner_timeout=self.ssh.connect_timeout_s, auth_timeout=self.ssh.connect_timeout_s,
                allow_agent=True, look_for_keys=not ep.key_files, sock=sock,
            )
        except paramiko.BadHostKeyException as e:
            client.close()
            raise DevbenchError(
                f"host key of board {ep.label} has CHANGED (now {e.key.get_name()} {_fingerprint(e.key)}, "
                f"expected {_fingerprint(e.expected_key)}); refusing to connect - remove the old entry from "
                "known_hosts only if you know why it changed"
            ) from None
        except paramiko.AuthenticationException as e:
            client.close()
            raise DevbenchError(f"board {ep.label} refused login as {ep.user!r}: {e}") from None
        except DevbenchError:
            client.close()
            raise
        except (OSError, paramiko.SSHException, EOFError) as e:
            transport = client.get_transport()
            client.close()
            # the TCP connection worked (not through a proxy command that failed), SSH never started
            proxy_failed = isinstance(e, paramiko.ProxyCommandFailure)
            if transport is not None and not transport.remote_version and not proxy_failed:
                if isinstance(e.__context__, EOFError | ConnectionError):
                    raise NotAnSSHServer("it closed the connection without an SSH banner", True) from None
                if str(e).startswith("Indecipherable"):  # paramiko read 100 lines, none of them a banner
                    raise NotAnSSHServer("it sends text, not an SSH banner", False) from None
                raise NotAnSSHServer(f"no SSH banner within {self.ssh.connect_timeout_s:g} s", False) from None
            raise ConnectionLost(str(e) or type(e).__name__) from None
        return client

    def _connection(self) -> paramiko.SSHClient:
        """The open connection, made (with retries and backoff) if there is none."""
        if self._client is not None and self._client.get_transport() and self._client.get_transport().is_active():
            return self._client
        self.close()
        error = ""
        for attempt in range(ATTEMPTS):
            self._refuse_if_cancelled()
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                self._client = self._connect_once()
            except NotAnSSHServer as e:
                error = f"not an SSH server ({e})"
                if not e.retry:
                    break
                continue
            except ConnectionLost as e:
                error = str(e)
                continue
            self._remove_stale()
            return self._client
        raise DevbenchError(f"cannot reach board {self.endpoint.label}: {error}")

    def reach(self) -> None:
        """Connect now (host key rules and retries as for a run): an unreachable board is known
        before anything is compiled for it."""
        self._connection()

    def link(self) -> paramiko.Transport:
        """The open connection (made as for a run if there is none), for callers that open channels
        of their own on it: tuning forwards a port through it and runs TVM's RPC server over it."""
        return self._connection().get_transport()

    def _refuse_if_cancelled(self) -> None:
        if self._cancelled:
            raise DevbenchError(f"interrupted: nothing more runs on board {self.endpoint.label}")

    def cancel(self) -> None:
        """Stop the job in progress from another thread (Ctrl-C): kill its runner, and refuse to
        start another. The connection stays up, so the worker's own cleanup still removes the run
        directory; the caller closes the transport once the worker is done."""
        self._cancelled = True
        run_dir = self._run_dir
        if run_dir is not None and self._client is not None:
            try:
                self._exec(_kill_runner(shlex.quote(run_dir)), self.ssh.connect_timeout_s)
            except (ConnectionLost, RunTimeout, DevbenchError):
                pass

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ remote commands
    def python_command(self) -> str:
        """The board's python as a shell word: ``{cache}`` expands here (a loopback board), ``~/`` there."""
        python = self.ssh.python.replace("{cache}", expand_path("{cache}"))
        if python.startswith("~/"):
            return '"$HOME"/' + shlex.quote(python[2:])
        return shlex.quote(python)

    def _exec(self, command: str, timeout_s: float) -> tuple[int, str, str]:
        """Run one shell command (connecting if need be); exit code, stdout, stderr."""
        return self._exec_on(self._connection().get_transport(), command, timeout_s)

    def _exec_on(self, link: paramiko.Transport, command: str, timeout_s: float) -> tuple[int, str, str]:
        """Run one shell command over ``link``, never another; a dropped link raises ConnectionLost."""
        try:
            chan = link.open_session(timeout=self.ssh.connect_timeout_s)
            chan.exec_command(command)
            chan.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout_s
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                    break
                if chan.closed and not chan.exit_status_ready():
                    raise ConnectionLost("the connection closed during the command")
                if not link.is_active():
                    raise ConnectionLost("the connection dropped during the command")
                if time.monotonic() > deadline:
                    chan.close()
                    raise RunTimeout
                time.sleep(0.02)
            status = chan.recv_exit_status()
            chan.close()
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise ConnectionLost(str(e) or type(e).__name__) from None
        if status == -1:
            raise ConnectionLost("the connection closed before the command's exit status arrived")
        return status, out.decode(errors="replace"), err.decode(errors="replace")

    # ------------------------------------------------------------------ one job
    def _verify(self, run_dir: str, files: dict[str, Path]) -> None:
        """SHA-256 of every uploaded file, computed on the board, against the local files."""
        names = " ".join(shlex.quote(n) for n in files)
        cmd = f"cd {shlex.quote(run_dir)} && sha256sum -- {names}"
        status, out, err = self._exec(cmd, self.ssh.connect_timeout_s * 3)
        if status == 127:  # no coreutils: ask the board's python
            script = (
                "import hashlib,sys\n"
                "for n in sys.argv[1:]: print(hashlib.sha256(open(n,'rb').read()).hexdigest(), n)"
            )
            cmd = f"cd {shlex.quote(run_dir)} && {self.python_command()} -c {shlex.quote(script)} {names}"
            status, out, err = self._exec(cmd, self.ssh.run_timeout_s)
        if status != 0:
            raise DevbenchError(f"cannot checksum the uploaded files on board {self.endpoint.label}: {err.strip()}")
        remote = {}
        for line in out.splitlines():
            digest, _, name = line.partition(" ")
            remote[name.strip().lstrip("*")] = digest
        for name, local in files.items():
            if remote.get(name) != _sha256(local):
                raise DevbenchError(f"{name} arrived corrupted on board {self.endpoint.label} (SHA-256 mismatch)")

    def _make_run_dir(self) -> str:
        """A fresh ``mktemp -d`` directory in the workdir: mode 0700 and a name nobody can guess, so
        no other user of the board can plant or read files in it."""
        workdir = self.ssh.workdir.rstrip("/") or "/"
        template = posixpath.join(workdir, RUN_DIR_TEMPLATE)
        status, out, err = self._exec(f"mkdir -p -- {shlex.quote(workdir)} && mktemp -d -- {shlex.quote(template)}",
                                      self.ssh.connect_timeout_s * 3)
        run_dir = (out.strip().splitlines() or [""])[-1]  # the last line: a chatty shell profile may print first
        if status != 0 or posixpath.dirname(run_dir) != workdir:
            why = " ".join(err.split()) or f"exit {status}"
            raise DevbenchError(f"cannot create a run directory in {workdir} on board {self.endpoint.label}: {why}")
        return run_dir

    def _upload(self, sftp: paramiko.SFTPClient, local: Path, run_dir: str, name: str) -> None:
        """Put one file in the run directory. A write the board's SFTP server refuses is one line
        saying why (a full disk, no permission), not a dropped connection to retry."""
        try:
            sftp.put(str(local), posixpath.join(run_dir, name))
        except OSError as e:
            link = _link_of(sftp, e)
            where = f"board {self.endpoint.label} (while uploading {name} to {run_dir})"
            if e.errno in (errno.EACCES, errno.EPERM):
                raise DevbenchError(f"permission denied on {where}") from None
            # what a full disk looks like over SFTP: a "Failure" status or, where paramiko pipelines
            # the writes, a short file ("size mismatch in put"); the free space tells them apart.
            # Asked over the same link: if that died meanwhile, this is a dropped connection after all.
            free_kib, size_kib = self._free_kib(link, run_dir), -(-local.stat().st_size // 1024)
            if e.errno in (errno.ENOSPC, errno.EDQUOT) or (free_kib is not None and free_kib < size_kib):
                room = "" if free_kib is None else f": {free_kib} KiB free there, {name} is {size_kib} KiB"
                raise DevbenchError(f"no space left on {where}{room}") from None
            raise DevbenchError(f"the SFTP server of {where} refused the write: {e}") from None

    def _free_kib(self, link: paramiko.Transport, path: str) -> int | None:
        """KiB free in the file system holding ``path`` on the board (POSIX ``df -P``), if it says."""
        try:
            status, out, _ = self._exec_on(link, f"df -P -k -- {shlex.quote(path)}", self.ssh.connect_timeout_s * 3)
        except RunTimeout:
            return None
        fields = out.splitlines()[-1].split() if status == 0 and out.strip() else []
        return int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else None

    def _run_once(self, job: BoardJob, files: dict[str, Path], out_name: str) -> dict[str, Any]:
        run_dir = self._make_run_dir()
        quoted_dir = shlex.quote(run_dir)
        self._run_dir = run_dir
        finished = False  # the runner exited on its own: nothing to kill
        try:
            sftp = self._connection().open_sftp()
            try:
                for name, local in files.items():
                    self._upload(sftp, local, run_dir, name)
                self._verify(run_dir, files)
                self._refuse_if_cancelled()  # interrupted while uploading: start nothing more
                argv = " ".join(shlex.quote(a) for a in job.args)
                timeout_s = min(job.timeout_s, self.ssh.run_timeout_s)
                # $$ is the shell that execs python: its pid lets a timed-out run be killed
                cmd = (
                    f"cd {quoted_dir} && echo $$ > .pid && exec "
                    f"{self.python_command()} runner.py {argv}"
                )
                try:
                    status, out, err = self._exec(cmd, timeout_s)
                    finished = True
                except RunTimeout:
                    raise DevbenchError(
                        f"board {self.endpoint.label} did not finish within {timeout_s:.0f} s"
                    ) from None
                return self._result(sftp, posixpath.join(run_dir, out_name), status, err or out)
            finally:
                sftp.close()
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise ConnectionLost(str(e) or type(e).__name__) from None
        finally:
            self._run_dir = None
            self._remove(run_dir, kill=not finished)

    def _result(self, sftp: paramiko.SFTPClient, path: str, status: int, output: str) -> dict[str, Any]:
        """The runner's JSON object; a missing or malformed one is one line with the runner's last
        words (what a crashed or lying board printed), never a traceback."""
        tail = " | ".join(output.strip().splitlines()[-3:])[:500]
        try:
            with sftp.open(path) as f:
                text = f.read()
        except OSError as e:
            _link_of(sftp, e)
            raise DevbenchError(f"runner on board {self.endpoint.label} wrote no result (exit {status}): "
                                f"{tail}") from None
        try:
            result = json.loads(text)
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise DevbenchError(f"runner on board {self.endpoint.label} wrote a malformed result (not a JSON object, "
                                f"exit {status}): {tail}")
        return result

    def _remove(self, run_dir: str, kill: bool) -> None:
        """Delete ``run_dir``; with ``kill``, first kill the runner that may still run there (timed
        out, interrupted, or orphaned by a dropped link; never one that exited, whose pid may be
        another process's by now). A board that went away keeps it until the link is back."""
        transport = self._client.get_transport() if self._client else None
        if transport is not None and transport.is_active():
            quoted = shlex.quote(run_dir)
            command = f"rm -rf -- {quoted}"
            if kill:
                command = f"{_kill_runner(quoted)}; {command}"
            try:
                status, _, _ = self._exec(command, self.ssh.connect_timeout_s * 3)
                if status == 0:
                    return
            except (ConnectionLost, RunTimeout, DevbenchError):
                pass
        self._stale.append(run_dir)

    def _remove_stale(self) -> None:
        """On a fresh connection: remove what a dropped one left behind."""
        stale, self._stale = self._stale, []
        for run_dir in stale:
            self._remove(run_dir, kill=True)

    def run(self, job: BoardJob) -> dict[str, Any]:
        """Upload, verify, run ``runner.py``, return its JSON. A dropped connection is retried
        (with backoff) on a fresh one; what still fails is a :class:`DevbenchError`."""
        files = {**BOARD_FILES, **job.files}
        out_name = job.request.out
        for name in [*files, out_name]:
            _check_name(name)
        error = ""
        for attempt in range(ATTEMPTS):
            self._refuse_if_cancelled()
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                return self._run_once(job, files, out_name)
            except ConnectionLost as e:
                error = str(e)
                self.close()
        raise DevbenchError(f"lost the connection to board {self.endpoint.label}: {error}")

    def __enter__(self) -> SSHTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _link_of(sftp: paramiko.SFTPClient, error: OSError) -> paramiko.Transport:
    """The connection ``sftp`` runs on, where ``error`` came from the board's SFTP server; raises
    ConnectionLost where the connection itself is gone."""
    link = sftp.get_channel().get_transport()
    if not link.is_active():
        raise ConnectionLost(str(error) or type(error).__name__) from None
    return link


def _kill_runner(quoted_dir: str) -> str:
    """The shell command that kills the runner of a run directory (its shell wrote its pid)."""
    return f"if [ -f {quoted_dir}/.pid ]; then kill -9 \"$(cat {quoted_dir}/.pid)\" 2>/dev/null; fi"


def _check_name(name: str) -> None:
    """A plain file name in the run directory; anything else is quoted, never interpreted."""
    if not name or name.startswith((".", "-")) or set(name) & UNSAFE_CHARS:
        raise DevbenchError(f"{name!r} is not a plain file name for the board's run directory")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

