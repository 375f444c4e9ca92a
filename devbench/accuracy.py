"""Accuracy mode (as MLPerf LoadGen's): the top-1 error of the *deployed artifact* on its
dataset's full test set, computed on the board by the same runner that times it.

A latency is only half of the answer: a compiler that is fast but subtly wrong, or a pruned network
that lost accuracy, shows here. Only networks with trained weights have an error worth measuring;
the dataset is the one their spec was trained on (``meta["trained"]["dataset"]``).
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from devbench.backends import Artifact
from devbench.board.protocol import RunRequest
from devbench.errors import DevbenchError
from devbench.transports import BoardJob, Transport

if TYPE_CHECKING:
    from devbench.bench import Job, LoadedModel


def dataset_of(model: LoadedModel) -> str:
    """The dataset the network was trained on; an error for random weights (its error would mean
    nothing) or a spec that does not say."""
    if model.weights != "trained":
        raise DevbenchError(f"--accuracy: {model.name} has random weights (no weights file beside its spec); "
                            f"measure it without --accuracy")
    name = (model.spec.meta.get("trained") or {}).get("dataset") or model.spec.meta.get("dataset")
    if not name:
        raise DevbenchError(f"--accuracy: the spec of {model.name} does not say which dataset it was trained on")
    return str(name)


@functools.lru_cache(maxsize=1)
def labelled_test_set(dataset: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The full test split, normalised exactly as in training, as float32 images and int64 labels.

    Read once before anything is measured (a missing dataset is the user's mistake: one line, not an
    error row after the timing), and kept for the jobs' accuracy runs, whose networks share it.
    """
    from devbench.training.data import Batches, load_dataset

    if data_dir is not None and not Path(data_dir).is_dir():
        raise DevbenchError(f"--accuracy reads the {dataset} test set from --data-dir {data_dir}, "
                            "which is not a directory")
    ds = load_dataset(dataset, data_dir)
    x, y = next(iter(Batches(ds, ds.test, batch_size=len(ds.test), train=False)))
    return x.numpy().astype(np.float32), y.numpy().astype(np.int64)


def deployed_error(job: Job, artifact: Artifact, transport: Transport) -> float:
    """Top-1 error of ``artifact`` on the test set, measured on the job's board."""
    images, labels = labelled_test_set(dataset_of(job.model), job.settings.data_dir)
    if tuple(images.shape[1:]) != tuple(job.model.spec.input_shape):
        raise DevbenchError(f"{job.model.name} takes {job.model.spec.input_shape}, "
                            f"its test set has {images.shape[1:]}")
    with tempfile.TemporaryDirectory(prefix="devbench-acc-") as tmp:
        np.save(Path(tmp) / "images.npy", images)
        np.save(Path(tmp) / "labels.npy", labels)
        request = RunRequest(mode="accuracy", backend=job.backend, artifact=artifact.path.name, input="images.npy",
                             labels="labels.npy", batch=job.settings.batch, threads=job.target.threads,
                             device=job.target.device)
        files = {**artifact.board_files, "images.npy": Path(tmp) / "images.npy",
                 "labels.npy": Path(tmp) / "labels.npy"}
        result = transport.run(BoardJob(files=files, request=request, timeout_s=job.settings.timeout_s))
    if "error" in result:
        raise DevbenchError(f"accuracy: {result['error']}")
    error = result.get("top1_error")
    if not isinstance(error, int | float) or not 0.0 <= error <= 1.0 or result.get("images") != len(labels):
        raise DevbenchError(f"accuracy: the board returned an impossible result {error!r}")
    return float(error)
