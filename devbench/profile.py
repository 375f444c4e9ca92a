"""Per-layer profiles: where an inference spends its time, block by block, so a pruned and a
reduced network can be compared where they differ (``devbench profile``).

The board runs the artifact under its runtime's own profiler (``runner.py --mode profile``) and
returns one inference's operators in execution order with their mean and median times (tables
use the median: one preempted run must not decide a block). The host then gives
every operator a *part* of the spec: the stem, block ``b`` of stage ``s``, a DenseNet transition,
or the head. Runtimes name operators differently, so each gets the mapping its names allow:

- **onnxruntime**: node names come from the ONNX export, where torch's dynamo exporter records
  every node's module path (``pkg.torch.onnx.name_scopes``); a conv or gemm is placed by its
  weight's name (``stages.0.1.conv1.weight``), because the exporter folds a BN into the conv
  before it under the BN's scope. ORT renames what it fuses or re-lays-out after the output
  (``relu_1_nchwc`` writes ``relu_1``); such a name gets the part of the nearest conv or gemm
  behind that output through ops ORT fuses.
- **torch**: the profiler sees ``aten::conv2d``, ``aten::relu``...; the exported program calls one
  per graph node, in graph order, and every node carries its ``nn_module_stack``. The two name
  sequences are aligned (longest common subsequence), so each op inherits its node's module.
- **tvm**: fused kernels (``fused_conv2d_NCHWc3_add3_relu2``) keep no module names, and one kernel
  serves every layer of the same shape. The board records each call's argument shapes; a kernel
  named after a conv, a matmul or a pool is paired, in order, with a conv, linear or pool of the
  exported graph whose shapes it has (the longest such order-keeping pairing), and takes that
  layer's part. Shapes, not sizes: the blocked layout pads a pruned width with zero channels
  (17 -> 18), so a kernel may hold more channels than its layer, never other pixels or another
  window. TVM runs a downsampling block's shortcut before its second conv (whose fused residual add
  needs it), so a kernel the ordered pairing leaves out then takes an unpaired layer it computes
  from a neighbouring kernel's part. An add or ReLU fused into a conv counts for the conv's
  block; a conv TVM computes twice (a BN folded into one copy) counts twice for its block.

Operators no name reaches (ORT's layout reorders, TVM's allocations and element-wise kernels, the
input copy) take the part of their neighbours when the nearest attributed operators before and
after them agree; otherwise they are ``other``. Nothing is guessed beyond that. ``other`` is meant
for the runtime's own work between blocks, which belongs to no block (the Relax VM's builtins:
allocations, shape checks, reshapes; the input's layout transform). Every conv, linear and pool of
the network is a layer of some part, so with TVM such a kernel in ``other`` is a mapping bug, not a
cost. What TVM cannot fuse into a conv and runs between two blocks is ``other`` too, for want of a
name: a DenseNet's concats and its layers' pre-activation BN+ReLU.

Profilers cost time of their own (a Python callback per TVM call, trace events in ORT and torch),
so a profile explains a latency; ``devbench run`` measures it.
"""

from __future__ import annotations

import ast
import difflib
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from devbench.bench import (
    Job,
    MeasureSettings,
    backends_for,
    compile_job,
    example_batch,
    load_model,
    open_boards,
    settings_for,
)
from devbench.board.protocol import RunRequest
from devbench.errors import DevbenchError
from devbench.models import ArchSpec
from devbench.models.families import get_family
from devbench.paths import check_output_file
from devbench.targets import get_target
from devbench.transports import BoardJob

#: image formats ``--plot`` writes, by suffix
PLOT_FORMATS = (".png", ".svg", ".pdf")


class Part(NamedTuple):
    """Where in the spec an operator belongs: ``stage`` is "stem", a stage index, "head" or
    "other"; ``block`` a block index within the stage, "transition" (DenseNet-BC), or ""."""

    stage: str
    block: str = ""

    @property
    def label(self) -> str:
        if not self.block:
            return self.stage
        return f"s{self.stage}.{'t' if self.block == 'transition' else 'b' + self.block}"


