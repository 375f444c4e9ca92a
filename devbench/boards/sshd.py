"""A private OpenSSH server on loopback: its own config, host key, client key and pid file.

It runs as the current user, listens on 127.0.0.1 only and never on port 22, and accepts exactly
one key, generated here. It stands in for a board's sshd: the emulated Pi and the tests use it.
``path_first`` puts a directory first on its sessions' PATH and ``home`` gives them their own HOME:
the emulated Pi's ``bin`` and ``home``, so that ``python3`` there is the board's aarch64 Python, as
on a real board, and the shell start-up files of this machine's user (which may put another
``python3`` first) are not the board's.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devbench.errors import DevbenchError

LOOPBACK = "127.0.0.1"
#: the PATH sshd gives a session, after ``path_first``
SESSION_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _keygen(path: Path) -> None:
    if path.exists():
        return
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        raise DevbenchError("ssh-keygen not found; install it with: apt-get install openssh-client")
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "devbench", "-f", str(path)], check=True)


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process. A zombie is not: it has exited, it only waits to be reaped
    (in a container whose init never reaps, forever), and no port is served by it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no /proc (not Linux), or it exited just now: trust the signal check
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]  # the state follows the command name in parentheses


@dataclass(frozen=True)
class LoopbackSSHD:
    """An sshd whose files all live in ``root``; ``start`` and ``stop`` are idempotent."""

    root: Path
    port: int
    path_first: Path | None = None
    home: Path | None = None

    def __post_init__(self) -> None:
        if self.port == 22 or not 1024 <= self.port <= 65535:
            raise DevbenchError(f"sshd port must be between 1024 and 65535 (never 22), got {self.port}")

    @property
    def host_key(self) -> Path:
        return self.root / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.root / "client_ed25519"

    @property
    def config(self) -> Path:
        return self.root / "sshd_config"

    @property
    def pid_file(self) -> Path:
        return self.root / "sshd.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "sshd.log"

    def prepare(self) -> None:
        """Keys (kept across starts, so a known_hosts entry stays valid) and a fresh config."""
        self.root.mkdir(parents=True, exist_ok=True)
        _keygen(self.host_key)
        _keygen(self.client_key)
        authorized = self.root / "authorized_keys"
        authorized.write_text(Path(f"{self.client_key}.pub").read_text())
        authorized.chmod(0o600)
        session = [f'"PATH={self.path_first}:{SESSION_PATH}"'] if self.path_first else []
        if self.home is not None:
            self.home.mkdir(parents=True, exist_ok=True)
            session.append(f'"HOME={self.home}"')
        environment = [f"SetEnv {' '.join(session)}"] if session else []
        self.config.write_text(
            "\n".join(
                [
                    f"ListenAddress {LOOPBACK}:{self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.pid_file}",
                    f"AuthorizedKeysFile {authorized}",
                    f"AllowUsers {getpass.getuser()}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    # the files live in a cache or temp dir, not in ~/.ssh, so sshd's owner checks do not apply
                    "StrictModes no",
                    "PrintMotd no",
                    "Subsystem sftp internal-sftp",
                    *environment,
                    "",
                ]
            )
        )

    def pid(self) -> int | None:
        """The server's pid while it runs, else ``None``."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def check_startable(self) -> str:
        """The sshd binary, once it is known that it exists and that the port is free: checked before
        any slow work (a board's root filesystem) is done for a server that could not start."""
        sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
        if sshd is None:
            raise DevbenchError("sshd not found; install it with: apt-get install openssh-server")
        if port_open(self.port):
            raise DevbenchError(f"port {self.port} on {LOOPBACK} is already in use; pick another with --port")
        return sshd

    def start(self, timeout_s: float = 15.0) -> None:
        if self.pid() is not None:
            return
        sshd = self.check_startable()
        self.prepare()
        if os.geteuid() == 0:  # sshd started by root insists on its privilege-separation directory
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.pid_file.unlink(missing_ok=True)
        proc = subprocess.run([sshd, "-f", str(self.config), "-E", str(self.log_file)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise DevbenchError(f"sshd did not start: {(proc.stderr or proc.stdout).strip()} (log: {self.log_file})")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is not None and port_open(self.port):
                return
            time.sleep(0.05)
        raise DevbenchError(
            f"sshd did not come up on {LOOPBACK}:{self.port} within {timeout_s:.0f} s; see {self.log_file}"
        )

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the server; ``True`` if one was running. Sessions already open end on their own."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def known_hosts_line(self) -> str:
        """This server's entry in OpenSSH known_hosts syntax (``[127.0.0.1]:PORT TYPE KEY``)."""
        key_type, key_b64 = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"[{LOOPBACK}]:{self.port} {key_type} {key_b64}"

    def write_known_hosts(self, path: Path) -> None:
        """Record this server's key in ``path``, replacing any older entry for the same host and port."""
        prefix = f"[{LOOPBACK}]:{self.port} "
        lines = path.read_text().splitlines() if path.exists() else []
        kept = [line for line in lines if not line.startswith(prefix)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([*kept, self.known_hosts_line()]) + "\n")
