"""Seeding convs with the conv template: every variant on a family's first network, afterwards the
default and the variants that won on the nearest convs already in the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from devbench.backends import tvm_conv_template as template
from devbench.tuning import templates
from devbench.tuning.database import tuned_workloads
from devbench.tuning.measure import Seeded

#: the variant the fake runner times fastest: not the default on a 16-pixel-wide conv
WINNER = template.Knobs(4, 1)


def _tasks(extra: bool, tgt: Any) -> list[Any]:
    """The tuning tasks of a 16x16 network of 32-channel convs; ``extra`` adds a new, wider conv."""
    from tvm.s_tir import meta_schedule as ms

    from devbench.backends.tvm_backend import prepare

    layers = [nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()]
    if extra:
        layers += [nn.Conv2d(32, 64, 3, padding=1), nn.ReLU()]
    torch.manual_seed(0)
    mod, _ = prepare(nn.Sequential(*layers).eval(), torch.randn(1, 3, 16, 16), tgt)
    return list(ms.relax_integration.extract_tasks(mod, tgt))


def _schedules(func: Any, knobs: Any) -> dict[int, Any]:
    """The distinct schedules of ``func`` among ``knobs``, by structural hash."""
    from tvm_ffi import structural_hash

    found: dict[int, Any] = {}
    for k in knobs:
        sch = template.schedule(func, k)
        found.setdefault(structural_hash(sch.mod), sch)
    return found


def _recording(measured: dict[str, set[int]], fastest: Callable[[Any], Any]) -> Callable[..., list[Seeded]]:
    """A stand-in for ``measure_schedules`` that notes each task's candidates in ``measured`` and
    commits ordinary records, ``fastest(func)``'s schedule twice as fast as the others: what the
    runner would see."""
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    def measure(candidates: list[tuple[Any, list[Any]]], database: Any, target: Any, builder: Any,
                runner: Any) -> list[Seeded]:
        for task, schedules in candidates:
            func = task.dispatched[0]["main"]
            best = structural_hash(fastest(func).mod)
            measured[task.task_name] = {structural_hash(sch.mod) for sch in schedules}
            workload = database.commit_workload(task.dispatched[0])
            for sch in schedules:
                secs = 1e-4 if structural_hash(sch.mod) == best else 2e-4
                database.commit_tuning_record(ms.database.TuningRecord(
                    sch.trace, workload, [secs], target, ms.arg_info.ArgInfo.from_prim_func(func)))
        return [Seeded(task.task_name, len(schedules), 100.0) for task, schedules in candidates]

    return measure


def test_a_family_member_measures_its_new_convs_neighbours_winners_only(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:

    import tvm

    from devbench.tuning.database import open_database_at

    measured: dict[str, set[int]] = {}
    monkeypatch.setattr(templates, "measure_schedules",
                        _recording(measured, lambda func: template.schedule(func, WINNER)))
    # an Intel core, whichever this host is: there these 16x16 convs stay direct (on Zen 4 they take Winograd)
    tgt = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    database = open_database_at(tmp_path)

    first = _tasks(False, tgt)
    seeded = templates.seed_templates(first, database, tgt, None, None)
    assert len(seeded) == 2  # both convs; an empty database has no neighbours: every variant
    for task in first:
        if task.task_name in measured:
            assert measured[task.task_name] == set(_schedules(task.dispatched[0]["main"], template.VARIANTS))

    second = _tasks(True, tgt)
    new = [t for i, t in enumerate(second) if i not in set(tuned_workloads(database, second))]
    measured.clear()
    assert len(templates.seed_templates(new, database, tgt, None, None)) == 1  # the wider conv
    (name, hashes), = measured.items()
    func = next(t for t in new if t.task_name == name).dispatched[0]["main"]
    everything = _schedules(func, template.VARIANTS)
    # the default and the neighbours' winner, not every variant: fewer trials for the same best
    assert hashes == set(_schedules(func, [template.DEFAULT, WINNER])) and len(hashes) < len(everything)


def test_a_winograd_conv_is_seeded_with_its_variants_and_the_build_applies_their_record(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import tvm
    from tvm.s_tir import meta_schedule as ms
    from tvm_ffi import structural_hash

    from devbench.backends import tvm_winograd as winograd
    from devbench.backends.tvm_backend import build, prepare
    from devbench.tuning.database import open_database_at

    measured: dict[str, set[int]] = {}

    def fastest(func: Any) -> Any:
        return (winograd.schedule(func, winograd.Knobs(8)) if winograd.applies(func)
                else template.schedule(func, template.DEFAULT))

    monkeypatch.setattr(templates, "measure_schedules", _recording(measured, fastest))
    tgt = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()).eval()
    mod, _ = prepare(net, torch.randn(1, 3, 16, 16), tgt)
    tasks = list(ms.relax_integration.extract_tasks(mod, tgt))
    wino = [t for t in tasks if winograd.applies(t.dispatched[0]["main"])]
    assert len(wino) == 1
    database = open_database_at(tmp_path)
    assert len(templates.seed_templates(tasks, database, tgt, None, None)) == 2  # the stem (direct) and it
    func = wino[0].dispatched[0]["main"]
    variants = [winograd.schedule(func, k) for k in winograd.VARIANTS]
    assert measured[wino[0].task_name] == {structural_hash(sch.mod) for sch in variants}
    _, tuned = build(mod, tgt, database)
    assert tuned == 2
