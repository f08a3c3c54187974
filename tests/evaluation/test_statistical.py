import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from forecast.evaluation.baselines import forecast_baseline
from forecast.evaluation.metrics import mape
from forecast.evaluation.statistical import STATISTICAL, forecast_statistical


def passengers() -> np.ndarray:
    return pd.read_csv(SAMPLE / "airline-passengers.csv")["Passengers"].to_numpy(dtype=float)


@pytest.mark.parametrize("name", STATISTICAL)
def test_statistical_models_beat_seasonal_naive_on_the_airline_holdout(name):
    # The last 36 months held out (../shared/docs/benchmarks.md): both models track the growing
    # seasonal swing that seasonal naive (MAPE 13.2 %) lags behind.
    values = passengers()
    forecast = forecast_statistical(name, values[:108], 36, 12)
    assert forecast.shape == (36,) and np.all(np.isfinite(forecast))
    assert mape(values[108:], forecast) < mape(values[108:], forecast_baseline("seasonal_naive", values[:108], 36, 12))


@pytest.mark.parametrize("name", STATISTICAL)
def test_a_history_too_short_to_fit_gives_nan_not_an_error(name):
    assert np.isnan(forecast_statistical(name, np.array([3.0, 4.0]), 5, 12)).all()


@pytest.mark.parametrize("name", STATISTICAL)
def test_a_constant_history_forecasts_the_constant(name):
    np.testing.assert_allclose(forecast_statistical(name, np.full(40, 7.0), 4, 12), 7.0)


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown statistical model 'arima'"):
        forecast_statistical("arima", passengers(), 3, 12)
