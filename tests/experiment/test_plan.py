"""Plans: every stage a recipe implies, content keys that are stable and change with their inputs."""

from dataclasses import replace
from pathlib import Path

import pytest

from devbench.errors import DevbenchError
from devbench.experiment import plan as plan_module
from devbench.experiment.plan import make_plan
from devbench.experiment.recipe import Recipe, load_recipe, shipped_recipes

TINY = """\
name = "tiny"
seeds = [0, 1, 2]

[training]
epochs = 2
train_subset = 500

[latency]
targets = ["local", "pi4"]
backends = ["onnxruntime"]
rounds = 6

[[network]]
base = "resnet8"
prunes = 20
save_every = 10
stages = [10, 20]
reduced = ["bottleneck", "width"]
family = ["30k"]
"""


def recipe(tmp_path: Path, text: str = TINY) -> Recipe:
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return load_recipe(path)


def expected_counts(r: Recipe) -> dict[str, int]:
    """The runs a recipe implies, counted from the recipe alone."""
    seeds = len(r.seeds)
    counts = dict.fromkeys(("base", "prune", "reduced", "scratch", "family", "latency"), 0)
    for n in r.network:
        budgets = len(n.budgets or n.stages)
        counts["base"] += seeds
        counts["prune"] += seeds * (1 + len(n.pruning.baselines))
        counts["reduced"] += seeds * budgets * len(n.reduced)
        counts["scratch"] += seeds * budgets * n.scratch
        counts["family"] += seeds * (budgets if n.family is True else len(n.family or ()))
        counts["latency"] += budgets * len(r.latency.targets)
    return counts


@pytest.mark.parametrize("name", shipped_recipes())
def test_shipped_recipes_plan_with_the_runs_they_imply(name):
    r = load_recipe(name)
    p = make_plan(r, device="cpu", workers=2)
    assert {k: v for k, v in p.counts().items()} == {k: v for k, v in expected_counts(r).items() if v}
    assert all(s.seconds > 0 for s in p.stages)
    text = p.describe()
    assert f"{sum(p.counts()[k] for k in ('base', 'reduced', 'scratch', 'family'))} training runs" in text


def test_tiny_plan_counts_names_and_order(tmp_path):
    p = make_plan(recipe(tmp_path), device="cpu")
    assert dict(p.counts()) == {"base": 3, "prune": 3, "reduced": 12, "scratch": 6, "family": 3, "latency": 4}
    assert p["resnet8/seed1/stage0020/reduced_width"].upstream == ("resnet8/seed1/prune_fisher",)
    assert p["resnet8/seed2/fam30k/family"].inputs["from"] == {"stage": 20}
    lat = p["resnet8/stage0010/latency_pi4"]
    assert lat.inputs["models"] == ["resnet8/seed0/prune_fisher", "resnet8/seed0/stage0010/reduced_bottleneck",
                                    "resnet8/seed0/stage0010/reduced_width"]
    seen: set[str] = set()
    for s in p.stages:  # dependency order: a stage comes after everything it reads
        assert set(s.upstream) <= seen
        seen.add(s.name)
    assert len({s.key for s in p.stages}) == len(p.stages)


def keys(p) -> dict[str, str]:
    return {s.name: s.key for s in p.stages}


def test_keys_are_stable_across_calls(tmp_path):
    assert keys(make_plan(recipe(tmp_path), device="cpu")) == keys(make_plan(recipe(tmp_path), device="cpu"))
    # the device and throughput change estimates, never what a stage computes
    assert keys(make_plan(recipe(tmp_path), device="cpu")) == keys(make_plan(recipe(tmp_path), device="cuda"))


def test_a_changed_input_changes_exactly_the_stages_downstream(tmp_path):
    before = keys(make_plan(recipe(tmp_path), device="cpu"))
    more_rounds = keys(make_plan(recipe(tmp_path, TINY.replace("rounds = 6", "rounds = 8")), device="cpu"))
    assert {n for n in before if before[n] != more_rounds[n]} == {n for n in before if "latency" in n}
    longer = keys(make_plan(recipe(tmp_path, TINY.replace("epochs = 2", "epochs = 3")), device="cpu"))
    assert all(before[n] != longer[n] for n in before)  # every stage trains or reads a trained network
    one_more_seed = keys(make_plan(recipe(tmp_path, TINY.replace("[0, 1, 2]", "[0, 1, 2, 3]")), device="cpu"))
    assert all(one_more_seed[n] == k for n, k in before.items())  # seeds already run are kept
    faster_pruning = TINY + "[network.pruning]\nprune_every = 3\n"
    changed = keys(make_plan(recipe(tmp_path, faster_pruning), device="cpu"))
    assert {n for n in before if before[n] != changed[n]} == {n for n in before if not n.endswith("/base")}


def test_a_code_change_changes_every_key(tmp_path, monkeypatch):
    before = keys(make_plan(recipe(tmp_path), device="cpu"))
    monkeypatch.setattr(plan_module, "code_version", lambda: "another version")
    after = keys(make_plan(recipe(tmp_path), device="cpu"))
    assert all(before[n] != after[n] for n in before)


