"""What native code (TVM's C++ ``LOG(WARNING)``, LLVM) writes to stderr, routed through ``logging``.

TVM's C++ logs go straight to file descriptor 2 (``std::cerr``) with no minimum level to set from
the environment (``TVM_LOG_DEBUG`` only turns *more* on), so Python's logging cannot filter them:
lines such as ``Unknown schedule rule "meta_schedule.pool_avg"`` would land on the user's terminal
on every tuning. :func:`native_stderr` points fd 2 at a temporary file around a native call and
re-emits each line afterwards through the ``tvm.native`` logger at the level TVM gave it (lines
without one at WARNING), so the CLI shows them with ``-v`` only. Python's own writes to
``sys.stderr`` inside the block (devbench's notes, progress, Ctrl-C messages) still go to the
terminal as they happen. Host side only.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("tvm.native")

#: TVM's log line: "[12:34:56] /path/file.cc:123: Warning: text" (INFO has no level word)
_TVM_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: (?:(Debug|Warning|Error): )?")
_LEVELS = {"Debug": logging.DEBUG, None: logging.INFO, "Warning": logging.WARNING, "Error": logging.ERROR}

_lock = threading.Lock()
_active = False


def emit(text: str) -> None:
    """Log each non-empty line of captured native output at its level."""
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _TVM_LINE.match(line)
        log.log(_LEVELS[m.group(1)] if m else logging.WARNING, "%s", line)


@contextmanager
def native_stderr() -> Iterator[None]:
    """Capture what native code writes to fd 2 inside the block; re-emit it through logging after.
    Nested uses (a tune that compiles) capture once, in the outermost block."""
    global _active
    with _lock:
        outer = not _active
        _active = True
    if not outer:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    old_stderr = sys.stderr
    capture = tempfile.TemporaryFile()
    # Python's writes keep going to the terminal: sys.stderr and the handlers that hold it
    terminal = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0), encoding="utf-8",
                                errors="backslashreplace", line_buffering=True, write_through=True)
    handlers = [h for h in _stream_handlers() if h.stream is old_stderr]
    os.dup2(capture.fileno(), 2)
    sys.stderr = terminal
    for h in handlers:
        h.setStream(terminal)
    try:
        yield
    finally:
        # with the handlers made inside the block that took sys.stderr then (MetaSchedule's loggers)
        for h in {*handlers, *(h for h in _stream_handlers() if h.stream is terminal)}:
            h.setStream(old_stderr)
        sys.stderr = old_stderr
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()
        with _lock:
            _active = False
        capture.seek(0)
        text = capture.read().decode("utf-8", errors="backslashreplace")
        capture.close()
        emit(text)


def _stream_handlers() -> list[logging.StreamHandler]:
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values()
                                      if isinstance(v, logging.Logger))]
    return [h for lg in loggers for h in lg.handlers if isinstance(h, logging.StreamHandler)]
