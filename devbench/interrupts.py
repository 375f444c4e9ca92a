"""Ctrl-C and SIGTERM as a flag that outlives the exception they raise, and a way out of native code.

A compiler may catch the KeyboardInterrupt raised inside it: TVM turns an interrupt in its C++
code into a RuntimeError, and the TVM backend falls back to its ONNX importer when torch.export
fails. Code that catches broad errors asks :func:`requested` before treating one as a failure.

Python runs a signal handler only between bytecodes, so a long native call (LLVM's code generation
in TVM's build) would hold an interrupt for seconds. While inside :func:`native_section`, a
watchdog thread woken by the signal itself (``signal.set_wakeup_fd``) ends the process with exit
code 130 if the main thread has not reacted within a grace period. Such a section stores nothing
(a compile writes into a scratch directory and renames it when done), so nothing half-done remains.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: how long the main thread may sit in native code after Ctrl-C before the process ends anyway
GRACE_S = 1.5

_requested = threading.Event()
_in_native = threading.Event()


def requested() -> bool:
    """Whether the user asked the run in progress to stop."""
    return _requested.is_set()


def _watchdog(wakeup: socket.socket) -> None:
    """Woken by any signal's byte on ``wakeup``; if the main thread is still in native code a
    grace period later, exit as Ctrl-C would."""
    while True:
        try:
            data = wakeup.recv(16)
        except OSError:
            return
        if not data:
            return
        if not {signal.SIGINT, signal.SIGTERM} & set(data):
            continue
        _requested.set()
        if _stays_native(GRACE_S):
            sys.stderr.write("\ndevbench: interrupted (inside the compiler; nothing was stored from it)\n")
            sys.stderr.flush()
            os._exit(130)


def _stays_native(seconds: float) -> bool:
    """True when the main thread stayed in a native section for all of ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _in_native.is_set():
            return False
        time.sleep(0.05)
    return _in_native.is_set()


@contextmanager
def native_section() -> Iterator[None]:
    """Mark a call that may run long in native code without returning to Python."""
    _in_native.set()
    try:
        yield
    finally:
        _in_native.clear()


@contextmanager
def watch() -> Iterator[None]:
    """While inside: SIGINT and SIGTERM set the flag and raise KeyboardInterrupt (main thread
    only; elsewhere, as in a notebook's worker thread, the signals keep their handlers)."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        _requested.set()
        raise KeyboardInterrupt

    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    threading.Thread(target=_watchdog, args=(reader,), name="devbench-interrupts", daemon=True).start()
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        signal.set_wakeup_fd(previous_fd)
        writer.close()
        reader.shutdown(socket.SHUT_RDWR)
        reader.close()
