import numpy as np
import pytest

from forecast.errors import ConfigError
from forecast.evaluation.intervals import calibrate, coverage, interval_bounds


def test_half_widths_are_the_conformal_order_statistics():
    # 9 windows, 2 steps: residuals 1..9 at step 1 and 10..90 at step 2.
    actual = np.zeros((9, 2))
    forecast = -np.stack([np.arange(1, 10), 10 * np.arange(1, 10)], axis=1).astype(float)
    table = calibrate(actual, forecast)
    assert table.windows == 9
    assert table.half_widths["80"] == [8.0, 80.0]  # k = ceil(10 * 0.8) = 8
    assert table.half_widths["50"] == [5.0, 50.0]  # k = 5
    assert table.half_widths["90"] == [9.0, 90.0]  # k = 9
    assert table.half_widths["95"] is None  # k = 10 > 9 windows


def test_bounds_and_coverage():
    table = calibrate(np.zeros((9, 2)), -np.stack([np.arange(1, 10), np.arange(1, 10)], axis=1).astype(float))
    lower, upper = interval_bounds(np.array([100.0, 200.0]), table, 80)
    np.testing.assert_array_equal(lower, [92, 192])
    np.testing.assert_array_equal(upper, [108, 208])
    assert coverage(np.array([100.0, 250.0]), lower, upper) == 0.5


def test_too_few_windows_for_a_high_level_says_how_many():
    table = calibrate(np.zeros((9, 1)), np.ones((9, 1)))
    with pytest.raises(ConfigError, match="a 95% interval needs at least 19 validation windows; this model was calibrated on 9"):
        interval_bounds(np.array([1.0]), table, 95)


@pytest.mark.parametrize("level", [0, 100, 150, -5])
def test_levels_outside_1_to_99_are_refused(level):
    table = calibrate(np.zeros((30, 1)), np.ones((30, 1)))
    with pytest.raises(ConfigError, match="--level must be a whole percentage from 1 to 99"):
        interval_bounds(np.array([1.0]), table, level)


def test_no_intervals_past_the_calibrated_horizon():
    table = calibrate(np.zeros((30, 2)), np.ones((30, 2)))
    with pytest.raises(ConfigError, match="calibrated for the trained horizon \\(2 steps\\), not 3"):
        interval_bounds(np.zeros(3), table, 80)


def test_calibrated_intervals_cover_new_draws_at_their_level():
    rng = np.random.default_rng(0)
    table = calibrate(rng.normal(size=(400, 3)), np.zeros((400, 3)))
    fresh = rng.normal(size=(4000, 3))
    for level in (80, 95):
        lower, upper = interval_bounds(np.zeros(3), table, level)
        assert abs(coverage(fresh, lower, upper) - level / 100) < 0.03
