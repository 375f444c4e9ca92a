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
