"""Refitting a tuned kernel's tile sizes to a neighbour's loop extents."""

from __future__ import annotations

import math

import pytest

from devbench.tuning.transfer import refit_tiles


@pytest.mark.parametrize(("extent", "decision", "expected"), [
    (16, [1, 2, 2, 4], [1, 2, 2, 4]),   # same extent: the tuned tiling as it was
    (8, [1, 2, 2, 4], [1, 1, 2, 4]),    # narrower: the inner (vector) factors survive
    (32, [1, 2, 2, 4], [2, 2, 2, 4]),   # wider: the outer loop takes the rest
    (12, [1, 1, 1, 16], [3, 1, 1, 4]),  # an inner factor that no longer divides shrinks to what does
    (7, [2, 8], [7, 1]),                # a prime extent: nothing inner fits
])
def test_refit_tiles(extent: int, decision: list[int], expected: list[int]) -> None:
    new = refit_tiles(extent, decision)
    assert new == expected
    assert math.prod(new) == extent
