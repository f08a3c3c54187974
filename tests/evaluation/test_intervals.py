import numpy as np
import pytest
from scipy import stats

from forecast.errors import ConfigError
from forecast.evaluation.intervals import Calibration, calibrate, coverage, interval_bounds


def test_half_widths_are_the_conformal_order_statistics():
    # 9 forecasts, 2 steps: residuals 1..9 at step 1 and 10..90 at step 2.
    actual = np.zeros((9, 2))
    forecast = -np.stack([np.arange(1, 10), 10 * np.arange(1, 10)], axis=1).astype(float)
    table = calibrate(actual, forecast)
    assert table.residuals == [9, 9]
    assert table.half_widths["80"] == [8.0, 80.0]  # k = ceil(10 * 0.8) = 8
    assert table.half_widths["50"] == [5.0, 50.0]  # k = 5
    assert table.half_widths["90"] == [9.0, 90.0]  # k = 9
    assert table.basis(90, 1) == "split-conformal"


def test_too_few_residuals_for_a_level_give_a_student_t_width():
    residuals = np.arange(1, 10, dtype=float)  # k = ceil(10 * 0.95) = 10 > 9: no conformal width
    table = calibrate(np.zeros((9, 1)), -residuals[:, None])
    expected = stats.t.ppf(0.975, df=9) * np.sqrt(np.mean(residuals**2))
    assert table.half_widths["95"][0] == pytest.approx(expected)
    assert table.basis(95, 1) == "Student t"
    assert "Student t at step 1 (9 residuals)" in table.describe(95, 1)


def test_widths_never_shrink_as_the_level_rises():
    # Heavy-tailed residuals: the conformal 90% width is far above a t width from their RMS would be.
    residuals = np.array([0.1] * 9 + [50.0])
    table = calibrate(np.zeros((10, 1)), residuals[:, None])
    widths = [table.half_widths[str(level)][0] for level in range(1, 100)]
    assert widths == sorted(widths)


def test_late_origins_count_only_the_steps_the_data_reaches():
    actual = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, np.nan], [1.0, np.nan, np.nan]])
    table = calibrate(actual, np.zeros((3, 3)))
    assert table.residuals == [3, 2, 1]


def test_bounds_and_coverage():
    table = calibrate(np.zeros((9, 2)), -np.stack([np.arange(1, 10), np.arange(1, 10)], axis=1).astype(float))
    lower, upper = interval_bounds(np.array([100.0, 200.0]), table, 80)
    np.testing.assert_array_equal(lower, [92, 192])
    np.testing.assert_array_equal(upper, [108, 208])
    assert coverage(np.array([100.0, 250.0]), lower, upper) == 0.5


def test_steps_past_the_calibrated_ones_grow_by_the_square_root_of_the_step():
    table = calibrate(np.zeros((30, 2)), np.ones((30, 2)))
    widths = table.widths(80, 8)
    np.testing.assert_allclose(widths, [1, 1, *np.sqrt(np.arange(3, 9) / 2)])
    assert table.basis(80, 3) == "extrapolated"
    assert table.describe(80, 8) == "split-conformal at steps 1-2 (30 residuals), steps 3-8 extrapolated from step 2 by √(step / 2)"


@pytest.mark.parametrize("level", [0, 100, 150, -5])
def test_levels_outside_1_to_99_are_refused(level):
    table = calibrate(np.zeros((30, 1)), np.ones((30, 1)))
    with pytest.raises(ConfigError, match="--level must be a whole percentage from 1 to 99"):
        interval_bounds(np.array([1.0]), table, level)


def test_a_calibration_stored_before_per_step_counts_still_reads_and_refuses_what_it_lacks():
    stored = {"method": "split-conformal, absolute residuals per step", "windows": 9,
              "half_widths": {**{str(level): [1.0, 2.0] for level in range(1, 91)}, **{str(level): None for level in range(91, 100)}}}
    table = Calibration.from_dict(stored)
    assert table.residuals == [9, 9]
    np.testing.assert_array_equal(table.widths(80, 2), [1.0, 2.0])
    with pytest.raises(ConfigError, match="a 95% interval needs at least 19 validation windows; this version was calibrated on 9"):
        table.widths(95, 2)


def test_calibrated_intervals_cover_new_draws_at_their_level():
    rng = np.random.default_rng(0)
    table = calibrate(rng.normal(size=(400, 3)), np.zeros((400, 3)))
    fresh = rng.normal(size=(4000, 3))
    for level in (80, 95):
        lower, upper = interval_bounds(np.zeros(3), table, level)
        assert abs(coverage(fresh, lower, upper) - level / 100) < 0.03


def test_student_t_intervals_from_few_normal_residuals_cover_about_their_level():
    # 15 residuals per calibration (a short monthly series), many calibrations: the t width's
    # coverage averages near the level, where the raw 15-residual maximum would fall short.
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(400):
        table = calibrate(rng.normal(size=(15, 1)), np.zeros((15, 1)))
        lower, upper = interval_bounds(np.zeros(1), table, 95)
        covered.append(coverage(rng.normal(size=200), lower, upper))
    assert table.basis(95, 1) == "Student t"
    assert abs(np.mean(covered) - 0.95) < 0.01
