"""The fit loop's parts: window batches, the patience and batch-size heuristics."""

import keras
import numpy as np
import pytest

from forecast.data.windowing import input_windows, target_windows
from forecast.model.fit import _window_batches, choose_batch_size, effective_patience


def test_each_epoch_draws_a_fresh_sample_of_windows():
    series = np.arange(40.0)
    inputs, targets = input_windows(series[:, None], 5), target_windows(series, 5, 2)
    batches = _window_batches(keras)(inputs, targets, np.arange(30), batch_size=4, shuffle_seed=0, draw=10)
    assert len(batches) == 3 and [len(batches[i][0]) for i in range(3)] == [4, 4, 2]
    first = np.concatenate([batches[i][0][:, 0, 0] for i in range(3)])
    batches.on_epoch_end()
    second = np.concatenate([batches[i][0][:, 0, 0] for i in range(3)])
    assert len(set(first)) == 10 and set(first) != set(second)  # ten distinct windows, a new ten next epoch
    x, y = batches[0]
    np.testing.assert_array_equal(y[:, 0], x[:, -1, 0] + 1)  # each target follows its own window


@pytest.mark.parametrize("patience, steps, expected", [(10, 3, 100), (10, 91, 10), (10, 30, 10), (10, 29, 11), (0, 3, 0), (50, 3, 100)])
def test_patience_covers_enough_gradient_steps(patience, steps, expected):
    assert effective_patience(patience, steps) == expected


@pytest.mark.parametrize(
    "windows,device,expected",
    [(76, "cpu", 32), (2047, "cpu", 32), (2048, "cpu", 64), (13_879, "cpu", 256), (10**6, "cpu", 256),
     (13_879, "gpu", 256), (10**6, "gpu", 1024), (10**6, "tpu", 1024)],
)
def test_default_batch_grows_with_the_training_windows_up_to_the_device_ceiling(windows, device, expected):
    assert choose_batch_size(windows, device) == expected