OTHER = Part("other")
HEAD = Part("head")
STEM = Part("stem")


def spec_parts(spec: ArchSpec) -> list[Part]:
    """Every part of ``spec`` in execution order (the table's rows)."""
    parts = [STEM]
    for s, stage in enumerate(spec.inner):
        parts += [Part(str(s), str(b)) for b in range(len(stage))]
        if get_family(spec.family).concat and s < len(spec.inner) - 1:
            parts.append(Part(str(s), "transition"))
    return [*parts, HEAD]


def part_of(module_path: str) -> Part | None:
    """The part a module path names, with the builders' module names (models/resnet.py, wrn.py,
    densenet.py): ``stem``, ``stages.S.B``, ``transitions.T``, and the head's ``bn``, ``pool``,
    ``fc``. None for the root and anything else."""
    names = module_path.split(".")
    if names[0] == "stem":
        return STEM
    if names[0] == "stages" and len(names) >= 3 and names[1].isdigit() and names[2].isdigit():
        return Part(names[1], names[2])
    if names[0] == "transitions" and len(names) >= 2 and names[1].isdigit():
        return Part(names[1], "transition")
    if names[0] in ("bn", "pool", "fc"):
        return HEAD
    return None


def deepest_part(module_paths: Sequence[str]) -> Part | None:
    """The part of the innermost module path that names one (paths listed outermost first)."""
    for path in reversed(module_paths):
        if (part := part_of(path)) is not None:
            return part
    return None


# ---------------------------------------------------------------------- mapping, one per runtime
#: ONNX ops whose weight input names the module they came from (``stages.0.1.conv1.weight``)
ONNX_WEIGHTED = ("Conv", "Gemm", "MatMul")
#: ONNX ops ORT fuses into the conv or gemm before them
ONNX_FUSABLE = ("Relu", "Add", "Sum", "BatchNormalization", "Clip", "Sigmoid", "Mul", "LeakyRelu")


def onnx_node_part(node: Any) -> Part | None:
    """A node's part: for a conv or gemm, its weight's module (the exporter folds a BN into the conv
    before it and gives the result the BN's scope, which for a pre-activation network is the next
    block's); for the rest, the innermost module scope the exporter recorded."""
    if node.op_type in ONNX_WEIGHTED and len(node.input) > 1 and (part := part_of(node.input[1])) is not None:
        return part
    scopes = {p.key: p.value for p in node.metadata_props}.get("pkg.torch.onnx.name_scopes")
    return deepest_part(ast.literal_eval(scopes)) if scopes else None


def onnx_lookup(onnx_file: Path) -> Callable[[str], Part | None]:
    """ORT operator name -> part, from the exported graph. A name ORT kept is a node's name; a node
    ORT fused or re-laid-out is named after its output (``relu_1_nchwc`` writes ``relu_1``), and
    gets the part of the conv or gemm nearest behind that output through ops ORT fuses."""
    import onnx

    nodes = onnx.load(str(onnx_file), load_external_data=False).graph.node
    by_name = {n.name: n for n in nodes}
    producer = {out: n for n in nodes for out in n.output}

    def fused_anchor(node: Any) -> Any:
        frontier, seen = [node], set()
        while frontier:
            n = frontier.pop(0)
            if n.op_type in ONNX_WEIGHTED:
                return n
            if n.op_type in ONNX_FUSABLE and n.name not in seen:
                seen.add(n.name)
                frontier += [producer[i] for i in n.input if i in producer]
        return node

    def lookup(name: str) -> Part | None:
        if name in by_name:
            return onnx_node_part(by_name[name])
        node = producer.get(name.removesuffix("_nchwc"))
        return None if node is None else onnx_node_part(fused_anchor(node))

    return lookup