def test_estimates_follow_the_documented_model(tmp_path):
    p = make_plan(recipe(tmp_path), device="cpu", macs_per_s={"resnet8": 1e10})
    base = p["resnet8/seed0/base"]
    images = base.inputs["training"]["epochs"] * (3 * 500 + 10_000)  # 500 training images, the full test set
    assert base.train_images == 500
    assert base.seconds == pytest.approx(images * base.macs / 1e10)
    faster = make_plan(recipe(tmp_path), device="cpu", macs_per_s={"resnet8": 2e10})
    assert faster.seconds == pytest.approx(p.seconds / 2, rel=0.2)  # latency stages do not scale
    one, many = replace(p, workers=1), replace(p, workers=1000)
    assert one.seconds_left() == pytest.approx(p.seconds)
    chain = base.seconds + p["resnet8/seed0/prune_fisher"].seconds  # the longest: base, prune, then a run
    assert chain < many.seconds_left() < p.seconds
    every = {s.name for s in p.stages}
    assert p.seconds_left(every) == 0
    bases = {s.name for s in p.stages if s.kind == "base"}
    assert one.seconds_left(bases) == pytest.approx(p.seconds - sum(p[n].seconds for n in bases))
    text = p.describe(bases)
    assert f"{len(bases)} stored, {len(p.stages) - len(bases)} to run" in text and "(measured here)" in text
    assert "(assumed): resnet8 3e+10 MAC/s" in make_plan(recipe(tmp_path), device="cpu").describe()


def test_each_network_has_its_own_throughput(tmp_path):
    text = TINY + TINY[TINY.index("[[network]]"):].replace('base = "resnet8"', 'base = "wrn_10_1"')
    both = recipe(tmp_path, text)
    slow = make_plan(both, device="cpu", macs_per_s={"resnet8": 1e10, "wrn_10_1": 1e9})
    fast = make_plan(both, device="cpu", macs_per_s={"resnet8": 1e10, "wrn_10_1": 1e10})
    assert slow["resnet8/seed0/base"].seconds == fast["resnet8/seed0/base"].seconds
    assert slow["wrn_10_1/seed0/base"].seconds == pytest.approx(10 * fast["wrn_10_1/seed0/base"].seconds)


def test_a_budget_no_reduced_variant_can_match_is_an_error_before_anything_runs(tmp_path):
    text = TINY.replace("stages = [10, 20]", "budgets = [60000]").replace('["bottleneck", "width"]', '["depth"]')
    with pytest.raises(DevbenchError, match="resnet8 at 60000 params: no depth reduction"):
        make_plan(recipe(tmp_path, text), device="cpu")
    with pytest.raises(DevbenchError, match="not below"):
        make_plan(recipe(tmp_path, TINY.replace("stages = [10, 20]", 'budgets = ["1M"]')), device="cpu")


def test_a_measured_throughput_feeds_the_estimates(tmp_path):
    from devbench.experiment.throughput import measure_macs_per_s, measure_recipe
    from devbench.models import get_spec

    rate = measure_macs_per_s(get_spec("resnet8"), batch_size=8, steps=1)
    assert 1e6 < rate < 1e15
    r = recipe(tmp_path)
    measured = measure_recipe(r)
    assert set(measured) == {"resnet8"} and 1e6 < measured["resnet8"] < 1e15
    p = make_plan(r, device="cpu", macs_per_s=measured)
    assert p.measured and f"resnet8 {measured['resnet8']:.2g} MAC/s" in p.describe()


@pytest.mark.parametrize(("seconds", "text"), [(42, "42 s"), (600, "10 min"), (5400, "1.5 h"),
                                               (47 * 3600, "47.0 h"), (17_463_000, "202 days")])
def test_estimates_read_in_a_unit_a_person_uses(seconds: float, text: str) -> None:
    assert plan_module.format_seconds(seconds) == text


def test_the_code_version_ignores_docstrings_comments_and_layout_but_not_code(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    source = pkg / "loop.py"
    source.write_text('"""Train."""\n\ndef step(x):\n    """One step."""\n    return x * 2\n')
    before = plan_module.source_hash([pkg])
    source.write_text('"""Train, reworded."""\n# a comment\n\ndef step(x):\n    """One step, reworded."""\n\n'
                      '    return (x *\n            2)  # reformatted\n')
    assert plan_module.source_hash([pkg]) == before
    source.write_text('"""Train."""\n\ndef step(x):\n    """One step."""\n    return x * 3\n')
    assert plan_module.source_hash([pkg]) != before
    source.write_text('"""Train."""\n\ndef step(x):\n    return x * 2\n')  # a docstring removed: same code
    assert plan_module.source_hash([pkg]) == before
    (pkg / "other.py").write_text("")
    assert plan_module.source_hash([pkg]) != before  # a new module is new code
