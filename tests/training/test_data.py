from pathlib import Path

import pytest
import torch

from devbench.errors import DevbenchError
from devbench.training import Batches, load_dataset, normalisation


def test_unknown_dataset_is_a_one_line_error():
    with pytest.raises(DevbenchError, match="unknown dataset 'mnist7'"):
        load_dataset("mnist7")


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(DevbenchError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", tmp_path)


def test_corrupt_idx_file_is_reported(tmp_path: Path):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DevbenchError, match="corrupt Fashion-MNIST"):
        load_dataset("fashion_mnist", tmp_path)


def test_cifar_without_data_dir_does_not_download():
    with pytest.raises(DevbenchError, match="--data-dir"):
        load_dataset("cifar10")


def test_batches_are_normalised_once_and_augmented_in_shape(synthetic):
    mean, std = normalisation("synthetic")
    test = list(Batches(synthetic, synthetic.test, 100, train=False))
    x = torch.cat([b[0] for b in test])
    expected = (synthetic.test.images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(
        1, 3, 1, 1)
    torch.testing.assert_close(x, expected)
    xa, ya = next(iter(Batches(synthetic, synthetic.train, 32, train=True, seed=1)))
    assert xa.shape == (32, 3, 16, 16) and ya.shape == (32,)
    # a crop of the reflect-padded image: pixel values stay within the image's own value range
    assert xa.min() >= x.min() - 1e-5 and xa.max() <= x.max() + 1e-5


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(), reason="dataset-fashion-mnist missing")
def test_fashion_mnist_from_debian_files():
    ds = load_dataset("fashion_mnist")
    assert ds.input_shape == (1, 28, 28) and len(ds.train) == 60000 and len(ds.test) == 10000
    assert sorted(ds.train.labels.unique().tolist()) == list(range(10))


def test_torchrun_shards_see_the_single_process_batches_augmented_alike(synthetic):
    """Two ranks' batches, interleaved back (rank r holds every 2nd image from r), are exactly the
    single-process run's batches: same images, same crops and flips, epoch after epoch."""
    split = synthetic.train.subset(96)
    single = Batches(synthetic, split, 32, train=True, seed=5)
    ranks = [Batches(synthetic, split, 16, train=True, seed=5, shard=(r, 2)) for r in (0, 1)]
    for _ in range(2):  # the second epoch's order comes from the generator the first epoch advanced
        for (x, y), (x0, y0), (x1, y1) in zip(single, *ranks, strict=True):
            torch.testing.assert_close(torch.stack([x0, x1], 1).flatten(0, 1), x)
            assert torch.equal(torch.stack([y0, y1], 1).flatten(), y)