def map_onnxruntime(ops: list[dict[str, Any]], artifact: Path, job: Job) -> list[Part | None]:
    lookup = onnx_lookup(artifact)
    return [lookup(op["name"]) for op in ops]


def graph_ops(program: Any) -> list[tuple[str, Part | None]]:
    """An exported program's ATen calls in graph order: (op name as the profiler spells it, part)."""
    ops = []
    for node in program.graph.nodes:
        if node.op != "call_function" or not hasattr(node.target, "_schema"):
            continue  # getitem and other Python-level calls run no ATen op
        stack = node.meta.get("nn_module_stack") or {}
        ops.append((node.target._schema.name, deepest_part([path for path, _ in stack.values()])))
    return ops


def map_torch(ops: list[dict[str, Any]], artifact: Path, job: Job) -> list[Part | None]:
    import torch

    names = [op["name"] for op in ops]
    graph = graph_ops(torch.export.load(str(artifact)))
    parts: list[Part | None] = [None] * len(names)
    matcher = difflib.SequenceMatcher(None, names, [name for name, _ in graph], autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            parts[block.a + i] = graph[block.b + i][1]
    return parts


#: TVM kernel name fragment -> the network op such a kernel computes (the first fragment found wins)
TVM_ANCHORS = (
    ("conv2d", "aten::conv2d"), ("matmul", "aten::linear"), ("dense", "aten::linear"),
    ("adaptive_avg_pool2d", "aten::adaptive_avg_pool2d"), ("avg_pool2d", "aten::avg_pool2d"),
    ("max_pool2d", "aten::max_pool2d"), ("mean", "aten::adaptive_avg_pool2d"),
)
#: the exported graph's ops a TVM kernel can be paired with
ANCHORED_OPS = frozenset(op for _, op in TVM_ANCHORS)


def tvm_anchor(kernel: str) -> str | None:
    """The network op a TVM kernel is named after, where it is one the mapping anchors on: a conv,
    a linear (a matmul or dense), a pool (a global average pool is a ``mean``). VM builtins
    (``vm.builtin.alloc_tensor``...), layout transforms and element-wise kernels are none."""
    if kernel.startswith("vm."):
        return None
    return next((op for fragment, op in TVM_ANCHORS if fragment in kernel), None)


class Layer(NamedTuple):
    """A conv, linear or pool of the exported graph: what a TVM kernel computing it must look like
    (``weight`` is None for a pool)."""

    op: str
    part: Part | None
    data: tuple[int, ...]
    weight: tuple[int, ...] | None
    out: tuple[int, ...]


def graph_layers(program: Any) -> list[Layer]:
    """The convs, linears and pools of an exported program in graph order, with their tensor shapes."""
    layers = []
    for node in program.graph.nodes:
        if node.op != "call_function" or getattr(node.target, "_schema", None) is None:
            continue
        op = node.target._schema.name
        if op in ANCHORED_OPS:
            stack = node.meta.get("nn_module_stack") or {}
            weight = tuple(node.args[1].meta["val"].shape) if op in ("aten::conv2d", "aten::linear") else None
            layers.append(Layer(op, deepest_part([path for path, _ in stack.values()]),
                                tuple(node.args[0].meta["val"].shape), weight, tuple(node.meta["val"].shape)))
    return layers


def nchw(shape: Sequence[int]) -> tuple[int, int, int, int, int] | None:
    """(batch, channels, height, width, channel block) of an activation in TVM's NCHW or blocked
    NCHW[x]c layout (tvm_layout.py); None for any other rank."""
    if len(shape) == 4:
        return (*shape, 1)
    if len(shape) == 5:
        n, outer, h, w, block = shape
        return n, outer * block, h, w, block
    return None


def oihw(shape: Sequence[int]) -> tuple[int, int, int, int] | None:
    """(out channels, in channels, kernel height, kernel width) of a conv weight in OIHW or blocked
    OIHW[x]i[y]o layout; None for any other rank."""
    if len(shape) == 4:
        return tuple(shape)
    if len(shape) == 6:
        o_outer, i_outer, kh, kw, i_block, o_block = shape
        return o_outer * o_block, i_outer * i_block, kh, kw
    return None


def padded(tvm: tuple[int, int, int, int, int] | None, torch_shape: Sequence[int], whole_blocks: bool) -> bool:
    """Whether TVM's activation ``tvm`` (from :func:`nchw`) holds the graph's ``torch_shape``: the same
    batch and pixels, at least its channels. The blocked layout pads a tensor whose width wastes
    vector lanes with zero channels after its own, less than one block (a pruned 17 -> 18, 27 -> 28);
    a conv reading a concat of padded tensors reads each one's padding (``whole_blocks`` False)."""
    if tvm is None or len(torch_shape) != 4:
        return False
    n, c, h, w, block = tvm
    channels = torch_shape[1]
    return ((n, h, w) == (torch_shape[0], *torch_shape[2:]) and c >= channels
            and (not whole_blocks or c - channels < block))


def tvm_computes(op: dict[str, Any], layer: Layer) -> bool:
    """Whether the TVM kernel ``op`` (a board operator with its call's argument shapes: inputs in
    the order the op takes them, the output last) can compute ``layer``.

    A conv or pool: the same batch, pixels in and out and kernel window, and at least the layer's
    channels, since the blocked layout may pad them (:func:`padded`); sizes alone stopped matching
    once it did. A linear: its output and weight sizes (the head reads the real channels)."""
    shapes = op["shapes"]
    if tvm_anchor(op["name"]) != layer.op or len(shapes) < 2:
        return False
    if layer.op == "aten::linear":
        numels = [math.prod(shape) for shape in shapes]
        return numels[-1] == math.prod(layer.out) and math.prod(layer.weight or ()) in numels
    out = nchw(shapes[-1])
    if not (padded(nchw(shapes[0]), layer.data, whole_blocks=False) and padded(out, layer.out, whole_blocks=True)):
        return False
    if layer.weight is None:
        return True
    weight = oihw(shapes[1])
    return (weight is not None and out is not None and weight[0] == out[1] and weight[1] >= layer.weight[1]
            and weight[2:] == tuple(layer.weight[2:]))


def align(n: int, m: int, match: Callable[[int, int], bool]) -> list[tuple[int, int]]:
    """The longest order-keeping pairing of items 0..n-1 with 0..m-1 where ``match`` allows it."""
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = max(best[i + 1][j], best[i][j + 1], best[i + 1][j + 1] + 1 if match(i, j) else 0)
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if match(i, j) and best[i][j] == best[i + 1][j + 1] + 1:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def pair_kernels(ops: list[dict[str, Any]], layers: Sequence[Layer]) -> list[Part | None]:
    """Per board operator, the part of the graph layer its kernel computes (None: no layer).

    The anchored kernels (:func:`tvm_anchor`, with recorded shapes) are paired with the layers in
    order first (:func:`align`): one kernel serves every layer of its shape, so only the order tells
    those layers apart. TVM may run a block's independent branches in another order than the graph,
    though: a downsampling block's shortcut conv runs before its second conv, into which the
    residual add it feeds is fused; an order-keeping pairing leaves one of the two out. So a kernel
    left unpaired then takes a layer left unpaired that it computes, from the part of the nearest
    paired kernel before or after it (the nearest such layer in graph order). A kernel with no such
    layer that computes the layer of the paired kernel before or after it is a second copy of it:
    TVM computes a conv twice where its output is read both as it is and through a BN folded into
    one copy (a DenseNet's stem: its output joins the first concat and, through the first layer's
    BN and ReLU, that layer's conv), and each copy is the layer's work. A kernel left over is left
    to :func:`fill_between`.
    """
    kernels = [i for i, op in enumerate(ops) if tvm_anchor(op["name"]) is not None and op.get("shapes")]
    pairs = dict(align(len(kernels), len(layers), lambda k, j: tvm_computes(ops[kernels[k]], layers[j])))
    taken = set(pairs.values())
    for k in range(len(kernels)):
        if k in pairs:
            continue
        before = next((pairs[i] for i in range(k - 1, -1, -1) if i in pairs), None)
        after = next((pairs[i] for i in range(k + 1, len(kernels)) if i in pairs), None)
        near = {layers[j].part for j in (before, after) if j is not None} - {None}
        lo, hi = -1 if before is None else before, len(layers) if after is None else after
        candidates = [j for j in range(len(layers)) if j not in taken and layers[j].part in near
                      and tvm_computes(ops[kernels[k]], layers[j])]
        if candidates:  # the nearest to the gap between the neighbours' layers; ties: the first
            pairs[k] = min(candidates, key=lambda j, lo=lo, hi=hi: max(lo - j, j - hi, 0))
            taken.add(pairs[k])
        elif copies := [j for j in (before, after) if j is not None and tvm_computes(ops[kernels[k]], layers[j])]:
            pairs[k] = copies[0]  # a second copy of a neighbour's layer
    parts: list[Part | None] = [None] * len(ops)
    for k, j in pairs.items():
        parts[kernels[k]] = layers[j].part
    return parts


def map_tvm(ops: list[dict[str, Any]], artifact: Path, job: Job) -> list[Part | None]:
    import torch

    example = torch.from_numpy(example_batch(job.model.spec, job.settings.batch, job.settings.seed))
    with torch.no_grad():
        layers = graph_layers(torch.export.export(job.model.module.eval(), (example,)))
    return pair_kernels(ops, layers)


#: backend -> (the board's operators in execution order, artifact, job) -> a part or None per operator
MAPPERS: dict[str, Callable[[list[dict[str, Any]], Path, Job], list[Part | None]]] = {
    "onnxruntime": map_onnxruntime, "torch": map_torch, "tvm": map_tvm,
}


def fill_between(parts: list[Part | None]) -> list[Part]:
    """Unattributed operators take the part of their nearest attributed neighbours when those
    before and after agree (a layout reorder inside a block); otherwise they are ``other``."""
    before: list[Part | None] = []
    last = None
    for p in parts:
        last = p if p is not None else last
        before.append(last)
    out: list[Part] = [OTHER] * len(parts)
    nxt = None
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] is not None:
            nxt = out[i] = parts[i]
        elif before[i] is not None and before[i] == nxt:
            out[i] = nxt
    return out


