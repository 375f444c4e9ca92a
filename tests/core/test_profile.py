"""devbench profile: operators from each runtime's profiler mapped to the spec's stages and blocks.

The board-side tests run the real runner on the local target (ONNX Runtime is fast to compile;
one TVM test covers the shape-based mapping of fused kernels)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from devbench.bench import MeasureSettings
from devbench.board.protocol import RunRequest, profiled_runs
from devbench.board.runner import per_inference_ops
from devbench.models import get_spec
from devbench.profile import (
    HEAD,
    OTHER,
    STEM,
    Layer,
    Part,
    Profile,
    align,
    comparison_records,
    fill_between,
    long_records,
    pair_kernels,
    part_of,
    profile_models,
    spec_parts,
    tvm_anchor,
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


def _layer(part: Part, c_in: int, c_out: int, pixels: int, window: int, stride: int = 1) -> Layer:
    return Layer("aten::conv2d", part, (1, c_in, pixels, pixels), (c_out, c_in, window, window),
                 (1, c_out, pixels // stride, pixels // stride))


def test_tvm_kernels_pair_with_padded_and_reordered_layers() -> None:
    """A downsampling block as TVM runs it: its conv1 writes 17 channels padded to 18 (blocks of 9),
    and the shortcut runs before conv2, whose fused residual add needs it; the graph has conv1,
    conv2, shortcut. Every conv kernel gets the block; the allocation between them stays unpaired."""
    b0, b1 = Part("1", "0"), Part("1", "1")
    layers = [_layer(b0, 16, 17, 28, 3, stride=2), _layer(b0, 17, 32, 14, 3), _layer(b0, 16, 32, 28, 1, stride=2),
              _layer(b1, 32, 18, 14, 3), _layer(b1, 18, 32, 14, 3)]
    ops = [{"name": "fused_conv2d_NCHWc7_add5_relu4", "shapes": [
               [1, 1, 28, 28, 16], [2, 1, 3, 3, 16, 9], [1, 2, 1, 1, 9], [1, 2, 14, 14, 9]]},
           {"name": "vm.builtin.alloc_tensor", "shapes": []},
           {"name": "fused_conv2d_NCHWc9_add6", "shapes": [
               [1, 1, 28, 28, 16], [2, 1, 1, 1, 16, 16], [1, 2, 1, 1, 16], [1, 2, 14, 14, 16]]},
           {"name": "fused_conv2d_NCHWc8_add6_add7_relu5", "shapes": [
               [1, 2, 14, 14, 9], [2, 2, 3, 3, 9, 16], [1, 2, 1, 1, 16], [1, 2, 14, 14, 16], [1, 2, 14, 14, 16]]},
           {"name": "fused_conv2d_NCHWc10_add5_relu4", "shapes": [
               [1, 2, 14, 14, 16], [2, 2, 3, 3, 16, 9], [1, 2, 1, 1, 9], [1, 2, 14, 14, 9]]},
           {"name": "fused_conv2d_NCHWc8_add6_add7_relu5", "shapes": [
               [1, 2, 14, 14, 9], [2, 2, 3, 3, 9, 16], [1, 2, 1, 1, 16], [1, 2, 14, 14, 16], [1, 2, 14, 14, 16]]}]
    assert pair_kernels(ops, layers) == [b0, None, b0, b0, b1, b1]
    # padding never explains other pixels, another window or a whole block more
    wide = [{**ops[0], "shapes": [[1, 1, 28, 28, 16], [3, 1, 3, 3, 16, 9], [1, 3, 1, 1, 9], [1, 3, 14, 14, 9]]}]
    assert pair_kernels(wide, layers[:1]) == [None]
    assert pair_kernels([ops[2]], layers[1:2]) == [None]
    assert tvm_anchor("vm.builtin.alloc_tensor") is None and tvm_anchor("mean") == "aten::adaptive_avg_pool2d"
    # a conv computed twice (a DenseNet's stem, once raw and once with the next BN folded in): both copies
    stem = [{"name": name, "shapes": [[1, 1, 32, 32, 3], [2, 1, 3, 3, 3, 12], [1, 2, 32, 32, 12]]}
            for name in ("conv2d_NCHWc", "fused_conv2d_NCHWc_add_relu")]
    assert pair_kernels([*stem, ops[2]], [_layer(STEM, 3, 24, 32, 3), layers[2]]) == [STEM, STEM, b0]


def test_runner_keeps_every_call_site_in_order() -> None:
    """One kernel called at two layers stays two rows; the median ignores one slow run."""
    runs = [[("k", 1.0), ("add", 0.5), ("k", 2.0)], [("k", 1.0), ("add", 0.5), ("k", 2.0)],
            [("k", 9.0), ("add", 0.5), ("k", 2.0)]]
    ops = per_inference_ops(runs)
    assert [op["name"] for op in ops] == ["k", "add", "k"]
    assert ops[0]["median_ms"] == 1.0 and ops[0]["ms"] == pytest.approx(11 / 3)
    assert ops[2]["median_ms"] == 2.0 and all(op["calls"] == 3 for op in ops)


def _check_profile(p: Profile, max_other: float | None) -> None:
    times = p.part_ms()
    spec = p.spec
    assert list(times)[: len(spec_parts(spec))] == spec_parts(spec)
    blocks = sum(ms for part, ms in times.items() if part not in (STEM, HEAD, OTHER))
    assert blocks > 0.5 * p.ops_ms, "the blocks hold most of the work"
    if max_other is not None:
        assert times.get(OTHER, 0.0) <= max_other * p.ops_ms
    # the operators' times add up to at most one inference, and are no sliver of it (a unit off by
    # 1000). The inference's wall time also holds the profiler's own cost, a Python callback per
    # call with TVM, which a loaded machine stretches: 0.35 of 4 ms, 0.54 of 7.8 ms measured here.
    assert 0.01 * p.inference_ms <= p.ops_ms <= 1.5 * p.inference_ms
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
    """pruned_resnet: padded widths (17 -> 18, 27 -> 28) and two downsampling blocks. What is
    ``other`` is decided by structure, not by a time share that load shifts: only the Relax VM's
    builtins and layout transforms between two parts may be; every conv, the matmul and the pool are
    layers of a part."""
    (p,) = profile_models(["pruned_resnet"], "local", "tvm", QUICK)
    _check_profile(p, max_other=None)
    anchored = [op for op in p.ops if tvm_anchor(op.name) is not None]
    assert sum("conv2d" in op.name for op in anchored) == 2 * sum(map(len, p.spec.inner)) + 1 + 2  # stem, shortcuts
    assert [op.name for op in anchored if op.part == OTHER] == []
    assert all(op.name.startswith("vm.builtin.") or "layout_transform" in op.name for op in p.ops if op.part == OTHER)


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


def test_cli_says_profile_takes_one_backend() -> None:
    proc = run_cli("profile", "--model", "resnet8", "--backend", "onnxruntime,torch")
    assert (proc.returncode, proc.stderr) == (2, "devbench: error: argument --backend: 'onnxruntime,torch': profile "
                                                 "takes one backend; run it once per backend (see devbench profile "
                                                 "--help)\n")


def test_a_profile_stops_at_max_time_like_a_measurement() -> None:
    """`profile --repeats 1000000` ran every repeat regardless of --max-time (ONNX Runtime's run: 600 s,
    then the board's timeout, with 6.6 GB of trace)."""
    t0 = time.perf_counter()
    runs = 0
    for _ in profiled_runs(RunRequest(repeats=10**9, max_time_s=0.2)):
        runs += 1
        time.sleep(0.01)
    assert 1 < runs < 100 and time.perf_counter() - t0 < 1.0
    assert len(list(profiled_runs(RunRequest(repeats=7, max_time_s=60)))) == 7
