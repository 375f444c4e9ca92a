"""A network as data: the architecture spec every pruned, reduced or scaled network is written as.

A spec names a family and lists, for every block, its *inner width*: the prunable channels (the
output of the first conv of a residual block, the 4k bottleneck of a DenseNet-BC layer). A pruned
network is then just another spec, so it can be saved as JSON, compiled and benchmarked like any
registered network. A residual block with inner width 0 has no residual branch: it is its shortcut.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Required

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, with_config
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from devbench.errors import DevbenchError
from devbench.models.families import family_names, get_family
from devbench.schema import STRICT, json_line_of, one_line

_NUMBER_LIST = re.compile(r"\[(\n[-\d.,\s]*)\]")  # a raw newline: never inside a JSON string

# Bounds far beyond any network devbench is for (WRN-28-10 has 640 channels, ResNet-1202 200 blocks
# a stage), so that a typo or a hostile file is an error, not an allocation that hangs the machine.
MAX_WIDTH = 16384
MAX_BLOCKS = 1024
MAX_STAGES = 16
MAX_CLASSES = 100_000
MAX_INPUT_ELEMENTS = 2**24  # channels x height x width of one input

_Width = Annotated[int, Field(ge=0, le=MAX_WIDTH)]
_Channels = Annotated[int, Field(ge=1, le=MAX_WIDTH)]


def _registered(family: str) -> str:
    """A family name must be registered (:mod:`devbench.models.families`) when the spec is read, so
    a family added in one module is a valid ``family`` without this schema changing."""
    names = family_names()
    if family not in names:
        quoted = [repr(n) for n in names]
        expected = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        # worded as pydantic words a Literal, the one-line error this field always gave
        raise PydanticCustomError("unknown_family", "Input should be {expected}", {"expected": expected})
    return family


_FREE_FORM = {**STRICT, "extra": "allow"}


@with_config(_FREE_FORM)
class _Trained(TypedDict, total=False):
    """What training recorded (``meta.trained``); free-form but for the error reports print as one."""

    test_error: Annotated[float, Field(ge=0, le=1)]


@with_config(_FREE_FORM)
class _Meta(TypedDict, total=False):
    """Provenance, free-form, except what reports and plots read from it as data: ``trained.test_error``
    is shown as a top-1 error, so a fraction (a ``5.0`` meaning 5 % would be shown as 500 %, a
    ``"abc"`` would vanish from every table unsaid)."""

    trained: _Trained


@with_config(STRICT)
class SpecSchema(TypedDict, total=False):
    """What a spec may say, with a type and a range for every field (the JSON file format)."""

    family: Required[Annotated[str, AfterValidator(_registered)]]
    inner: Required[Annotated[list[Annotated[list[_Width], Field(min_length=1, max_length=MAX_BLOCKS)]],
                              Field(min_length=1, max_length=MAX_STAGES)]]
    stem_channels: Required[_Channels]
    stage_channels: Annotated[list[_Channels], Field(max_length=MAX_STAGES)]
    growth: Annotated[int, Field(ge=0, le=MAX_WIDTH)]
    compression: Annotated[float, Field(gt=0, le=1)]
    input_shape: Annotated[list[_Channels], Field(min_length=3, max_length=3)]
    num_classes: Annotated[int, Field(ge=1, le=MAX_CLASSES)]
    name: Annotated[str, Field(max_length=200)]
    meta: _Meta


_SPEC = TypeAdapter(SpecSchema)


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
        object.__setattr__(self, "compression", float(self.compression))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DevbenchError` when a field is out of range or the widths do not fit the family.

        The schema's ranges apply to every spec, not only to files: a name such as
        ``resnet20_b100000000`` makes one in code.
        """
        where = f"spec {self.name!r}" if self.name else "spec"
        try:  # meta is free-form provenance, checked where it is read from a file (from_dict)
            _SPEC.validate_python({k: v for k, v in self.to_dict().items() if k != "meta"})
        except ValidationError as e:
            raise DevbenchError(one_line(e, where, lambda loc: None)) from None
        if math.prod(self.input_shape) > MAX_INPUT_ELEMENTS:
            raise DevbenchError(f"{where}: input_shape {list(self.input_shape)} has more than "
                                f"{MAX_INPUT_ELEMENTS} elements")
        family = get_family(self.family)
        if family.concat:
            if self.growth <= 0:
                raise DevbenchError(f"{where}: {family.name} needs growth > 0")
        elif len(self.stage_channels) != len(self.inner):
            raise DevbenchError(f"{where}: {len(self.stage_channels)} stage_channels for {len(self.inner)} stages")
        if any(w < family.min_inner for w in self.widths):
            raise DevbenchError(f"{where}: every {family.name} block needs an inner width >= {family.min_inner}")

    # ------------------------------------------------------------------ views
    @property
    def widths(self) -> list[int]:
        """Inner widths flattened in block order (the order of the model's channel gates)."""
        return [w for stage in self.inner for w in stage]

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
    def from_dict(cls, d: Any, source: str = "spec", text: str = "") -> ArchSpec:
        """A spec from parsed JSON, checked against :class:`SpecSchema` strictly (``true`` is not a
        width, ``2.5`` is not a channel count); ``text``, the file it came from, gives errors a line."""
        try:
            checked = _SPEC.validate_python(d)
        except ValidationError as e:
            raise DevbenchError(one_line(e, source, json_line_of(text))) from None
        return cls(**checked)

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
        except UnicodeDecodeError as e:
            raise DevbenchError(f"{path}: malformed spec JSON: not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise DevbenchError(f"{path}:{e.lineno}: malformed spec JSON: {e.msg}") from None
        except RecursionError:
            raise DevbenchError(f"{path}: spec JSON nested too deeply") from None
        if not isinstance(d, dict):
            raise DevbenchError(f"{path}:1: a spec file holds one JSON object")
        d.setdefault("name", path.stem)
        return cls.from_dict(d, source=str(path), text=text)