# ---------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class OpTime:
    """One operator of one inference: its median and mean time over the profiled inferences (the
    tables use the median: one preempted run must not decide a block) and the part it was given."""

    name: str
    ms: float
    mean_ms: float
    calls: int
    part: Part


@dataclass(frozen=True)
class Profile:
    model: str
    target: str
    backend: str
    spec: ArchSpec
    ops: list[OpTime]
    #: median wall time of a profiled inference (the profiler's own cost included)
    inference_ms: float
    runs: int

    @property
    def ops_ms(self) -> float:
        return sum(op.ms for op in self.ops)

    def part_ms(self) -> dict[Part, float]:
        """Time per part, in the spec's order (parts no operator reached are 0)."""
        times = dict.fromkeys(spec_parts(self.spec), 0.0)
        for op in self.ops:
            times[op.part] = times.get(op.part, 0.0) + op.ms
        return times

    def inner_width(self, part: Part) -> int | None:
        """The prunable width of a block (what pruning and reducing change)."""
        if part.stage.isdigit() and part.block.isdigit():
            return self.spec.inner[int(part.stage)][int(part.block)]
        return None


def check_profile(result: dict[str, Any]) -> None:
    """Refuse a board result no profiler gives: no operators, a negative or non-numeric time."""
    ops = result.get("ops")
    if not isinstance(ops, list) or not ops:
        raise DevbenchError("the board returned no operators")
    for op in ops:
        if not (isinstance(op, dict) and isinstance(op.get("name"), str) and isinstance(op.get("calls"), int)
                and all(_time(op.get(key)) for key in ("ms", "median_ms"))):
            raise DevbenchError(f"the board returned a malformed operator: {op!r}"[:200])
    for key in ("total_ms", "median_total_ms"):
        if not _time(result.get(key)) or result[key] == 0:
            raise DevbenchError(f"the board returned an impossible {key}: {result.get(key)!r}")


