"""AutoETS and AutoTheta as backtest competitors: the same numbers statsforecast gives."""

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from forecast.evaluation.statistical import STATISTICAL, forecast_statistical

statsforecast = pytest.importorskip("statsforecast.models")
AIR = pd.read_csv(SAMPLE / "airline-passengers.csv")["Passengers"].to_numpy(float)


@pytest.mark.parametrize("name, model", [("auto_ets", "AutoETS"), ("auto_theta", "AutoTheta")])
def test_the_forecast_is_statsforecasts_own(name, model):
    expected = getattr(statsforecast, model)(season_length=12).forecast(AIR[:-12], h=12)["mean"]
    np.testing.assert_allclose(forecast_statistical(name, AIR[:-12], 12, 12), expected)


def test_a_history_shorter_than_two_seasons_is_fitted_without_one():
    short = AIR[:20]
    expected = statsforecast.AutoETS(season_length=1).forecast(short, h=6)["mean"]
    np.testing.assert_allclose(forecast_statistical("auto_ets", short, 6, 12), expected)


def test_unknown_names_are_a_programming_error():
    assert STATISTICAL == ("auto_ets", "auto_theta")
    with pytest.raises(ValueError, match="unknown statistical model 'arima'"):
        forecast_statistical("arima", AIR, 3, 12)
