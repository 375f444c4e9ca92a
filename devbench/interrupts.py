"""Ctrl-C and SIGTERM as a flag that outlives the exception they raise, and a way out of native code.

A compiler may catch the KeyboardInterrupt raised inside it: TVM turns an interrupt in its C++
code into a RuntimeError, and the TVM backend falls back to its ONNX importer when torch.export
fails. Code that catches broad errors asks :func:`requested` before treating one as a failure.

Python runs a signal handler only between bytecodes, so a long native call (LLVM's code generation
in TVM's build) would hold an interrupt for seconds. While inside :func:`native_section`, a
watchdog thread woken by the signal itself (``signal.set_wakeup_fd``) ends the process with exit
code 130 if the main thread has not reacted within a grace period. Such a section stores nothing
(a compile writes into a scratch directory and renames it when done), so nothing half-done remains.

Inside :func:`deferred` a signal only sets the flag, and the code calls :func:`check` where stopping
is safe. MetaSchedule calls devbench's builder, runner and measure callbacks from C++, and a
KeyboardInterrupt raised inside one of them comes out as a RuntimeError, is swallowed (the tuning
then ran to its end with exit code 0), or crashes the process (SIGSEGV).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: how long the main thread may sit in native code after Ctrl-C before the process ends anyway (a
#: second: on a busy machine exiting takes a few tenths more, and a user expects Ctrl-C to stop in two)
GRACE_S = 1.0
#: the same inside :func:`deferred`, whose safe points are seconds apart (a batch of candidates), so
#: that waiting longer for one rarely helps; a garbage collection in the main thread (a second, when
#: it frees TVM's IR) holds the watchdog back on top of it
DEFERRED_GRACE_S = 0.5

_requested = threading.Event()
_in_native = threading.Event()
_deferred = threading.Event()


@dataclass(frozen=True)
class _Section:
    """How the watchdog ends the process from inside the current native section."""

    grace_s: float
    note: str  # what the interrupted work kept, in the last line
    kill_children: bool = False


_section = _Section(GRACE_S, "inside the compiler; nothing was stored from it")


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
        section = _section
        if _stays_native(section.grace_s):
            sys.stderr.write(f"\ndevbench: interrupted ({section.note})\n")
            sys.stderr.flush()
            if section.kill_children:
                _kill_children()
            os._exit(130)


def _kill_children() -> None:
    """SIGKILL every process this one started (worker pools: they would not hear of os._exit)."""
    import psutil  # imported already, by deferred()

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):  # gone already
            child.kill()


def _stays_native(seconds: float) -> bool:
    """True when the main thread stayed in a native section for all of ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _in_native.is_set():
            return False
        time.sleep(0.05)
    return _in_native.is_set()


def check() -> None:
    """Raise KeyboardInterrupt if a signal came: a safe point inside :func:`deferred`."""
    if _requested.is_set():
        raise KeyboardInterrupt


@contextmanager
def native_section() -> Iterator[None]:
    """Mark a call that may run long in native code without returning to Python."""
    outer = not _in_native.is_set()
    _in_native.set()
    try:
        yield
    finally:
        if outer:
            _in_native.clear()


@contextmanager
def deferred(note: str) -> Iterator[None]:
    """Inside :func:`watch`: signals only set the flag, for :func:`check` at the next safe point; if
    none comes within :data:`DEFERRED_GRACE_S`, the watchdog kills this process's children (worker
    processes, which would go on for a second or more with work no one reads, holding the terminal)
    and ends the process saying ``note`` (what the interrupted work kept)."""
    global _section
    # for the watchdog's kill, imported here (not on every CLI start, not in the watchdog, where a
    # first import would wait on the main thread for the GIL)
    import psutil  # noqa: F401

    previous = _section
    _section = _Section(DEFERRED_GRACE_S, note, kill_children=True)
    _deferred.set()
    try:
        with native_section():
            yield
    finally:
        _deferred.clear()
        _section = previous


@contextmanager
def watch() -> Iterator[None]:
    """While inside: SIGINT and SIGTERM set the flag and raise KeyboardInterrupt, unless inside
    :func:`deferred` (main thread only; elsewhere, as in a notebook's worker thread, the signals
    keep their handlers)."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        _requested.set()
        if not _deferred.is_set():
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