def _time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def profile_job(job: Job, transport: Any) -> Profile:
    """Compile (or find in the cache) one job's artifact, profile it on the board, map its operators."""
    artifact = compile_job(job)
    s = job.settings
    with tempfile.TemporaryDirectory(prefix="devbench-profile-") as tmp:
        np.save(Path(tmp) / "input.npy", example_batch(job.model.spec, s.batch, s.seed))
        request = RunRequest(mode="profile", backend=job.backend, artifact=artifact.path.name, input="input.npy",
                             batch=s.batch, threads=job.target.threads, device=job.target.device,
                             warmup=s.warmup, repeats=s.repeats)
        result = transport.run(BoardJob(files={**artifact.board_files, "input.npy": Path(tmp) / "input.npy"},
                                        request=request, timeout_s=s.timeout_s))
    if "error" in result:
        raise DevbenchError(f"profiling {job.model.name} with {job.backend} on {job.target.name}: {result['error']}")
    check_profile(result)
    parts = fill_between(MAPPERS[job.backend](result["ops"], artifact.path, job))
    ops = [OpTime(op["name"], float(op["median_ms"]), float(op["ms"]), op["calls"], part)
           for op, part in zip(result["ops"], parts, strict=True)]
    return Profile(job.model.name, job.target.name, job.backend, job.model.spec, ops,
                   float(result["median_total_ms"]), int(result.get("runs", 0)))


