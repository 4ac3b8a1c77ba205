import numpy as np
import pytest

from research.learning_curve import crossing


def test_learning_curve_crossing_follows_the_log_line():
    points = [{"faces": n, "incorrect": 0.1 * np.log2(n)} for n in (16, 32, 64)]  # +0.1 per doubling
    assert crossing(points, "incorrect", 0.8) == pytest.approx(256)
    flat = [{"faces": n, "incorrect": 0.5} for n in (16, 32)]
    assert crossing(flat, "incorrect", 0.8) == float("inf")
