"""Replace the shipped ``pruned_*`` / ``reduced_*`` / ``scratch_*`` networks with an experiment's.

    python scripts/ship_networks.py docs/results/fashion_mnist/results.json OUT_DIR [--to models/specs]

For each base network of the experiment, the first seed's pruned network, its bottleneck-reduced
network and its pruned architecture trained from scratch are registered (``devbench register``) as
``pruned_X``, ``reduced_X`` and ``scratch_X`` (X: resnet, wrn, densenet), and each spec's ``meta``
gets ``experiment``: the recipe, the test set size and the mean and sample standard deviation of
the test error over every seed of that arm, so the registry, the README and the report agree.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

from devbench.models.spec import ArchSpec
from devbench.training.register import register_network

SHORT = {"resnet": "resnet", "wrn": "wrn", "densenet_bc": "densenet"}
ARMS = {"pruned": "pruned", "reduced_bottleneck": "reduced", "scratch": "scratch"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the experiment's results.json")
    parser.add_argument("out", type=Path, help="the experiment's folder (its stages/ hold the networks)")
    parser.add_argument("--to", type=Path, default=Path("models/specs"))
    args = parser.parse_args()
    doc = json.loads(args.results.read_text())
    recipe = json.loads((args.out / "recipe.json").read_text())["name"]
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for row in doc["networks"]:
        if row["arm"] in ARMS:
            groups[row["family"], row["arm"], row["budget"]].append(row)
    shipped: set[str] = set()
    for (family, arm, _), rows in sorted(groups.items()):
        name = f"{ARMS[arm]}_{SHORT[family]}"
        if name in shipped:  # one network per name: the first budget's
            continue
        shipped.add(name)
        first = min(rows, key=lambda r: r["seed"])
        errors = [r["test_error"] for r in rows]
        spec_path, _ = register_network(args.out / first["path"], name, to=args.to, force=True)
        spec = ArchSpec.load(spec_path)
        meta = {**spec.meta, "source": f"{recipe}: {first['stage']} (seed {first['seed']})", "experiment": {
            "recipe": recipe, "budget": first["budget"], "test_images": first["test_images"], "seeds": len(rows),
            "test_error_mean": round(statistics.fmean(errors), 5),
            "test_error_std": round(statistics.stdev(errors), 5) if len(errors) > 1 else None}}
        ArchSpec.from_dict({**spec.to_dict(), "meta": meta}).save(spec_path)
        print(f"{spec_path}: {first['params']} params, test error {statistics.fmean(errors):.4f} "
              f"(mean of {len(rows)} seeds)")


if __name__ == "__main__":
    main()
