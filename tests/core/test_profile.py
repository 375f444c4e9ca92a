"""devbench profile: operators from each runtime's profiler mapped to the spec's stages and blocks.

The board-side tests run the real runner on the local target (ONNX Runtime is fast to compile;
one TVM test covers the shape-based mapping of fused kernels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devbench.bench import MeasureSettings
from devbench.board.runner import per_inference_ops
from devbench.models import get_spec
from devbench.profile import (
    HEAD,
    OTHER,
    STEM,
    Part,
    Profile,
    align,
    comparison_records,
    fill_between,
    long_records,
    part_of,
    profile_models,
    spec_parts,
)
from tests.conftest import run_cli

PAIR = ["pruned_resnet", "reduced_resnet"]
QUICK = MeasureSettings(warmup=2, repeats=5)


def test_module_paths_name_their_parts() -> None:
    assert part_of("stem.0") == STEM
    assert part_of("stages.2.1.conv1.weight") == Part("2", "1")
    assert part_of("transitions.0.conv") == Part("0", "transition")
    assert part_of("fc.weight") == part_of("bn") == HEAD
    assert part_of("") is None and part_of("flatten") is None


def test_densenet_parts_include_transitions() -> None:
    parts = spec_parts(get_spec("densenet_bc_40"))
    assert parts[0] == STEM and parts[-1] == HEAD
    assert Part("0", "transition") in parts and Part("2", "transition") not in parts


def test_unattributed_ops_take_agreeing_neighbours_only() -> None:
    a, b = Part("0", "0"), Part("0", "1")
    assert fill_between([None, a, None, a, None, b, None]) == [OTHER, a, a, a, OTHER, b, OTHER]


def test_align_keeps_order_and_skips_what_does_not_match() -> None:
    left, right = ["c", "c", "c", "l"], ["c", "c", "l"]  # a conv computed twice on one side
    pairs = align(len(left), len(right), lambda i, j: left[i] == right[j])
    assert len(pairs) == 3 and pairs[-1] == (3, 2)
    assert all(i1 < i2 and j1 < j2 for (i1, j1), (i2, j2) in zip(pairs, pairs[1:], strict=False))


def test_runner_keeps_every_call_site_in_order() -> None:
    """One kernel called at two layers stays two rows; the median ignores one slow run."""
    runs = [[("k", 1.0), ("add", 0.5), ("k", 2.0)], [("k", 1.0), ("add", 0.5), ("k", 2.0)],
            [("k", 9.0), ("add", 0.5), ("k", 2.0)]]
    ops = per_inference_ops(runs)
    assert [op["name"] for op in ops] == ["k", "add", "k"]
    assert ops[0]["median_ms"] == 1.0 and ops[0]["ms"] == pytest.approx(11 / 3)
    assert ops[2]["median_ms"] == 2.0 and all(op["calls"] == 3 for op in ops)


def _check_profile(p: Profile, max_other: float) -> None:
    times = p.part_ms()
    spec = p.spec
    assert list(times)[: len(spec_parts(spec))] == spec_parts(spec)
    blocks = sum(ms for part, ms in times.items() if part not in (STEM, HEAD, OTHER))
    assert blocks > 0.5 * p.ops_ms, "the blocks hold most of the work"
    assert times.get(OTHER, 0.0) <= max_other * p.ops_ms
    # the operators' times add up to (about) one inference, never to several or a sliver
    assert 0.2 * p.inference_ms <= p.ops_ms <= 1.5 * p.inference_ms
    for s, stage in enumerate(spec.inner):
        for b in range(len(stage)):
            assert times[Part(str(s), str(b))] > 0, f"block s{s}.b{b} got no operator"


@pytest.fixture(scope="module")
def ort_pair() -> list[Profile]:
    return profile_models(PAIR, "local", "onnxruntime", QUICK)


def test_onnxruntime_profile_maps_every_block(ort_pair: list[Profile]) -> None:
    for p in ort_pair:
        assert p.backend == "onnxruntime" and p.runs == QUICK.repeats
        _check_profile(p, max_other=0.15)


def test_two_models_compare_block_by_block(ort_pair: list[Profile]) -> None:
    records = comparison_records(ort_pair)
    stages = {r["stage"] for r in records}
    assert {"stem", "0", "1", "2", "head", "other", "total"} <= stages
    row = next(r for r in records if (r["stage"], r["block"]) == ("1", "2"))
    assert row["pruned_resnet inner"] == get_spec("pruned_resnet").inner[1][2]
    assert row["reduced_resnet inner"] == get_spec("reduced_resnet").inner[1][2]
    assert row["reduced_resnet/pruned_resnet"] == pytest.approx(row["reduced_resnet ms"] / row["pruned_resnet ms"])
    total = records[-1]
    assert total["stage"] == "total" and total["pruned_resnet %"] == 100.0
    by_stage = comparison_records(ort_pair, by="stage")
    assert [r["stage"] for r in by_stage] == ["stem", "0", "1", "2", "head", "other", "total"]
    assert by_stage[-1]["pruned_resnet ms"] == pytest.approx(total["pruned_resnet ms"])


def test_long_records_sum_to_the_operators(ort_pair: list[Profile]) -> None:
    records = long_records(ort_pair)
    for p in ort_pair:
        mine = [r for r in records if r["model"] == p.model]
        assert sum(r["ms"] for r in mine) == pytest.approx(p.ops_ms)
        assert sum(r["ops"] for r in mine) == len(p.ops)


def test_tvm_profile_maps_fused_kernels_to_blocks() -> None:
    (p,) = profile_models(["pruned_resnet"], "local", "tvm", QUICK)
    _check_profile(p, max_other=0.3)


def test_cli_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "profile.svg"
    proc = run_cli("profile", "--model", ",".join(PAIR), "--backend", "onnxruntime", "--repeats", "3",
                   "--warmup", "1", "--format", "json", "--plot", str(out))
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert {r["model"] for r in records} == set(PAIR)
    assert {"model", "part", "stage", "block", "inner", "ms", "share", "inference_ms"} <= set(records[0])
    assert out.read_text().lstrip().startswith("<?xml")
    assert "not attributed" in proc.stderr


def test_cli_refuses_a_plot_it_cannot_write(tmp_path: Path) -> None:
    proc = run_cli("profile", "--model", "resnet8", "--backend", "onnxruntime", "--plot", str(tmp_path / "x.txt"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "devbench: error:" in proc.stderr
    proc = run_cli("profile", "--model", "resnet8", "--plot", str(tmp_path / "missing" / "x.png"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
