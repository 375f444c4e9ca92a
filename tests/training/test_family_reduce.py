"""Family members and reduced networks hit their size budgets; impossible budgets are errors."""

import pytest

from devbench.cli import main
from devbench.errors import DevbenchError
from devbench.models import ArchSpec, count_macs, count_params, wrn_spec
from devbench.training import family, reduce
from devbench.training.family import linear_fit, parse_count

PRUNED = wrn_spec(16, 2, input_shape=(1, 28, 28)).with_flat_widths([20, 9, 50, 31, 100, 60], name="pruned_x")


def test_linear_fit_is_least_squares_per_stage():
    assert linear_fit([3, 5, 7]) == [3.0, 5.0, 7.0]
    assert linear_fit([4]) == [4.0]
    assert linear_fit([10, 0, 0, 0]) == pytest.approx([7.0, 4.0, 1.0, 0.0])


@pytest.mark.parametrize("by,count", [("params", count_params), ("macs", count_macs)])
def test_family_members_hit_their_budget(by, count):
    size = count(PRUNED)
    budgets = [int(size * 0.5), int(size * 1.5), int(size * 3)]
    for budget, member in zip(budgets, family(PRUNED, budgets, by=by), strict=True):
        assert abs(count(member) - budget) <= 0.02 * budget
        assert member.meta["family_of"] == "pruned_x" and member.stage_channels == PRUNED.stage_channels


def test_unreachable_budget_is_an_error():
    with pytest.raises(DevbenchError, match="below the smallest member"):
        family(PRUNED, [1000])


@pytest.mark.parametrize("by", ["width", "bottleneck"])
def test_reduced_matches_params_within_5_percent(by):
    base = wrn_spec(16, 2, input_shape=(1, 28, 28))
    target = count_params(PRUNED)
    spec = reduce(base, target, by=by)
    assert abs(count_params(spec) - target) <= 0.05 * target
    assert spec.meta["reduced_from"] == base.name


def test_depth_reduction_reports_a_miss():
    base = wrn_spec(40, 2)
    spec = reduce(base, count_params(wrn_spec(16, 2)), by="depth", tolerance=0.5)
    assert [len(s) for s in spec.inner] == [2, 2, 2]
    with pytest.raises(DevbenchError, match="within 1%"):
        reduce(base, int(count_params(wrn_spec(16, 2)) * 1.3), by="depth", tolerance=0.01)


def test_family_and_reduce_cli_write_trainable_specs(tmp_path, capsys):
    src = PRUNED.save(tmp_path / "pruned_x.json")
    base = wrn_spec(16, 2, input_shape=(1, 28, 28)).save(tmp_path / "base.json")
    assert main(["family", "--from", str(src), "--budgets", "0.3M,600k", "--out", str(tmp_path / "fam")]) == 0
    sizes = sorted(count_params(ArchSpec.load(p)) for p in (tmp_path / "fam").glob("*.json"))
    assert len(sizes) == 2 and abs(sizes[0] - 300000) <= 6000 and abs(sizes[1] - 600000) <= 12000
    out = tmp_path / "red.json"
    assert main(["reduce", "--like", str(src), "--base", str(base), "--by", "width", "--out", str(out)]) == 0
    assert abs(count_params(ArchSpec.load(out)) - count_params(PRUNED)) <= 0.05 * count_params(PRUNED)
    assert main(["family", "--from", str(src), "--budgets", "10"]) == 2
    assert parse_count("1.5k") == 1500
