"""Tuning on a board reached over SSH: TVM's RPC server on the board, for one ``devbench tune``.

MetaSchedule measures on a remote board only through a TVM RPC tracker, and an SSH board has none.
For the length of a ``with board_rpc(target)`` block this module makes one out of the board's SSH
connection (devbench's own, with its host-key rules and retries):

- on this machine, a tracker and an RPC proxy in tracker mode, both on 127.0.0.1 at free ports;
- a remote port forward: the board's 127.0.0.1:R (a port its sshd picks) reaches the proxy here;
- on the board, with the target's python, the server loop that ``python -m tvm.exec.rpc_server
  --through-proxy --host 127.0.0.1 --port R --key K`` runs: it dials out to the proxy, which
  registers it with the tracker, and the tracker hands MetaSchedule's RPCRunner the proxy's address.

Why a proxy rather than a server listening on the board behind a local forward: a tracker hands
clients the very port the server listens on, so the local forward would have to listen here on
that port, and on a board sharing this machine's loopback (the emulated one) both are one socket.
Dialing out also leaves no RPC server (which runs whatever code it is sent) listening on the board.

Why the server loop (``tvm.rpc.server._connect_proxy_loop``, TVM's own) and not the command:
``rpc_server`` runs that loop in a worker process it starts with cloudpickle, which a board with
TVM alone lacks, and that worker imports TVM again (10-20 s under qemu, whose python cannot start
another python without a wrapper at all). The board needs nothing but the TVM that ``run`` needs.

Nothing is left running. The server leads a process group of its own (with the session processes
it forks), and kills that group as soon as its stdin, the SSH channel, closes: when devbench
leaves the block (errors and Ctrl-C included), and when devbench dies or the link drops. On
leaving, devbench waits for the server's exit (killing its group by pid if it lingers), cancels
the forward and stops the tracker and the proxy, whose processes also end by themselves once
devbench is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import selectors
import shlex
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import paramiko

from devbench.boards.sshd import LOOPBACK, free_port
from devbench.errors import DevbenchError
from devbench.targets import Target
from devbench.transports.ssh import SSHTransport

#: until the server has registered: it imports TVM first (seconds on a Pi, up to a minute under qemu)
READY_TIMEOUT_S = 300.0
#: from closing the server's stdin to its exit, before its process group is killed by pid
STOP_TIMEOUT_S = 15.0
#: the board script's exit status when the board's python has no TVM package
NO_TVM = 3
#: the board's python runs this with the proxy's forwarded address and the key as arguments
BOARD_SCRIPT = f"""\
import importlib.util, logging, os, signal, sys, threading
if importlib.util.find_spec("tvm") is None:
    sys.exit({NO_TVM})
try:
    os.setpgid(0, 0)  # the server and the session processes it forks: one group to kill
except PermissionError:  # already a session leader (sshd makes one), hence a group leader
    pass
def watch():
    # os.read, not sys.stdin: a forked session closes sys.stdin, whose lock this read would hold
    while os.read(0, 4096):
        pass
    os.killpg(0, signal.SIGKILL)  # EOF: devbench closed the channel, or its connection is gone
