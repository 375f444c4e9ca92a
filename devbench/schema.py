"""File schemas' failures as devbench's one-line errors: the file, the line, the field, what was wrong.

Target files (TOML) and spec files (JSON) are checked against pydantic schemas (``STRICT``: no
coercion, so ``"no"`` is not a boolean and ``3.7`` not a count; no unknown keys; no NaN or
infinity). pydantic reports where in the parsed data a value failed; neither ``json`` nor
``tomllib`` keeps line numbers, so the line is found again by a simple scan of the file's text.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Callable

from pydantic import ConfigDict, ValidationError

#: the config of every file schema
STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

Loc = tuple[int | str, ...]
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")


def field_name(loc: Loc) -> str:
    """``("ssh", "port")`` -> ``ssh.port``, ``("inner", 0, 2)`` -> ``inner[0][2]``.

    A key with a newline or another unprintable character is quoted (``'\\n'``): the error stays one line.
    """
    name = ""
    for part in loc:
        key = str(part) if str(part).isprintable() else ascii(str(part))
        name += f"[{part}]" if isinstance(part, int) else (f".{key}" if name else key)
    return name or "the top level"


def one_line(error: ValidationError, source: str, line_of: Callable[[Loc], int | None],
             loc_prefix: Loc = (), hint: str = "") -> str:
    """The first problem of ``error`` as ``SOURCE:LINE: FIELD: WHAT`` (the line where it can be found).

    ``loc_prefix`` places the validated value in its file (``("target", 2)`` for the third
    ``[[target]]``), for the field's name and its line; ``hint`` follows an unknown field.
    """
    problems = error.errors(include_url=False)
    first = problems[0]
    loc = loc_prefix + tuple(first["loc"])
    field = field_name(loc)
    if first["type"] == "missing":
        what = f"{field} is required"
    elif first["type"] == "extra_forbidden":
        what = f"unknown field {field}{hint}"
    else:
        what = f"{field}: {first['msg'].removeprefix('Input ')}, got {reprlib.repr(first['input'])}"
    if len(problems) > 1:
        what += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    line = line_of(loc)
    return f"{source}:{line}: {what}" if line else f"{source}: {what}"


def json_line_of(text: str) -> Callable[[Loc], int | None]:
    """For a JSON file: the line of the innermost key of a location that is written in ``text``."""

    def line_of(loc: Loc) -> int | None:
        pos, line = 0, None
        for key in (p for p in loc if isinstance(p, str)):
            m = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(text, pos)
            if m is None:
                break
            pos, line = m.end(), text.count("\n", 0, m.start()) + 1
        return line

    return line_of


def toml_line_of(text: str) -> Callable[[Loc], int | None]:
    """For a TOML file: the line of the key (or table header) that matches most of a location.

    Every key line and header is given its full location (``[[target]]`` tables are numbered),
    and the one sharing the longest prefix with the location asked for wins: a value inside an
    inline table or a list is found at its key, a missing key at its table's header.
    """
    written: list[tuple[Loc, int]] = []
    arrays: dict[Loc, int] = {}
    table: Loc = ()
    for number, raw in enumerate(text.splitlines(), start=1):
        if header := _TOML_HEADER.match(raw):
            parts = _key_parts(header[2])
            table = (*_with_indices(parts[:-1], arrays), parts[-1])
            if header[1] == "[[":
                arrays[table] = arrays.get(table, -1) + 1
                table = (*table, arrays[table])
            written.append((table, number))
        elif key := _TOML_KEY.match(raw):
            written.append(((*table, *_key_parts(key[1])), number))

    def line_of(loc: Loc) -> int | None:
        best, line = 0, None
        for where, number in written:
            shared = next((i for i, (a, b) in enumerate(zip(where, loc, strict=False)) if a != b),
                          min(len(where), len(loc)))
            if shared > best:
                best, line = shared, number
        return line

    return line_of


def _key_parts(key: str) -> Loc:
    return tuple(part.strip().strip("\"'") for part in key.split("."))


def _with_indices(path: Loc, arrays: dict[Loc, int]) -> Loc:
    """``target.ssh`` inside the third ``[[target]]`` -> ``("target", 2, "ssh")``."""
    out: Loc = ()
    for part in path:
        out = (*out, part)
        if out in arrays:
            out = (*out, arrays[out])
    return out
