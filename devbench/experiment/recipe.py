"""An experiment recipe: one TOML file that says everything the paper's comparison needs.

A recipe names the dataset, the training schedule, the seeds, the pruning method (and optional
baseline methods), and one ``[[network]]`` table per base network with the budgets to compare at,
the reduced variants matched to each budget, and whether the pruned architecture and its family
are retrained from scratch; ``[latency]`` says where the networks are timed. Tables and fields are
checked strictly (no coercion, no unknown keys), and a mistake is one line naming the file, the line
and the field, as target files' are (:mod:`devbench.schema`). Shipped recipes live in ``recipes/``
beside this module and are found by name.

Budgets are either parameter counts (``budgets = ["120k"]``: the pruned network is the first saved
prune stage with at most that many parameters) or prune stages (``stages = [40, 80]``: the network
after that many channels were removed). Either way every reduced variant and family member is then
sized to the pruned network's actual parameter count.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from devbench.errors import DevbenchError
from devbench.models.families import REDUCTIONS
from devbench.schema import STRICT, one_line, toml_line_of

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
METHODS = ("fisher", "l1", "random")
#: (train, test) images per dataset: a recipe's subsets are checked against them, and plans estimate with them
DATASET_IMAGES = {"fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000),
                  "synthetic": (512, 256)}

_Positive = Annotated[int, Field(ge=1, le=10**12)]
_Count = int | str  # 120000 or "120k" / "1.2M", turned into an int by the validators
_Name = Annotated[str, Field(min_length=1, max_length=200)]


def _invalid(message: str) -> PydanticCustomError:
    """A validation failure whose message reads as it is (a ``ValueError`` would add "Value error, ")."""
    return PydanticCustomError("recipe", message.replace("{", "{{").replace("}", "}}"))


def _count(value: int | str) -> int:
    """A parameter count written as an int or as ``"120k"``."""
    from devbench.training.family import parse_count

    if isinstance(value, int):
        if value <= 0:
            raise _invalid(f"a count must be positive, got {value}")
        return value
    try:
        return parse_count(value)
    except DevbenchError as e:
        raise _invalid(str(e)) from None


def _unique(values: list, what: str) -> list:
    if len(set(values)) != len(values):
        raise _invalid(f"{what} are listed twice")
    return values


class _Section(BaseModel):
    model_config = STRICT | {"frozen": True}


class DatasetSection(_Section):
    """``[dataset]``: a registered dataset; CIFAR needs ``data_dir`` here or on the command line."""

    name: str = "fashion_mnist"
    data_dir: _Name | None = None
    download: bool = False

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from devbench.training.data import DATASETS

        if name not in DATASETS:
            raise _invalid(f"unknown dataset (known: {', '.join(sorted(DATASETS))})")
        return name


class TrainingSection(_Section):
    """``[training]``: a schedule preset and what overrides it; unset fields take the preset's value.

    Without ``schedule`` each network trains with its family's recipe (``training/schedules.py``).
    ``test_subset`` unset means the whole test set: the only setting a claim should rest on.
    """

    schedule: str | None = None
    epochs: Annotated[int, Field(ge=1, le=100_000)] | None = None
    lr: Annotated[float, Field(gt=0, le=10)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    train_subset: _Positive | None = None
    test_subset: _Positive | None = None

    @field_validator("schedule")
    @classmethod
    def _preset(cls, name: str | None) -> str | None:
        from devbench.training.schedules import SCHEDULES

        if name is not None and name not in SCHEDULES:
            raise _invalid(f"unknown schedule preset (known: {', '.join(sorted(SCHEDULES))})")
        return name


class PruningSection(_Section):
    """``[pruning]``: how channels are removed (``training.PruneConfig``); ``baselines`` are pruned too,
    for the figures, but the claims compare against ``method``."""

    method: Literal[METHODS] = "fisher"
    baselines: list[Literal[METHODS]] = []
    prune_every: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    lr: Annotated[float, Field(gt=0, le=10)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    train_subset: _Positive | None = None

    @model_validator(mode="after")
    def _baselines(self) -> PruningSection:
        _unique(self.baselines, "baseline methods")
        if self.method in self.baselines:
            raise _invalid(f"{self.method!r} is the pruning method; it cannot also be a baseline")
        return self


class LatencySection(_Section):
    """``[latency]``: where the networks are timed (``devbench compare``); no targets, no latency."""

    targets: list[_Name] = []
    backends: Annotated[list[_Name], Field(min_length=1)] = ["best"]
    rounds: Annotated[int, Field(ge=1, le=10_000)] = 10

    @field_validator("targets")
    @classmethod
    def _targets(cls, names: list[str]) -> list[str]:
        """Each target resolves as ``devbench run --target`` resolves it (target files, ``~/.ssh/config``
        hosts), checked now without reaching a board: a typo would otherwise fail after all the training."""
        from devbench.targets import check_target_name

        for name in names:
            try:
                check_target_name(name)
            except DevbenchError as e:
                raise _invalid(str(e)) from None
        return _unique(names, "targets")

    @field_validator("backends")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        from devbench.backends import REGISTERED

        for name in names:
            if name != "best" and name not in REGISTERED:
                raise _invalid(f"unknown backend {name!r} (known: best, {', '.join(REGISTERED)})")
        return _unique(names, "backends")


class NetworkSection(_Section):
    """``[[network]]``: one base network, its pruning run, and what is compared at each budget."""

    base: _Name
    prunes: _Positive
    save_every: _Positive = 10
    budgets: Annotated[list[_Count], Field(min_length=1)] | None = None
    stages: Annotated[list[_Positive], Field(min_length=1)] | None = None
    reduced: list[Literal[REDUCTIONS]] = ["bottleneck"]
    #: how far (relative) a reduced network's parameter count may be from the pruned one's; depth is a
    #: discrete knob, so a recipe with depth variants may need more than the default 5%
    tolerance: Annotated[float, Field(gt=0, le=0.5)] = 0.05
    scratch: bool = True
    family: bool | Annotated[list[_Count], Field(min_length=1)] = False
    training: TrainingSection = TrainingSection()
    pruning: PruningSection = PruningSection()

    @field_validator("base")
    @classmethod
    def _registered(cls, name: str) -> str:
        from devbench.models import get_spec

        try:
            get_spec(name)
        except DevbenchError as e:
            raise _invalid(str(e)) from None
        return name

    @field_validator("prunes")
    @classmethod
    def _prunable(cls, prunes: int, info: ValidationInfo) -> int:
        """No more prunes than the base has channels to remove: ``devbench prune``'s check, made before
        the base network has trained for hours."""
        from devbench.experiment.plan import prunable_channels
        from devbench.models import get_spec

        base = info.data.get("base")  # absent when the base itself failed
        if base is not None and prunes > (available := prunable_channels(get_spec(base))):
            raise _invalid(f"more than the {available} prunable channels of {base!r}")
        return prunes

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, values: list[int | str] | None) -> list[int] | None:
        return None if values is None else _unique([_count(v) for v in values], "budgets")

    @field_validator("family")
    @classmethod
    def _family(cls, value: bool | list[int | str]) -> bool | list[int]:
        return value if isinstance(value, bool) else _unique([_count(v) for v in value], "family budgets")

    @field_validator("reduced")
    @classmethod
    def _variants(cls, values: list[str]) -> list[str]:
        return _unique(values, "reduced variants")

    @model_validator(mode="after")
    def _consistent(self) -> NetworkSection:
        """The base's family can be reduced each way asked; exactly one kind of budget; stages that are saved."""
        from devbench.models import get_family, get_spec

        family = get_family(get_spec(self.base).family)
        for variant in self.reduced:
            try:
                family.reducer(variant)
            except DevbenchError as e:
                raise _invalid(str(e)) from None
        if (self.budgets is None) == (self.stages is None):
            raise _invalid("give either budgets (parameter counts) or stages (prune counts), not both or neither")
        for stage in self.stages or ():
            if stage > self.prunes or (stage % self.save_every and stage != self.prunes):
                raise _invalid(f"stage {stage} is never saved (prunes = {self.prunes}, "
                                 f"save_every = {self.save_every})")
        _unique(self.stages or [], "stages")
        return self