def profile_models(models: list[str], target: str, backend: str | None = None,
                   settings: MeasureSettings | None = None, targets_files: list[str] = (),
                   threads: int | None = None, trust_new_host: bool = False) -> list[Profile]:
    """Profile each model on one target with one backend (default: the target's first)."""
    if len(set(models)) != len(models):
        raise DevbenchError(f"a model is named twice in {','.join(models)}")
    t = get_target(target, targets_files, threads)
    wanted = backends_for(t, [backend or t.backends[0]])
    if len(wanted) != 1:
        raise DevbenchError(f"profile takes one backend, not {', '.join(wanted)}")
    backend = wanted[0]
    settings = settings_for(t, settings or MeasureSettings())
    jobs = [Job(load_model(m, settings.seed), t, backend, settings) for m in models]
    transport = open_boards([t], trust_new_host)[t.name]
    try:
        return [profile_job(job, transport) for job in jobs]
    finally:
        transport.close()


# ---------------------------------------------------------------------- tables and plot
def _rows(profiles: Sequence[Profile], by: str) -> list[Part]:
    """The table's parts: the first model's in spec order, then any other model's, then ``other``;
    with ``by="stage"`` a stage's blocks and transition are one row."""
    rows: list[Part] = []
    for p in profiles:
        for part in [*spec_parts(p.spec), OTHER]:
            part = _level(part, by)
            if part not in rows:
                rows.append(part)
    rows.remove(OTHER)
    return [*rows, OTHER]


def _level(part: Part, by: str) -> Part:
    return Part(part.stage) if by == "stage" else part


def _times(p: Profile, by: str) -> dict[Part, float]:
    times: dict[Part, float] = {}
    for part, ms in p.part_ms().items():
        times[_level(part, by)] = times.get(_level(part, by), 0.0) + ms
    return times


