"""Datasets as in-memory uint8 tensors, plus the one augmentation and normalisation devbench uses.

Every dataset here is small enough (CIFAR, Fashion-MNIST) to live in memory, so batches are sliced
from one tensor that sits on the training device: no DataLoader workers to tune on a 2-core board
host, and augmentation runs batched on the GPU when there is one. Each dataset has exactly one
normalisation, used by training, evaluation and (through :func:`normalisation`) by anyone who feeds
the trained network real images.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from devbench.errors import DevbenchError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
PAD = 4  # pixels of reflect padding before the random crop


@dataclass
class Split:
    """One split: ``images`` uint8 N×C×H×W, ``labels`` int64 N."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, n: int | None, seed: int = 0) -> Split:
        """A fixed random subset of ``n`` examples (the same for every run with the same seed)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return Split(self.images[idx], self.labels[idx])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


@dataclass
class Dataset:
    """A named dataset: its splits, its input shape and its single normalisation."""

    name: str
    train: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    hflip: bool = True

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry: how to load a dataset and the constants that must never vary between uses."""

    loader: Callable[[Path | None, bool], tuple[Split, Split]]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_shape: tuple[int, int, int]
    hflip: bool = True


DATASETS: dict[str, DatasetInfo] = {}


def register(name: str, **info) -> Callable:
    """Decorator: register a ``loader(data_dir, download) -> (train, test)`` under ``name``."""

    def deco(fn: Callable) -> Callable:
        DATASETS[name] = DatasetInfo(loader=fn, **info)
        return fn

    return deco


def normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(mean, std)`` per channel of ``name``, for inputs scaled to [0, 1]."""
    info = _info(name)
    return info.mean, info.std


def _info(name: str) -> DatasetInfo:
    if name not in DATASETS:
        raise DevbenchError(f"unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})")
    return DATASETS[name]


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False) -> Dataset:
    """Load a registered dataset; a missing or corrupt one is a :class:`DevbenchError` saying how to get it."""
    info = _info(name)
    train, test = info.loader(Path(data_dir) if data_dir else None, download)
    return Dataset(name, train, test, info.num_classes, info.mean, info.std, info.hflip)


# ---------------------------------------------------------------- Fashion-MNIST (Debian's idx files)
def _read_idx(path: Path, dims: int) -> np.ndarray:
    """Read an idx(.gz) file (the format of the MNIST family) into a uint8 array."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read()
        magic, *shape = struct.unpack(f">{1 + dims}I", data[: 4 * (1 + dims)])
        if magic != 0x800 + dims:
            raise ValueError(f"bad magic {magic:#x}")
        arr = np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + dims))
        return arr.reshape(shape)
    except (OSError, EOFError, ValueError, struct.error) as e:
        raise DevbenchError(
            f"corrupt Fashion-MNIST file {path} ({e}); "
            "reinstall it: sudo apt-get install --reinstall dataset-fashion-mnist"
        ) from None


def _find_idx(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.exists():
            return candidate
    raise DevbenchError(
        f"Fashion-MNIST not found in {root} (no {stem}[.gz]); install it with "
        "`sudo apt-get install dataset-fashion-mnist` or pass --data-dir with the idx files"
    )


@register("fashion_mnist", num_classes=10, mean=(0.2860,), std=(0.3530,), input_shape=(1, 28, 28))
def _fashion_mnist(data_dir: Path | None, download: bool) -> tuple[Split, Split]:
    root = data_dir or FASHION_MNIST_DIR
    splits = []
    for prefix in ("train", "t10k"):
        images = _read_idx(_find_idx(root, f"{prefix}-images-idx3-ubyte"), 3)
        labels = _read_idx(_find_idx(root, f"{prefix}-labels-idx1-ubyte"), 1)
        if len(images) != len(labels):
            raise DevbenchError(f"corrupt Fashion-MNIST in {root}: {len(images)} images but {len(labels)} labels")
        splits.append(Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))))
    return splits[0], splits[1]


