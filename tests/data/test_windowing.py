import numpy as np
import pytest

from forecast.errors import DataError
from forecast.data.windowing import input_windows, plan_split, target_windows


def test_input_windows_are_exact_and_share_memory():
    values = np.arange(20.0).reshape(10, 2)  # (rows, features)
    windows = input_windows(values, 3)
    assert windows.shape == (8, 3, 2)
    np.testing.assert_array_equal(windows[0], values[0:3])
    np.testing.assert_array_equal(windows[7], values[7:10])
    # A view on the series: no copy per window.
    assert np.shares_memory(windows, values)
    assert windows.base is not None and not windows.flags.owndata


def test_target_windows_follow_each_input_window():
    target = np.arange(10.0)
    targets = target_windows(target, lookback=3, horizon=2)
    assert targets.shape == (6, 2)
    np.testing.assert_array_equal(targets[0], [3, 4])
    np.testing.assert_array_equal(targets[-1], [8, 9])
    assert np.shares_memory(targets, target)


def test_split_matches_the_worked_example():
    split = plan_split(10, lookback=3, horizon=2, val_fraction=0.34)
    assert (split.n_windows, split.val_start, split.n_val) == (6, 3, 3)
    assert split.boundary == 6
    assert split.n_train == 2  # window 2 would forecast row 6, a validation target


@pytest.mark.parametrize("n_rows,lookback,horizon,fraction", [(144, 24, 12, 0.2), (500, 30, 7, 0.1), (60, 5, 10, 0.5)])
def test_no_training_target_crosses_the_boundary(n_rows, lookback, horizon, fraction):
    split = plan_split(n_rows, lookback, horizon, fraction)
    rows = np.arange(n_rows, dtype=float)
    targets = target_windows(rows, lookback, horizon)
    assert targets[: split.n_train].max() < split.boundary
    assert targets[split.n_train].max() >= split.boundary  # the first dropped window would cross
    assert targets[split.val_start :].min() == split.boundary
    assert split.n_val == int(np.ceil(fraction * split.n_windows))


def test_too_short_series_names_the_rows_needed():
    with pytest.raises(DataError, match=r"needs at least 50 rows; the series has 40. Use a smaller --lookback"):
        plan_split(40, lookback=24, horizon=12, val_fraction=0.2)
    plan_split(50, lookback=24, horizon=12, val_fraction=0.2)  # and 50 really is enough
