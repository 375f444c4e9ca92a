"""``devbench experiment``'s library: a TOML recipe, the plan of stages it implies, and the claims.

The paper's experiment (train a base network, prune it, reduce it to each pruned size, retrain the
pruned architecture and its family from scratch, time them on boards) is described by a recipe
(:mod:`.recipe`), expanded into content-keyed stages with time estimates (:mod:`.plan`), and judged
claim by claim from the numbers the stages produce (:mod:`.claims`).
"""

from devbench.experiment.claims import (
    CLAIMS,
    Evidence,
    Interval,
    LatencyRatio,
    judge_latency,
    judge_reduced,
    judge_scratch,
    overall,
    t_interval,
)
from devbench.experiment.plan import Plan, Stage, make_plan
from devbench.experiment.recipe import RECIPES_DIR, Recipe, load_recipe, shipped_recipes

__all__ = [
    "CLAIMS", "RECIPES_DIR", "Evidence", "Interval", "LatencyRatio", "Plan", "Recipe", "Stage", "judge_latency",
    "judge_reduced", "judge_scratch", "load_recipe", "make_plan", "overall", "shipped_recipes", "t_interval",
]
