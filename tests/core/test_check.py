import numpy as np

from devbench.check import compare_outputs


def test_equal_outputs_pass():
    x = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)
    r = compare_outputs(x, x + 1e-6)
    assert r.passed and r.top1_agreement == 1.0 and r.max_abs_err < 1e-5


def test_wrong_class_fails_even_within_tolerance_of_most_logits():
    ref = np.array([[0.0, 1.0, 0.5]], dtype=np.float32)
    out = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    r = compare_outputs(ref, out)
    assert not r.passed and r.top1_agreement == 0.0 and r.max_abs_err == 0.5


def test_shape_mismatch_and_nan_fail():
    assert not compare_outputs(np.zeros((1, 10)), np.zeros((1, 9))).passed
    assert not compare_outputs(np.zeros((1, 3)), np.array([[np.nan, 0, 0]])).passed


def test_tolerance_scales_with_large_logits_only():
    """Random-weight deep nets have logits near 1e5: their float32 rounding is not a wrong network."""
    big = np.array([[7e5, 1e5, -3e5]], dtype=np.float32)
    assert compare_outputs(big, big + np.float32(0.19)).passed  # 2.7e-7 relative: rounding
    assert not compare_outputs(big, big * np.float32(1.01)).passed  # 1% off: wrong
    small = np.array([[0.5, 0.1, -0.3]], dtype=np.float32)
    assert not compare_outputs(small, small + np.float32(2e-3)).passed  # absolute below 1
    assert not compare_outputs(big, big + np.float32(0.19), atol=0).passed
