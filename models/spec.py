"""A network as data: the architecture spec every pruned, reduced or scaled network is written as.

A spec names a family and lists, for every block, its *inner width*: the prunable channels (the
output of the first conv of a residual block, the 4k bottleneck of a DenseNet-BC layer). A pruned
network is then just another spec, so it can be saved as JSON, compiled and benchmarked like any
registered network. A residual block with inner width 0 has no residual branch: it is its shortcut.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from devbench.errors import DevbenchError

FAMILIES = ("wrn", "resnet", "densenet_bc")
_NUMBER_LIST = re.compile(r"\[(\n[-\d.,\s]*)\]")  # a raw newline: never inside a JSON string


@dataclass(frozen=True)
class ArchSpec:
    """One network architecture.

    ``inner[s][b]`` is the inner width of block ``b`` of stage ``s`` (a DenseNet-BC dense block is a
    stage, its layers are blocks). ``stage_channels[s]`` is the output width of each residual stage
    (empty for DenseNet-BC, whose widths follow from ``growth`` and ``compression``).
    """

    family: str
    inner: tuple[tuple[int, ...], ...]
    stem_channels: int
    stage_channels: tuple[int, ...] = ()
    growth: int = 0
    compression: float = 0.5
    input_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Normalise lists (from JSON) into tuples so specs hash and compare by value.
        object.__setattr__(self, "inner", tuple(tuple(int(w) for w in s) for s in self.inner))
        object.__setattr__(self, "stage_channels", tuple(int(c) for c in self.stage_channels))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DevbenchError` when the widths do not fit the family."""
        where = f"spec {self.name!r}" if self.name else "spec"
        if self.family not in FAMILIES:
            raise DevbenchError(f"{where}: unknown family {self.family!r} (known: {', '.join(FAMILIES)})")
        if len(self.input_shape) != 3 or min(self.input_shape) <= 0:
            raise DevbenchError(f"{where}: input_shape must be [channels, height, width], got {list(self.input_shape)}")
        if self.num_classes <= 0 or self.stem_channels <= 0:
            raise DevbenchError(f"{where}: num_classes and stem_channels must be positive")
        if not self.inner or any(len(s) == 0 for s in self.inner):
            raise DevbenchError(f"{where}: every stage needs at least one block")
        if any(w < 0 for s in self.inner for w in s):
            raise DevbenchError(f"{where}: inner widths must be >= 0")
        if self.family == "densenet_bc":
            if self.growth <= 0:
                raise DevbenchError(f"{where}: densenet_bc needs growth > 0")
            if not 0 < self.compression <= 1:
                raise DevbenchError(f"{where}: compression must be in (0, 1]")
            if any(w < 1 for s in self.inner for w in s):
                raise DevbenchError(f"{where}: a densenet_bc layer needs a bottleneck width >= 1")
        else:
            if len(self.stage_channels) != len(self.inner):
                raise DevbenchError(
                    f"{where}: {len(self.stage_channels)} stage_channels for {len(self.inner)} stages"
                )
            if any(c <= 0 for c in self.stage_channels):
                raise DevbenchError(f"{where}: stage_channels must be positive")

    # ------------------------------------------------------------------ views
    @property
    def widths(self) -> list[int]:
        """Inner widths flattened in block order (the order of the model's channel gates)."""
        return [w for stage in self.inner for w in stage]

    @property
    def depth_blocks(self) -> int:
        return sum(len(s) for s in self.inner)

    def with_inner(self, inner: list[list[int]] | tuple[tuple[int, ...], ...], name: str = "") -> ArchSpec:
        """The same architecture with other inner widths (a pruned or scaled variant)."""
        return replace(self, inner=tuple(tuple(s) for s in inner), name=name or self.name)

    def with_flat_widths(self, widths: list[int], name: str = "") -> ArchSpec:
        """Like :meth:`with_inner`, from widths in :attr:`widths` order."""
        if len(widths) != len(self.widths):
            raise DevbenchError(f"{len(widths)} widths given for {len(self.widths)} blocks")
        it = iter(widths)
        return self.with_inner([[next(it) for _ in s] for s in self.inner], name=name)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inner"] = [list(s) for s in self.inner]
        d["stage_channels"] = list(self.stage_channels)
        d["input_shape"] = list(self.input_shape)
        if not d["meta"]:
            del d["meta"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "spec") -> ArchSpec:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise DevbenchError(f"{source}: unknown spec field(s) {', '.join(sorted(unknown))}")
        missing = {"family", "inner", "stem_channels"} - set(d)
        if missing:
            raise DevbenchError(f"{source}: missing spec field(s) {', '.join(sorted(missing))}")
        try:
            return cls(**d)
        except (TypeError, ValueError) as e:
            raise DevbenchError(f"{source}: {e}") from None

    def to_json(self) -> str:
        """Indented JSON with each list of numbers on one line: a stage per line, however deep the net."""
        text = json.dumps(self.to_dict(), indent=2)
        return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(m[1].replace(",", " ").split()) + "]", text)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ArchSpec:
        """Read a spec file; a malformed one is a one-line error naming the file and line."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise DevbenchError(f"cannot read spec file {path}: {e.strerror}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DevbenchError(f"{path}:{e.lineno}: malformed spec JSON: {e.msg}") from None
        if not isinstance(d, dict):
            raise DevbenchError(f"{path}:1: a spec file holds one JSON object")
        d.setdefault("name", path.stem)
        return cls.from_dict(d, source=str(path))
