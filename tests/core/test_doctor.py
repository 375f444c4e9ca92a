"""doctor on a CUDA target: the board's GPU is checked, not only the runtimes' imports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from devbench.doctor import check_backends, probe
from devbench.targets import get_target


@pytest.fixture(scope="module")
def gpu_target():
    return replace(get_target("local"), name="gpu", device="cuda", backends=("torch",))


@pytest.mark.parametrize(("gpus", "ok"), [(1, True), (0, False), ("no CUDA driver (libcuda.so.1 missing)", False),
                                         (None, True)])  # None: a probe from before the GPU was asked
def test_a_cuda_target_needs_a_gpu_the_driver_reports(gpu_target, gpus: int | str | None, ok: bool) -> None:
    found = {"runtimes": {"torch": "2.14.1"}, "hardware": {} if gpus is None else {"cuda_gpus": gpus}}
    [check] = check_backends(gpu_target, found)
    assert check.ok is ok
    if not ok:
        assert "CUDA" in check.detail
    # a CPU target is never failed for the GPU
    assert all(c.ok for c in check_backends(replace(gpu_target, device="cpu"), found))


def test_the_probe_asks_the_cuda_driver_itself(gpu_target) -> None:
    """This machine's real answer: a count where a driver is installed, else the reason."""
    gpus = probe(gpu_target)["hardware"]["cuda_gpus"]
    assert (isinstance(gpus, int) and gpus >= 0) or (isinstance(gpus, str) and "CUDA" in gpus)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_json_beside_a_format_is_refused_not_ignored(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    from devbench.cli import main

    assert main(["doctor", "--target", "local", "--json", "--format", fmt]) == 2
    assert capsys.readouterr().err == (f"devbench: error: --json prints the board's raw probe and --format {fmt} "
                                       "another document; give one of them\n")
