"""Training speed on this machine, measured side by side in one run and printed as ratios.

1. **Loop overhead.** images/s of devbench's training loop, built from the pieces ``train()`` uses
   (``training.data.Batches`` with its augmentation, ``training.loop.sgd_step``, the summed loss and
   error kept as tensors) against a bare PyTorch loop (slice the in-memory tensors, forward,
   cross-entropy, backward, SGD step) on the same network (resnet20 on Fashion-MNIST's 1x28x28 input),
   batch size 64, optimizer (SGD, momentum 0.9, weight decay 5e-4), data and thread count (one by
   default, ``--threads`` to change: two threads on a shared 2-core machine swing several-fold). The two
   alternate in short timed rounds (A, B, A, B, ...) so that a noisy, shared machine biases neither;
   the ratio of each pair is devbench / bare, and the median, min and max of the pairs are printed,
   then the ratio of each side's best round (contention only ever slows a round down, so the best
   rounds are the least disturbed) and the share of a step that batching and augmentation alone take.
   Target (issue #15): median >= 0.95x. Below 1.0 means devbench's loop is slower; the bare loop does
   no augmentation, so the gap includes the augmentation ``train()`` always does.
2. **Threads for parallel runs.** Two training processes at once with one thread each against the
   same two processes one after the other with torch's default thread count. Each subprocess trains a
   fixed number of steps with devbench's loop; the wall time includes process start-up. A figure
   below 1.0 means running two 1-thread processes in parallel finishes the pair sooner.
Usage: ``python benchmarks/training_speed.py [--rounds 5] [--seconds 3] [--steps 60]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

MODEL, BATCH, SUBSET = "resnet20", 64, 4096


def _setup(seed: int = 0):
    """The network, optimizer, dataset and in-memory training split both loops use."""
    from devbench.models import build_model, get_spec
    from devbench.training import load_dataset
    from devbench.training.loop import fit_spec

    data = load_dataset("fashion_mnist")
    spec = fit_spec(get_spec(MODEL), data)
    torch.manual_seed(seed)
    model = build_model(spec)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    return data, data.train.subset(SUBSET, seed), model, opt


def devbench_epochs(data, split, model, opt):
    """Endless batches through devbench's own pieces, exactly as ``train()`` runs an epoch."""
    from devbench.training.data import Batches
    from devbench.training.loop import sgd_step

    batches = Batches(data, split, BATCH, train=True, seed=0)
    while True:
        loss_sum, wrong = torch.zeros(()), torch.zeros(())
        for x, y in batches:
            loss, err = sgd_step(model, opt, x, y)
            loss_sum += loss
            wrong += err
            yield len(y)


def bare_epochs(data, split, model, opt):
    """The plainest loop on the same data: pre-normalised float tensors, sliced in a shuffled order."""
    c = split.images.shape[1]
    mean, std = torch.tensor(data.mean).view(1, c, 1, 1), torch.tensor(data.std).view(1, c, 1, 1)
    images, labels = (split.images.float() / 255 - mean) / std, split.labels
    g = torch.Generator().manual_seed(0)
    while True:
        order = torch.randperm(len(labels), generator=g)
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            x, y = images[idx], labels[idx]
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            yield len(y)


def images_per_second(steps, seconds: float) -> float:
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        n += next(steps)
    return n / elapsed


def loop_overhead(rounds: int, seconds: float) -> None:
    from devbench.training.data import Batches

    data, split, model_a, opt_a = _setup()
    _, _, model_b, opt_b = _setup()
    ours, bare = devbench_epochs(data, split, model_a, opt_a), bare_epochs(data, split, model_b, opt_b)
    images_per_second(ours, 1.0)  # warm-up: allocator, kernels, first epoch's shuffle
    images_per_second(bare, 1.0)
    pairs, best_a, best_b = [], 0.0, 0.0
    for i in range(rounds):
        a = images_per_second(ours, seconds)
        b = images_per_second(bare, seconds)
        pairs.append(a / b)
        best_a, best_b = max(best_a, a), max(best_b, b)
        print(f"  round {i + 1}: devbench {a:7.1f} img/s, bare {b:7.1f} img/s, ratio {a / b:.3f}", flush=True)
    print(f"1. devbench loop / bare PyTorch loop ({MODEL}, batch {BATCH}, {torch.get_num_threads()} threads): "
          f"median {statistics.median(pairs):.3f}x (min {min(pairs):.3f}, max {max(pairs):.3f}) over {rounds} "
          f"pairs of {seconds:g} s; target >= 0.95x", flush=True)
    print(f"   best round of each: devbench {best_a:.1f} img/s, bare {best_b:.1f} img/s, ratio {best_a / best_b:.3f}x")
    batches = Batches(data, split, BATCH, train=True, seed=0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        for _ in batches:  # batching + augmentation alone, no network
            n += 1
    per_batch = (time.perf_counter() - t0) / n
    print(f"   of which batching + augmentation alone: {1e3 * per_batch:.2f} ms a batch, "
          f"{100 * per_batch * best_b / BATCH:.1f}% of a bare step at its best round", flush=True)


def worker(steps: int, threads: int | None) -> None:
    """Subprocess body: train ``steps`` steps with devbench's loop, print the training seconds."""
    if threads:
        torch.set_num_threads(threads)
    gen = devbench_epochs(*_setup())
    t0 = time.perf_counter()
    for _ in range(steps):
        next(gen)
    print(f"{time.perf_counter() - t0:.2f}")


def _spawn(steps: int, threads: int | None) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", "--steps", str(steps)]
    if threads:
        cmd += ["--threads", str(threads)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed with exit status {p.returncode}")
        outs.append(out.strip())
    return outs


def _default_threads() -> str:
    cmd = [sys.executable, "-c", "import torch; print(torch.get_num_threads())"]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()


def parallel_vs_sequential(steps: int) -> None:
    t0 = time.perf_counter()
    seq = [_finish([_spawn(steps, None)])[0] for _ in range(2)]
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    par = _finish([_spawn(steps, 1), _spawn(steps, 1)])
    parallel = time.perf_counter() - t0
    print(f"  sequential, default threads ({_default_threads()}): {sequential:.1f} s wall "
          f"(training {' + '.join(seq)} s)")
    print(f"  parallel, 1 thread each: {parallel:.1f} s wall (training {' and '.join(par)} s, side by side)")
    print(f"2. two parallel 1-thread runs take {parallel / sequential:.2f}x the time of two sequential "
          f"default-thread runs ({steps} steps of batch {BATCH} each, process start-up included)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5, help="timed pairs (devbench, bare) for part 1")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each timed round")
    p.add_argument("--steps", type=int, default=60, help="training steps of each subprocess in part 2")
    p.add_argument("--threads", type=int, help="torch threads for part 1 (default 1: with two, a second process on "
                   "this 2-core machine stalls both contenders and the ratio becomes noise)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.steps, args.threads)
        return
    torch.set_num_threads(args.threads or 1)
    loop_overhead(args.rounds, args.seconds)
    parallel_vs_sequential(args.steps)


if __name__ == "__main__":
    main()