threading.Thread(target=watch, daemon=True).start()
from tvm.rpc import server
logging.getLogger("RPCServer").setLevel(logging.WARNING)  # not three lines per measured candidate
server._connect_proxy_loop((sys.argv[1], int(sys.argv[2])), sys.argv[3], None)
"""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoardRPC:
    """Where MetaSchedule's RPCRunner asks for the board; ``server_pid`` leads the server's
    process group on the board."""

    tracker_host: str
    tracker_port: int
    key: str
    server_pid: int


def _exit_with_parent(parent: int) -> None:
    """In a tracker's or proxy's worker process: end it once ``parent`` (devbench) is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _start_in_worker(start: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Run TVM's tracker or proxy in a worker process as ``tvm.rpc.Tracker`` and ``Proxy`` do; the
    worker and what ``start`` returned (the port). Unlike theirs, the worker's output is discarded
    (the proxy logs about ten INFO lines per measured candidate into this process's stderr), and the
    worker ends with this process even when it is killed (their serving threads would keep it up)."""
    from tvm.support.popen_pool import PopenWorker

    worker = PopenWorker(initializer=_exit_with_parent, initargs=(os.getpid(),),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker.send(start, args, kwargs)
    return worker, worker.recv()


#: what paramiko and sockets raise when the other end or the SSH connection is gone
_GONE = (OSError, EOFError, paramiko.SSHException)


def _pipe(chan: paramiko.Channel, sock: socket.socket) -> None:
    """Copy bytes both ways between a forwarded channel and a local socket until either end closes."""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(chan, selectors.EVENT_READ)
            sel.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    src, dst = (chan, sock) if key.fileobj is chan else (sock, chan)
                    data = src.recv(1 << 16)
                    if not data:
                        return
                    dst.sendall(data)
    except _GONE:  # one end went away mid-transfer
        return
    finally:
        with contextlib.suppress(*_GONE):  # closing a channel whose connection is gone: EOFError
            chan.close()
        sock.close()


class _ToLocalPort:
    """The remote forward's handler: each connection made to the forwarded port on the board is
    piped to ``port`` on this machine's loopback, in a thread of its own (paramiko calls handlers
    from its transport thread, which must not block)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def __call__(self, chan: paramiko.Channel, origin: tuple[str, int], server: tuple[str, int]) -> None:
        threading.Thread(target=self._serve, args=(chan,), daemon=True, name="devbench-rpc-forward").start()

    def _serve(self, chan: paramiko.Channel) -> None:
        try:
            sock = socket.create_connection((LOOPBACK, self.port), timeout=10)
        except OSError:
            chan.close()
            return
        sock.settimeout(None)
        _pipe(chan, sock)


def _kill_group(link: paramiko.Transport, pid: int, timeout_s: float) -> None:
    """Kill the board's process group ``pid`` (its leader alone where it leads none)."""
    chan = link.open_session(timeout=timeout_s)
    try:
        chan.exec_command(f"kill -KILL -- -{pid} 2>/dev/null || kill -KILL {pid}")
        deadline = time.monotonic() + timeout_s
        while not chan.exit_status_ready() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        chan.close()


class _Server:
    """TVM's RPC server on the board, in a session channel of its own whose stdin keeps it alive.

    ``command`` ends in ``exec``-ing python, and the shell prints its pid first: the pid (and
    process group) is known even when python never starts. The output is kept for error messages.
    """

    def __init__(self, link: paramiko.Transport, command: str, timeout_s: float) -> None:
        self.chan = link.open_session(timeout=timeout_s)
        self.chan.set_combine_stderr(True)
        self.chan.exec_command(f"echo $$; {command}")
        self.pid: int | None = None
        self.output: deque[str] = deque(maxlen=20)
        self._reader = threading.Thread(target=self._read, daemon=True, name="devbench-rpc-server-output")
        self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self.chan.makefile("rb"):
                line = raw.decode(errors="replace").rstrip()
                if self.pid is None and line.isdigit():
                    self.pid = int(line)
                elif line:
                    self.output.append(line)
        except (OSError, EOFError, paramiko.SSHException):
            return

    def exit_status(self) -> int | None:
        """The server's exit status once it has exited (-1: killed, or the channel closed), else None."""
        return self.chan.recv_exit_status() if self.chan.exit_status_ready() else None

    def last_words(self) -> str:
        """The server's last lines of output, for an error message."""
        self._reader.join(2.0)  # after the exit status, the last lines may still be on their way
        return " | ".join(list(self.output)[-3:])[:500] or "no output"

    def stop(self, link: paramiko.Transport, timeout_s: float) -> None:
        """EOF on the server's stdin: it kills its own process group. Killed by pid if it lingers."""
        try:
            self.chan.shutdown_write()
            deadline = time.monotonic() + timeout_s
            while not self.chan.exit_status_ready() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.chan.exit_status_ready() and self.pid is not None:
                _kill_group(link, self.pid, timeout_s)
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the link is gone: sshd closed the server's stdin itself, and the server followed
        finally:
            self.chan.close()


def _server_command(ssh: SSHTransport, forwarded_port: int, key: str) -> str:
    threads = ssh.target.threads
    # measured with the thread count devbench runs the network with on this board
    env = f"export TVM_NUM_THREADS={threads}; " if threads else ""
    args = " ".join(shlex.quote(a) for a in (LOOPBACK, str(forwarded_port), key))
    return f"{env}exec {ssh.python_command()} -c {shlex.quote(BOARD_SCRIPT)} {args}"


def _failed(ssh: SSHTransport, server: _Server, status: int) -> DevbenchError:
    """The one-line error for a server that exited before it registered."""
    label, python = ssh.endpoint.label, ssh.ssh.python
    if status == NO_TVM:
        import tvm

        return DevbenchError(
            f"board {label} has no TVM Python package for {python}, so it cannot be tuned: install "
            f"apache-tvm=={tvm.__version__} there (`devbench doctor --target {ssh.target.name}` checks it)"
        )
    if status == 127:
        return DevbenchError(f"board {label} has no {python} (the target's ssh.python): {server.last_words()}")
    return DevbenchError(f"TVM's RPC server on board {label} exited with status {status} before it was ready: "
                         f"{server.last_words()}")


def _wait_registered(ssh: SSHTransport, server: _Server, tracker_port: int, key: str, timeout_s: float) -> None:
    """Until the tracker has the board's server free under ``key``; a server that exits first is
    one line saying why."""
    from tvm import rpc

    tracker = rpc.connect_tracker(LOOPBACK, tracker_port)
    deadline = time.monotonic() + timeout_s
    while True:
        status = server.exit_status()
        if status is not None:
            raise _failed(ssh, server, status)
        if tracker.summary()["queue_info"].get(key, {}).get("free", 0):
            return
        if time.monotonic() > deadline:
            raise DevbenchError(f"TVM's RPC server on board {ssh.endpoint.label} did not register within "
                                f"{timeout_s:.0f} s: {server.last_words()}")
        time.sleep(0.5)


@contextmanager
def board_rpc(target: Target, trust_new_host: bool = False,
              ready_timeout_s: float = READY_TIMEOUT_S) -> Iterator[BoardRPC]:
    """A tracker on this machine with the SSH board ``target`` registered in it, for the block's length."""
    from tvm.rpc.proxy import _popen_start_proxy_server
    from tvm.rpc.tracker import _popen_start_tracker_server

    with ExitStack() as stack:
        ssh = SSHTransport(target, trust_new_host=trust_new_host)
        stack.callback(ssh.close)
        link = ssh.link()
        start = free_port()
        tracker, (tracker_port, _) = _start_in_worker(_popen_start_tracker_server, LOOPBACK, start,
                                                      min(start + 100, 65536), silent=True)
        stack.callback(tracker.kill)
        start = free_port()
        proxy, proxy_port = _start_in_worker(_popen_start_proxy_server, LOOPBACK, start, min(start + 100, 65536),
                                             tracker_addr=(LOOPBACK, tracker_port))
        stack.callback(proxy.kill)
        try:
            forwarded = link.request_port_forward(LOOPBACK, 0, handler=_ToLocalPort(proxy_port))
        except paramiko.SSHException as e:
            raise DevbenchError(f"board {ssh.endpoint.label} refused to forward a port for TVM's RPC server ({e}); "
                                "tuning over SSH needs AllowTcpForwarding in the board's sshd_config") from None
        stack.callback(_cancel_forward, link, forwarded)
        key = f"devbench-{secrets.token_hex(4)}"
        timeout_s = ssh.ssh.connect_timeout_s
        server = _Server(link, _server_command(ssh, forwarded, key), timeout_s)
        stack.callback(server.stop, link, STOP_TIMEOUT_S)
        log.info("waiting for TVM's RPC server on board %s", ssh.endpoint.label)
        _wait_registered(ssh, server, tracker_port, key, ready_timeout_s)
        assert server.pid is not None  # printed before python started, which registered
        yield BoardRPC(LOOPBACK, tracker_port, key, server.pid)


def _cancel_forward(link: paramiko.Transport, port: int) -> None:
    try:
        link.cancel_port_forward(LOOPBACK, port)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # the link is gone, and the forward with it

