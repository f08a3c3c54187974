"""Several series in one long-format file: loading, one global model, per-id forecasts, backtests."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, TINY, invoke
from forecast.config import DataConfig, TrainConfig
from forecast.data.load import load_panel
from forecast.errors import DataError
from forecast.evaluate import backtest


def long_format(path):
    """Airline passengers (1949-1960) and Nottingham temperatures (1920-1939) stacked, with an id."""
    air = pd.read_csv(SAMPLE / "airline-passengers.csv").rename(columns={"Passengers": "value"})
    temp = pd.read_csv(SAMPLE / "monthly-mean-temp.csv").rename(columns={"Temperature": "value"})
    frame = pd.concat([air.assign(series="air"), temp.assign(series="temp")])[["series", "Month", "value"]]
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def panel_file(tmp_path_factory):
    return long_format(tmp_path_factory.mktemp("panel") / "long.csv")


@pytest.fixture(scope="module")
def panel_bundle(panel_file, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("panel_model") / "model"
    result = invoke("train", panel_file, "--id-col", "series", "--lookback", "12", "--horizon", "6",
                    "--model-dir", model_dir, *TINY)
    assert result.exit_code == 0, result.stderr
    assert "of 2 series" in result.stdout
    return model_dir


def test_each_series_is_validated_and_scaled_on_its_own(panel_file, panel_bundle):
    panel = load_panel(DataConfig(path=str(panel_file), id_col="series"))
    assert list(panel.series) == ["air", "temp"]
    assert len(panel.series["air"].frame) == 144 and len(panel.series["temp"].frame) == 240
    scalers = json.loads((panel_bundle / "current" / "scaler.json").read_text())["series"]
    assert scalers["air"]["data_min_"] == [104.0]  # airline's own training minimum
    assert scalers["temp"]["data_min_"][0] < 40  # Nottingham in °F, a different scale
    meta = json.loads((panel_bundle / "current" / "metadata.json").read_text())
    assert meta["id_col"] == "series" and meta["series"]["temp"]["last_timestamp"] == "1939-12-01"


def test_predict_writes_an_id_column_for_every_series(panel_bundle):
    result = invoke("predict", "--model-dir", panel_bundle)
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["series", "timestamp", "forecast"]  # the input's id column name
    assert frame.groupby("series")["timestamp"].first().to_dict() == {"air": "1961-01-01", "temp": "1940-01-01"}
    assert len(frame) == 12
    # Each series in its own units: passengers in the hundreds, temperatures in °F.
    air, temp = frame[frame["series"] == "air"]["forecast"], frame[frame["series"] == "temp"]["forecast"]
    assert air.mean() > 3 * temp.mean()


def test_predict_one_id_with_intervals(panel_bundle):
    result = invoke("predict", "--model-dir", panel_bundle, "--id", "temp", "--level", "80", "--horizon", "3")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert frame["series"].tolist() == ["temp"] * 3
    assert (frame["lower_80"] < frame["forecast"]).all() and (frame["forecast"] < frame["upper_80"]).all()


def test_one_id_forecast_equals_its_rows_in_the_full_forecast(panel_bundle):
    full = pd.read_csv(io.StringIO(invoke("predict", "--model-dir", panel_bundle).stdout))
    one = pd.read_csv(io.StringIO(invoke("predict", "--model-dir", panel_bundle, "--id", "air").stdout))
    np.testing.assert_allclose(one["forecast"], full[full["series"] == "air"]["forecast"], rtol=1e-5)


def test_unknown_id_and_plot_of_many_series_are_refused(panel_bundle, tmp_path):
    result = invoke("predict", "--model-dir", panel_bundle, "--id", "sales")
    assert result.exit_code == 2 and "--id 'sales' is not a series of this model (it knows air, temp)" in result.stderr
    result = invoke("predict", "--model-dir", panel_bundle, "--plot", tmp_path / "p.png")
    assert result.exit_code == 2 and "Pick one with --id" in result.stderr


def test_a_bad_series_is_named(tmp_path):
    path = long_format(tmp_path / "long.csv")
    text = path.read_text().replace("temp,1925-03,", "temp,1925-03,x")
    path.write_text(text)
    with pytest.raises(DataError, match=r"series 'temp': column 'value' has a non-numeric value"):
        load_panel(DataConfig(path=str(path), id_col="series"))


def test_series_at_different_frequencies_are_refused(tmp_path):
    path = tmp_path / "mixed.csv"
    days = pd.date_range("2020-01-01", periods=10).strftime("%Y-%m-%d")
    months = pd.date_range("2020-01-01", periods=10, freq="MS").strftime("%Y-%m-%d")
    pd.DataFrame({"id": ["d"] * 10 + ["m"] * 10, "date": [*days, *months], "v": range(20)}).to_csv(path, index=False)
    with pytest.raises(DataError, match="series 'd' is daily but 'm' is monthly \\(month starts\\); one model needs one frequency"):
        load_panel(DataConfig(path=str(path), id_col="id"))


def test_missing_id_column_is_named(panel_file):
    with pytest.raises(DataError, match="id column 'store' is not in the data"):
        load_panel(DataConfig(path=str(panel_file), id_col="store"))


def test_backtest_scores_each_series_and_averages_them(panel_file):
    panel = load_panel(DataConfig(path=str(panel_file), id_col="series"))
    result = backtest(panel, TrainConfig(lookback=12, horizon=6, layers=1, units=4, epochs=1), folds=2, levels=(80,))
    per_series = result.series_scores()
    assert set(per_series) == {"air", "temp"}
    for measure in ("mae", "mase", "smape"):
        expected = np.mean([per_series[k]["seasonal_naive"][measure] for k in ("air", "temp")])
        assert result.scores()["seasonal_naive"][measure] == pytest.approx(expected)
    # Each series' origins count back from its own end.
    origins = {(f.series_id, f.number): f.timestamps[0] for f in result.folds}
    assert origins[("air", 2)] == "1960-07-01" and origins[("temp", 2)] == "1939-07-01"
    assert result.training()["epochs_run"] == 1