def comparison_records(profiles: Sequence[Profile], by: str = "block") -> list[dict[str, Any]]:
    """The markdown table: a row per part, per model its inner width (blocks), ms and share of the
    operators' total, and every model's time over the first model's; a closing ``total`` row."""
    times = [_times(p, by) for p in profiles]
    base = profiles[0].model
    records = []
    for part in [*_rows(profiles, by), Part("total")]:
        rec: dict[str, Any] = {"stage": part.stage, "block": part.block}
        for p, t in zip(profiles, times, strict=True):
            ms = p.ops_ms if part.stage == "total" else t.get(part)
            if by == "block":
                rec[f"{p.model} inner"] = p.inner_width(part)
            rec[f"{p.model} ms"] = ms
            rec[f"{p.model} %"] = None if ms is None else round(100 * ms / p.ops_ms, 1)
        base_ms = rec[f"{base} ms"]
        for p in profiles[1:]:
            ms = rec[f"{p.model} ms"]
            rec[f"{p.model}/{base}"] = ms / base_ms if ms is not None and base_ms else None
        records.append(rec)
    return records


def long_records(profiles: Sequence[Profile], by: str = "block") -> list[dict[str, Any]]:
    """CSV and JSON: a record per model and part, with the keys a script needs on every row."""
    records = []
    for p in profiles:
        times = _times(p, by)
        for part in _rows([p], by):
            records.append({
                "model": p.model, "target": p.target, "backend": p.backend, "part": part.label,
                "stage": part.stage, "block": part.block,
                "inner": p.inner_width(part) if by == "block" else None,
                "ms": times.get(part, 0.0), "share": times.get(part, 0.0) / p.ops_ms,
                "ops": sum(1 for op in p.ops if _level(op.part, by) == part),
                "ops_ms": p.ops_ms, "inference_ms": p.inference_ms, "runs": p.runs,
            })
    return records


def op_records(profiles: Sequence[Profile]) -> list[dict[str, Any]]:
    """Every operator of every model, in execution order, with the part it was given."""
    return [{"model": p.model, "backend": p.backend, "index": i, "op": op.name, "part": op.part.label,
             "ms": op.ms, "mean_ms": op.mean_ms, "calls": op.calls} for p in profiles for i, op in enumerate(p.ops)]


def summary_line(p: Profile) -> str:
    """How much of the inference the operators and the mapping explain."""
    other = p.part_ms().get(OTHER, 0.0)
    return (f"{p.model} on {p.target} with {p.backend}: {len(p.ops)} operators, {p.ops_ms:.3f} ms of "
            f"{p.inference_ms:.3f} ms per profiled inference ({p.runs} runs); {other / p.ops_ms:.0%} not attributed")


def check_plot_path(out: str | Path) -> Path:
    """``out`` if a plot can be written there: checked before profiling, not after minutes of it."""
    out = Path(out)
    if out.suffix.lower() not in PLOT_FORMATS:
        raise DevbenchError(f"--plot {out}: the file must end in {', '.join(PLOT_FORMATS)}")
    return check_output_file(out, "--plot")


def plot_profiles(profiles: Sequence[Profile], out: str | Path, by: str = "block") -> Path:
    """A grouped bar plot: ms per part, one bar per model; PNG, SVG or PDF by ``out``'s suffix."""
    out = check_plot_path(out)
    import matplotlib

    matplotlib.use("Agg")  # files only: devbench runs on headless servers
    import matplotlib.pyplot as plt

    rows = _rows(profiles, by)
    width = 0.8 / len(profiles)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(rows) * len(profiles) + 2), 4.5))
    for k, p in enumerate(profiles):
        times = _times(p, by)
        xs = [i + (k - (len(profiles) - 1) / 2) * width for i in range(len(rows))]
        ax.bar(xs, [times.get(r, 0.0) for r in rows], width, label=f"{p.model} ({p.ops_ms:.3f} ms)")
    ax.set_xticks(range(len(rows)), [r.label for r in rows], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("ms per inference (profiled)")
    first = profiles[0]
    ax.set_title(f"per-{by} profile on {first.target} with {first.backend}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)
    return out