# ---------------------------------------------------------------- CIFAR (torchvision's files)
def _cifar(cls_name: str) -> Callable[[Path | None, bool], tuple[Split, Split]]:
    def load(data_dir: Path | None, download: bool) -> tuple[Split, Split]:
        import torchvision

        if data_dir is None:
            raise DevbenchError(f"{cls_name} needs --data-dir (add --download to fetch it there)")
        cls = getattr(torchvision.datasets, cls_name)
        try:
            sets = [cls(str(data_dir), train=t, download=download) for t in (True, False)]
        except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
            raise DevbenchError(f"{cls_name} in {data_dir}: {e} (pass --download to fetch it)") from None
        return tuple(  # type: ignore[return-value]
            Split(torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(s.targets)) for s in sets
        )

    return load


register("cifar10", num_classes=10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
         input_shape=(3, 32, 32))(_cifar("CIFAR10"))
register("cifar100", num_classes=100, mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
         input_shape=(3, 32, 32))(_cifar("CIFAR100"))


# ---------------------------------------------------------------- synthetic (unit tests only)
@register("synthetic", num_classes=10, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), input_shape=(3, 16, 16))
def _synthetic(data_dir: Path | None, download: bool) -> tuple[Split, Split]:
    """Learnable noise: each class has its own mean image, so a few steps already beat chance."""
    g = torch.Generator().manual_seed(0)
    protos = torch.rand(10, 3, 16, 16, generator=g)

    def make(n: int) -> Split:
        labels = torch.randint(0, 10, (n,), generator=g)
        x = 0.6 * protos[labels] + 0.4 * torch.rand(n, 3, 16, 16, generator=g)
        return Split((x * 255).to(torch.uint8), labels)

    return make(512), make(256)


# ---------------------------------------------------------------- batches
class Batches:
    """Turn a :class:`Split` into normalised float batches, augmented for training.

    Augmentation (the paper's): 4-px reflect padding, a random crop back to the input size and a
    random horizontal flip, all done batched on the split's device.
    """

    def __init__(self, dataset: Dataset, split: Split, batch_size: int, train: bool, seed: int = 0,
                 shard: tuple[int, int] = (0, 1)) -> None:
        self.split, self.batch_size, self.train = split, batch_size, train
        device = split.images.device
        c = split.images.shape[1]
        self.mean = torch.tensor(dataset.mean, device=device).view(1, c, 1, 1)
        self.std = torch.tensor(dataset.std, device=device).view(1, c, 1, 1)
        self.hflip = dataset.hflip
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.rank, self.world = shard

    def __len__(self) -> int:
        n = len(self.split) // self.world
        return -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.split)
        order = torch.randperm(n, generator=self.generator) if self.train else torch.arange(n)
        order = order[self.rank : n - n % self.world : self.world] if self.world > 1 else order
        order = order.to(self.split.images.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            x = self.split.images[idx].float().div_(255)
            if self.train:
                x = self.augment(x)
            yield (x - self.mean) / self.std, self.split.labels[idx]

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Crop and flip a batch. Under torchrun every rank draws the crops and flips of the whole global
        batch and keeps its share (the images it holds are every ``world``-th of that batch), so a
        distributed run augments each image exactly as the single-process run of the same seed does."""
        n, _, h, w = x.shape
        mine = slice(self.rank, None, self.world)
        padded = F.pad(x, (PAD, PAD, PAD, PAD), mode="reflect")
        dy = torch.randint(0, 2 * PAD + 1, (n * self.world, 1), generator=self.generator)[mine].to(x.device)
        dx = torch.randint(0, 2 * PAD + 1, (n * self.world, 1), generator=self.generator)[mine].to(x.device)
        rows = (dy + torch.arange(h, device=x.device)).view(n, 1, h, 1)
        cols = (dx + torch.arange(w, device=x.device)).view(n, 1, 1, w)
        if self.hflip:
            flip = (torch.rand(n * self.world, generator=self.generator)[mine] < 0.5).to(x.device).view(n, 1, 1, 1)
            cols = torch.where(flip, cols.flip(-1), cols)
        batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
        chans = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
        return padded[batch, chans, rows, cols]