class Recipe(_Section):
    """A whole recipe file, with each network's ``training`` and ``pruning`` merged over the top-level ones."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    description: Annotated[str, Field(max_length=4096)] = ""
    seeds: Annotated[list[Annotated[int, Field(ge=0, le=2**31 - 1)]], Field(min_length=1, max_length=1000)]
    dataset: DatasetSection = DatasetSection()
    training: TrainingSection = TrainingSection()
    pruning: PruningSection = PruningSection()
    latency: LatencySection = LatencySection()
    network: Annotated[list[NetworkSection], Field(min_length=1, max_length=64)]

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        return _unique(seeds, "seeds")

    @model_validator(mode="after")
    def _merge(self) -> Recipe:
        """A network's own ``[network.training]`` / ``[network.pruning]`` fields win over the recipe's."""
        bases = [n.base for n in self.network]
        _unique(bases, "base networks")
        self._check_subsets()
        merged = [n.model_copy(update={
            "training": self.training.model_copy(update=n.training.model_dump(exclude_unset=True)),
            "pruning": self.pruning.model_copy(update=n.pruning.model_dump(exclude_unset=True)),
        }) for n in self.network]
        object.__setattr__(self, "network", merged)
        return self

    def _check_subsets(self) -> None:
        """No subset larger than its split: a run would quietly use the whole split instead, and the
        recipe would say something it does not do. Checked where each value is written (before the merge),
        so the error names that line."""
        sizes = DATASET_IMAGES.get(self.dataset.name)
        if sizes is None:
            return
        sections: list[tuple[tuple[str | int, ...], BaseModel]] = [(("training",), self.training),
                                                                   (("pruning",), self.pruning)]
        sections += [(("network", i, part), getattr(net, part))
                     for i, net in enumerate(self.network) for part in ("training", "pruning")]
        for where, section in sections:
            for name, images, split in (("train_subset", sizes[0], "training"), ("test_subset", sizes[1], "test")):
                value = getattr(section, name, None)
                if value is not None and value > images:
                    problem = PydanticCustomError("recipe", f"{self.dataset.name}'s {split} set has {images} images")
                    raise ValidationError.from_exception_data(
                        type(self).__name__, [InitErrorDetails(type=problem, loc=(*where, name), input=value)])


def shipped_recipes() -> list[str]:
    """Names of the recipes shipped with devbench (``devbench/experiment/recipes/*.toml``)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.toml"))


def recipe_path(name_or_path: str | Path) -> Path:
    """A recipe file: an existing path as it is, else a shipped recipe's name."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = RECIPES_DIR / f"{name_or_path}.toml"
    if shipped.is_file() and path.name == str(name_or_path):
        return shipped
    raise DevbenchError(f"no recipe {str(name_or_path)!r}: not a file, and not a shipped recipe "
                        f"(shipped: {', '.join(shipped_recipes())})")


def load_recipe(name_or_path: str | Path, data_dir: str | None = None) -> Recipe:
    """Read and check a recipe; ``data_dir`` (the command line's ``--data-dir``) wins over the file's."""
    path = recipe_path(name_or_path)
    try:
        text = path.read_bytes().decode()
        doc = tomllib.loads(text)
    except OSError as e:
        raise DevbenchError(f"cannot read recipe {path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise DevbenchError(f"{path}: malformed TOML: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise DevbenchError(f"{path}: malformed TOML: {e}") from None
    try:
        recipe = Recipe.model_validate(doc)
    except ValidationError as e:
        raise DevbenchError(one_line(e, str(path), toml_line_of(text), hint=" (see devbench/experiment/recipe.py)")
                            ) from None
    if data_dir is not None:
        recipe = recipe.model_copy(update={"dataset": recipe.dataset.model_copy(update={"data_dir": data_dir})})
    return recipe
