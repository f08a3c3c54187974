import numpy as np
import pytest

from forecast.errors import DataError
from forecast.evaluation.metrics import mae, mape, mase, mase_scale, rmse, smape


def test_exact_values_on_a_small_case():
    actual, forecast = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 1.0])
    assert mae(actual, forecast) == pytest.approx(4 / 3)
    assert rmse(actual, forecast) == pytest.approx(np.sqrt(10 / 3))
    assert smape(actual, forecast) == pytest.approx(200 / 3 * (1 / 3 + 0 + 3 / 5))
    assert mape(actual, forecast) == pytest.approx(100 / 3 * (1 + 0 + 0.75))


def test_mape_is_undefined_with_a_zero_actual_and_smape_treats_zero_zero_as_exact():
    assert mape([0.0, 1.0], [0.0, 1.0]) is None
    assert smape([0.0, 1.0], [0.0, 1.0]) == 0


def test_mase_scale_is_the_in_sample_seasonal_naive_error():
    history = np.array([1.0, 5.0, 2.0, 6.0, 4.0])
    assert mase_scale(history, 2) == pytest.approx((1 + 1 + 2) / 3)
    assert mase([3.0], [4.0], scale=0.5) == pytest.approx(2.0)


def test_mase_scale_refuses_short_or_exactly_periodic_history():
    with pytest.raises(DataError, match="more than one season"):
        mase_scale(np.arange(12.0), 12)
    with pytest.raises(DataError, match="repeats exactly every 2 steps"):
        mase_scale(np.array([1.0, 2.0, 1.0, 2.0]), 2)
