"""Recipes: the shipped ones load by name; a mistake is one line naming file, line and field."""

from pathlib import Path

import pytest

from devbench.errors import DevbenchError
from devbench.experiment.recipe import RECIPES_DIR, load_recipe, shipped_recipes

MINIMAL = """\
name = "tiny"
seeds = [0, 1]

[training]
epochs = 2
lr = 0.05

[[network]]
base = "resnet8"
prunes = 20
save_every = 10
stages = [10, 20]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(text)
    return path


def test_three_recipes_are_shipped_and_load_by_name():
    assert {"smoke", "fashion_mnist", "cifar10_paper"} <= set(shipped_recipes())
    smoke = load_recipe("smoke")
    assert smoke.name == "smoke" and smoke.network[0].base == "resnet8"
    assert load_recipe(RECIPES_DIR / "smoke.toml") == smoke


def test_the_shipped_recipes_say_what_the_issue_asks():
    fm = load_recipe("fashion_mnist")
    assert len(fm.seeds) >= 3 and {n.base.split("_")[0] for n in fm.network} >= {"resnet20", "wrn", "densenet"}
    assert all(n.training.test_subset is None for n in fm.network)  # the full test set
    paper = load_recipe("cifar10_paper", data_dir="/data/cifar")
    assert paper.dataset.name == "cifar10" and paper.dataset.data_dir == "/data/cifar"
    assert {n.training.schedule for n in paper.network} == {"wrn", "densenet"}
    assert all(set(n.reduced) == {"depth", "width", "bottleneck"} for n in paper.network)


def test_defaults_and_the_network_overrides_merge(tmp_path):
    r = load_recipe(write(tmp_path, MINIMAL + "[network.training]\nepochs = 5\n"))
    net = r.network[0]
    assert r.dataset.name == "fashion_mnist" and r.pruning.method == "fisher" and r.latency.targets == []
    assert net.training.epochs == 5 and net.training.lr == 0.05  # own epochs, the recipe's lr
    assert net.reduced == ["bottleneck"] and net.scratch is True and net.family is False


def test_budgets_are_counts(tmp_path):
    text = MINIMAL.replace("stages = [10, 20]", 'budgets = ["60k", 40000]\nfamily = ["30k"]')
    net = load_recipe(write(tmp_path, text)).network[0]
    assert net.budgets == [60000, 40000] and net.family == [30000]


@pytest.mark.parametrize("change,expected", [
    (("seeds = [0, 1]", 'seeds = ["0"]'), r"r\.toml:2: seeds\[0\]: should be a valid integer"),
    (("epochs = 2", "epochs = 2.5"), r"r\.toml:5: training\.epochs: should be a valid integer"),
    (("lr = 0.05", "lr = 0.05\nepoch = 3"), r"r\.toml:7: unknown field training\.epoch"),
    (('base = "resnet8"', 'base = "resnet9"'), r"r\.toml:9: network\[0\]\.base: .*unknown model"),
    (("stages = [10, 20]", "stages = [15]"), r"r\.toml:8: network\[0\]: .*stage 15 is never saved"),
    (("stages = [10, 20]", 'budgets = ["lots"]'), r"r\.toml:12: network\[0\]\.budgets: bad count .lots."),
    (("stages = [10, 20]", ""), r"r\.toml:8: network\[0\]: .*either budgets .* or stages"),
    (("seeds = [0, 1]", "seeds = [1, 1]"), r"r\.toml:2: seeds: .*listed twice"),
    (("[training]", '[dataset]\nname = "mnist"\n\n[training]'), r"r\.toml:5: dataset\.name: .*unknown dataset"),
    (("[training]", '[latency]\nbackends = ["tensorrt"]\n\n[training]'), r"latency\.backends: .*unknown backend"),
])
def test_a_mistake_is_one_line_with_file_line_and_field(tmp_path, change, expected):
    with pytest.raises(DevbenchError, match=expected) as e:
        load_recipe(write(tmp_path, MINIMAL.replace(*change)))
    assert "\n" not in str(e.value)


def test_an_unknown_recipe_names_the_shipped_ones(tmp_path):
    with pytest.raises(DevbenchError, match="shipped: .*smoke"):
        load_recipe("no_such_recipe")
    with pytest.raises(DevbenchError, match="malformed TOML"):
        load_recipe(write(tmp_path, "name = "))
