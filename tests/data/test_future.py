import pandas as pd
import pytest

from forecast.config import DataConfig
from forecast.data.future import load_future
from forecast.errors import DataError


def test_future_values_are_picked_per_series_at_the_forecast_s_timestamps():
    config = DataConfig(path="x.csv", time_col="ds", id_col="store", target="y", future_features=("promo", "price"))
    future = pd.DataFrame({
        "store": ["a", "a", "b", "b", "a", "c"],
        "ds": ["2024-01-02", "2024-01-01", "2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01"],
        "promo": [1, 0, 0, 1, 1, 5], "price": ["2.5", "2.0", "3.0", "3.5", "9", "1"], "y": [None] * 6,
    })
    stamps = {key: pd.date_range("2024-01-01", periods=2, freq="D") for key in ("a", "b")}
    values = load_future(future, config, stamps)
    assert values["a"].tolist() == [[0.0, 2.0], [1.0, 2.5]]  # in the forecast's order, whatever the file's
    assert values["b"].tolist() == [[0.0, 3.0], [1.0, 3.5]]  # series c and a's third day are not needed
    with pytest.raises(DataError, match="--future-data for series 'b' has no row for 2024-01-03"):
        load_future(future, config, {"b": pd.date_range("2024-01-01", periods=3, freq="D")})
