"""The report's evidence from hand-made rows: which rows are paired, and the verdicts they must get."""

from __future__ import annotations

from devbench.experiment.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from devbench.experiment.summary import judge, verdicts
from devbench.experiment.tables import LatencyRow, NetworkRow, joined


def net(arm: str, seed: int, error: float, budget: str = "p100k", network: str = "resnet20") -> NetworkRow:
    return NetworkRow(network=network, family="resnet", seed=seed, arm=arm, budget="" if arm == "base" else budget,
                      params=100_000, macs=10**7, test_error=error, test_images=10_000, path="x", stage="s")


def timing(arm: str, ratio: float | None, low: float | None, high: float | None, emulated: bool = False,
           unstable: str = "", target: str = "pi4") -> LatencyRow:
    return LatencyRow(network="resnet20", family="resnet", budget="p100k", arm=arm, model=arm, target=target,
                      backend="tvm", emulated=emulated, params=100_000, median_ms=1.0, ci95_low_ms=0.9,
                      ci95_high_ms=1.1, unstable=unstable, ratio=ratio, ratio_ci_low=low, ratio_ci_high=high,
                      verdict="faster", rounds=10)


def test_reduced_lower_error_in_every_seed_is_supported_and_scratch_far_worse_is_not() -> None:
    rows = [net("base", s, 0.10) for s in (0, 1, 2)]
    rows += [net("pruned", s, e) for s, e in ((0, 0.20), (1, 0.22), (2, 0.21))]
    # reduced: 2 points better, +-0.1 point of noise: t interval (3 seeds) well above 0
    rows += [net("reduced_width", s, e) for s, e in ((0, 0.181), (1, 0.199), (2, 0.190))]
    # scratch: 5 points worse in every seed, far beyond the 1-point margin
    rows += [net("scratch", s, e) for s, e in ((0, 0.25), (1, 0.27), (2, 0.26))]
    evidence = judge(rows, [])
    [reduced] = evidence["reduced_beats_pruned"]
    assert reduced.verdict == SUPPORTED and reduced.interval.n == 3
    assert abs(reduced.interval.mean - 0.02) < 1e-9
    [scratch] = evidence["scratch_competitive"]
    assert scratch.verdict == NOT_SUPPORTED and abs(scratch.interval.mean - 0.05) < 1e-9
    assert verdicts(evidence)["reduced_faster"][0] == INCONCLUSIVE  # nothing timed


def test_only_seeds_both_arms_have_are_paired() -> None:
    rows = [net("pruned", 0, 0.20), net("pruned", 1, 0.21), net("reduced_depth", 1, 0.19)]
    [e] = judge(rows, [])["reduced_beats_pruned"]
    assert e.interval.n == 1 and e.verdict == INCONCLUSIVE  # one shared seed gives no interval
    assert abs(e.interval.mean - 0.02) < 1e-9


def test_a_family_member_that_is_the_pruned_architecture_is_one_comparison_not_two() -> None:
    rows = [net("pruned", s, e) for s, e in ((0, 0.20), (1, 0.22), (2, 0.21))]
    rows += [net(arm, s, e) for arm in ("scratch", "family") for s, e in ((0, 0.201), (1, 0.219), (2, 0.212))]
    [e] = judge(rows, [])["scratch_competitive"]
    assert "also the family member" in e.subject and e.interval.n == 3
    # a family member that is another architecture (other errors) is a comparison of its own
    rows[6:] = [net("family", s, e) for s, e in ((0, 0.205), (1, 0.215), (2, 0.22))]
    assert [e.subject.split(" (")[0] for e in judge(rows, [])["scratch_competitive"]] == [
        "resnet20 p100k: family", "resnet20 p100k: scratch"]


def test_latency_real_boards_count_emulated_and_unstable_do_not_decide() -> None:
    rows = [net("pruned", 0, 0.2), net("reduced_width", 0, 0.19)]
    faster = timing("reduced_width", 0.8, 0.75, 0.85)
    emulated_slower = timing("reduced_width", 1.3, 1.2, 1.4, emulated=True, target="emulated-pi")
    evidence = judge(rows, [faster, emulated_slower, timing("scratch", 0.5, 0.4, 0.6)])
    claim = evidence["reduced_faster"]
    assert [e.verdict for e in claim] == [SUPPORTED, NOT_SUPPORTED] and [e.counted for e in claim] == [True, False]
    assert verdicts(evidence)["reduced_faster"][0] == SUPPORTED  # the emulated board is not counted
    shaky = timing("reduced_width", 0.8, 0.75, 0.85, unstable="rounds disagree")
    assert verdicts(judge(rows, [shaky]))["reduced_faster"][0] == INCONCLUSIVE


def test_results_csv_rows_carry_the_first_seeds_timings_only() -> None:
    rows = [net("pruned", 0, 0.2), net("pruned", 1, 0.21)]
    t = timing("pruned", None, None, None)
    out = joined(rows, [t])
    assert out[0]["pi4/tvm median_ms"] == 1.0 and out[1]["pi4/tvm median_ms"] is None
