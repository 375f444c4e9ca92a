"""Where a network came from, read from its spec's ``meta``: the arm of the paper's experiment.

Reports and plots tell pruned, reduced and scratch networks apart by this, never by their names
(a user's ``my_small_net.json`` may be any of them).
"""

from __future__ import annotations

from devbench.models.spec import ArchSpec

ARMS = ("base", "pruned", "scratch", "reduced", "family")


def arm(spec: ArchSpec) -> str:
    """``meta["arm"]`` when the spec says; else what ``prune``, ``reduce`` and ``family`` leave in
    ``meta``: a pruned architecture whose weights were trained from scratch (``trained`` has
    ``epochs``, not the pruning ``method``) is ``scratch``."""
    meta = spec.meta
    if meta.get("arm") in ARMS:
        return str(meta["arm"])
    if "family_of" in meta:
        return "family"
    if "reduced_from" in meta:
        return "reduced"
    if "method" in meta:
        trained = meta.get("trained") or {}
        return "scratch" if "epochs" in trained and "method" not in trained else "pruned"
    return "base"


def trained_error(spec: ArchSpec) -> float | None:
    """The test error the spec's training recorded, if any."""
    value = (spec.meta.get("trained") or {}).get("test_error")
    return float(value) if isinstance(value, int | float) else None
