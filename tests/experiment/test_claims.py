"""The report's statistics on hand-made numbers whose right answer is known."""

import pytest

from devbench.compare import Comparison
from devbench.errors import DevbenchError
from devbench.experiment.claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    LatencyRatio,
    judge_latency,
    judge_reduced,
    judge_scratch,
    overall,
    paired_differences,
    t_interval,
)


def by_seed(*errors: float) -> dict[int, float]:
    return dict(enumerate(errors))


def test_t_interval_of_a_known_sample():
    iv = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, t(0.975, 2) = 4.3027
    assert iv.mean == 2.0 and iv.n == 3
    assert iv.low == pytest.approx(2 - 4.302653 / 3**0.5) and iv.high == pytest.approx(2 + 4.302653 / 3**0.5)
    single = t_interval([0.3])
    assert (single.mean, single.low, single.high, single.n) == (0.3, None, None, 1)
    assert t_interval([0.5, 0.5]).low == t_interval([0.5, 0.5]).high == 0.5
    with pytest.raises(DevbenchError, match="finite"):
        t_interval([1.0, float("nan")])


def test_differences_are_paired_by_seed():
    assert paired_differences({2: 0.5, 0: 0.25}, {0: 0.125, 2: 0.25}) == [0.125, 0.25]
    with pytest.raises(DevbenchError, match="same seeds"):
        paired_differences({0: 0.2, 1: 0.3}, {0: 0.2})


def test_reduced_beats_pruned_supported():
    e = judge_reduced(by_seed(0.221, 0.232, 0.226), by_seed(0.201, 0.207, 0.208), "118k params, bottleneck")
    assert e.verdict == SUPPORTED and e.interval.low > 0
    assert "lower by 2.10 points" in e.reason and "3 seeds" in e.reason
    row = e.as_dict()  # what results.json will hold
    assert row["verdict"] == SUPPORTED and row["n"] == 3 and row["ci_low"] == e.interval.low and row["counted"]


def test_data_that_contradict_the_paper_say_so():
    e = judge_reduced(by_seed(0.201, 0.207, 0.208), by_seed(0.221, 0.232, 0.226), "118k params, bottleneck")
    assert e.verdict == NOT_SUPPORTED and e.interval.high < 0 and "contradict" in e.reason


def test_an_interval_containing_zero_is_inconclusive():
    e = judge_reduced(by_seed(0.22, 0.21, 0.215), by_seed(0.21, 0.222, 0.211), "118k params, width")
    assert e.verdict == INCONCLUSIVE and e.interval.low < 0 < e.interval.high
    assert "contains 0" in e.reason


def test_one_seed_is_never_evidence():
    e = judge_reduced({0: 0.30}, {0: 0.10}, "118k params, width")
    assert e.verdict == INCONCLUSIVE and "one seed" in e.reason and e.interval.low is None


@pytest.mark.parametrize("scratch,verdict,words", [
    ((0.222, 0.227, 0.226), SUPPORTED, "within the 1 point margin"),       # differences +0.2, -0.3, +0.1
    ((0.190, 0.200, 0.195), SUPPORTED, "from scratch it is better, by 3.00"),  # better from scratch: competitive
    ((0.250, 0.265, 0.253), NOT_SUPPORTED, "more than the 1 point margin"),  # about 3 points worse
    ((0.220, 0.250, 0.235), INCONCLUSIVE, "contains the 1 point margin"),  # mean +1, too spread to tell
])
def test_scratch_is_competitive_within_a_margin(scratch, verdict, words):
    e = judge_scratch(by_seed(0.220, 0.230, 0.225), by_seed(*scratch), "118k params, scratch")
    assert e.verdict == verdict and words in e.reason


def ratio(target, backend, r, low, high, emulated=False, unstable=""):
    return LatencyRatio(target, backend, r, low, high, emulated, unstable, rounds=10)


def test_reduced_faster_on_every_real_board_with_the_emulated_one_reported_not_counted():
    evidence = judge_latency([ratio("local", "tvm", 0.70, 0.65, 0.75), ratio("local", "onnxruntime", 0.8, 0.76, 0.84),
                              ratio("emulated-pi", "tvm", 1.3, 1.2, 1.4, emulated=True)], "118k")
    assert [e.verdict for e in evidence] == [SUPPORTED, SUPPORTED, NOT_SUPPORTED]
    assert evidence[2].counted is False and "emulated" in evidence[2].reason
    assert evidence[0].subject == "118k: local / tvm"
    assert overall(evidence) == (SUPPORTED, "all 2 comparisons support it")


def test_one_slower_board_contradicts_and_an_interval_containing_one_is_inconclusive():
    slower = judge_latency([ratio("local", "tvm", 0.7, 0.65, 0.75), ratio("pi4", "tvm", 1.08, 1.05, 1.10)])
    assert overall(slower) == (NOT_SUPPORTED, "contradicted at pi4 / tvm")
    unsure = judge_latency([ratio("local", "tvm", 0.7, 0.65, 0.75), ratio("pi4", "tvm", 0.97, 0.9, 1.02)])
    assert unsure[1].verdict == INCONCLUSIVE and "contains 1" in unsure[1].reason
    assert overall(unsure)[0] == INCONCLUSIVE and "1 of 2" in overall(unsure)[1]


def test_untrustworthy_or_interval_free_latencies_are_inconclusive():
    shaky = judge_latency([ratio("local", "tvm", 0.5, 0.4, 0.6, unstable="rounds disagree (CV 9%)"),
                           ratio("local", "torch", 0.5, None, None)])
    assert [e.verdict for e in shaky] == [INCONCLUSIVE, INCONCLUSIVE]
    assert "rounds disagree" in shaky[0].reason and "too few rounds" in shaky[1].reason
    only_emulated = judge_latency([ratio("emulated-pi", "tvm", 0.5, 0.4, 0.6, emulated=True)])
    assert overall(only_emulated)[0] == INCONCLUSIVE


def test_a_comparison_row_becomes_a_latency_ratio():
    c = Comparison(model="reduced", baseline="pruned", target="local", backend="tvm", ratio=None, ratio_ci_low=None,
                   ratio_ci_high=None, rounds=0, verdict="error", median_ms=None, baseline_median_ms=None,
                   params=None, macs=None, test_error=None, baseline_test_error=None, emulated=False,
                   why="reduced: compile failed")
    r = LatencyRatio.from_comparison(c)
    assert r.unstable == "reduced: compile failed" and judge_latency([r])[0].verdict == INCONCLUSIVE


def test_overall_across_budgets():
    yes = judge_reduced(by_seed(0.22, 0.23, 0.225), by_seed(0.20, 0.21, 0.206), "p160k")
    no = judge_reduced(by_seed(0.20, 0.21, 0.206), by_seed(0.22, 0.23, 0.225), "p118k")
    assert overall([yes, yes]) == (SUPPORTED, "all 2 comparisons support it")
    assert overall([yes, no]) == (NOT_SUPPORTED, "contradicted at p118k")
    assert overall([])[0] == INCONCLUSIVE
