import io
import json

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, recorded_aapl
from forecast.errors import ConfigError, DataError
from forecast.predict import predict
from forecast.data.windowing import plan_split


def test_dated_by_month_after_the_last_observation(monthly_bundle):
    frame = predict(str(monthly_bundle)).frame
    assert len(frame) == 12
    assert frame["timestamp"].tolist() == [f"1961-{m:02d}-01" for m in range(1, 13)]


def test_forecast_reproduces_training_preprocessing_exactly(monthly_bundle):
    # Rebuild the preprocessing by hand: MinMax over the training rows, the last 12 values, and
    # beside each the sine and cosine of its month (the last 12 rows are January to December);
    # and as the known inputs of the 12 steps forecast, their months' (January to December again).
    passengers = pd.read_csv(SAMPLE / "airline-passengers.csv")["Passengers"].to_numpy(dtype=float)
    split = plan_split(len(passengers), 12, 12, 0.2)
    low, high = passengers[: split.boundary].min(), passengers[: split.boundary].max()
    month = 2 * np.pi * np.arange(12) / 12
    window = np.stack([(passengers[-12:] - low) / (high - low), np.sin(month), np.cos(month)], axis=1)
    window = window.astype("float32").reshape(1, 12, 3)
    known = np.stack([np.sin(month), np.cos(month)], axis=1).astype("float32").reshape(1, 12, 2)
    model = keras.saving.load_model(monthly_bundle / "current" / "model.keras", safe_mode=True)
    expected = keras.ops.convert_to_numpy(model((window, known)))[0] * (high - low) + low
    np.testing.assert_allclose(predict(str(monthly_bundle)).frame["forecast"], expected, rtol=1e-5)


def test_shorter_horizon_slices_the_direct_output(monthly_bundle):
    full = predict(str(monthly_bundle)).frame
    short = predict(str(monthly_bundle), steps=5).frame
    assert short.equals(full.iloc[:5])


def test_longer_horizon_feeds_forecasts_back_and_says_so(monthly_bundle):
    notes = []
    long = predict(str(monthly_bundle), steps=24, log=notes.append).frame
    assert len(long) == 24 and long["timestamp"].iloc[-1] == "1962-12-01"
    assert long.iloc[:12].equals(predict(str(monthly_bundle)).frame)
    assert any("feeding forecasts back in 2 blocks" in note for note in notes)


def test_data_option_forecasts_from_the_end_of_that_data(monthly_bundle, tmp_path):
    same = predict(str(monthly_bundle), data_path=str(SAMPLE / "airline-passengers.csv")).frame
    assert same.equals(predict(str(monthly_bundle)).frame)
    earlier = pd.read_csv(SAMPLE / "airline-passengers.csv").iloc[:-24]
    path = tmp_path / "earlier.csv"
    earlier.to_csv(path, index=False)
    frame = predict(str(monthly_bundle), steps=3, data_path=str(path)).frame
    assert frame["timestamp"].tolist() == ["1959-01-01", "1959-02-01", "1959-03-01"]
    assert not np.allclose(frame["forecast"], same["forecast"].iloc[:3])


def test_data_shorter_than_lookback_is_refused(monthly_bundle, tmp_path):
    path = tmp_path / "short.csv"
    pd.read_csv(SAMPLE / "airline-passengers.csv").iloc[:5].to_csv(path, index=False)
    with pytest.raises(DataError, match="--data has 5 rows; the model needs the last 12"):
        predict(str(monthly_bundle), data_path=str(path))


def test_data_without_the_model_s_columns_is_refused_naming_them(monthly_bundle):
    with pytest.raises(DataError, match=r"^--data: time column 'Month' is not in the data\. Columns: Date, Temp\. The model "
                                        r"reads the columns 'Month', 'Passengers'\. Give --data those columns\.$"):
        predict(str(monthly_bundle), data_path=str(SAMPLE / "daily-min-temperatures.csv"))


def test_data_at_another_frequency_is_refused(monthly_bundle, tmp_path):
    path = tmp_path / "daily.csv"
    pd.DataFrame({"Month": pd.date_range("2020-01-01", periods=30).strftime("%Y-%m-%d"), "Passengers": range(30)}).to_csv(path, index=False)
    with pytest.raises(DataError, match="--data is daily but the model was trained on monthly \\(month starts\\) data"):
        predict(str(monthly_bundle), data_path=str(path))


def test_business_days_continue_after_the_recorded_download(ticker_bundle):
    frame = predict(str(ticker_bundle)).frame
    stamps = pd.to_datetime(frame["timestamp"])
    assert frame["timestamp"].tolist()[0] == "2024-12-31" and len(frame) == 5
    assert (stamps.dt.day_of_week < 5).all()
    meta = json.loads((ticker_bundle / "current" / "metadata.json").read_text())
    assert meta["features"] == ["Volume"] and meta["frequency"] == "B" and meta["source"]["ticker"] == "AAPL"


def test_a_log_form_model_forecasts_and_bounds_through_the_exponential(ticker_bundle):
    frame = predict(str(ticker_bundle), levels=[80]).frame
    meta = json.loads((ticker_bundle / "current" / "metadata.json").read_text())
    assert meta["config"]["target_transform"] == "log"
    # Widths calibrated on the scaled log are ratios: the bounds sit at forecast / r and forecast * r.
    np.testing.assert_allclose(frame["forecast"] ** 2, frame["lower_80"] * frame["upper_80"], rtol=1e-9)
    assert (frame["lower_80"] > 0).all() and (frame["upper_80"] > frame["forecast"]).all()


def test_a_log_form_model_refuses_recent_values_at_or_below_zero(ticker_bundle, tmp_path):
    frame = recorded_aapl().droplevel("Ticker", axis=1)[["Close", "Volume"]].iloc[-30:]
    frame.iloc[-2, 0] = 0.0
    path = tmp_path / "recent.csv"
    frame.to_csv(path)
    with pytest.raises(DataError, match=r"this model forecasts the log of 'Close', which needs values above zero; it is 0 at"):
        predict(str(ticker_bundle), data_path=str(path))


def test_feature_model_refuses_to_forecast_past_its_horizon(ticker_bundle):
    with pytest.raises(ConfigError, match=r"--horizon 6 is longer than the trained horizon \(5\).*Volume"):
        predict(str(ticker_bundle), steps=6)


def test_zero_horizon_is_refused(monthly_bundle):
    with pytest.raises(ConfigError, match="--horizon must be a whole number of at least 1. Received: 0"):
        predict(str(monthly_bundle), steps=0)


def test_future_features_are_read_from_future_data_at_every_step(known_bundle, tmp_path):
    from conftest import future_rows

    path = tmp_path / "future.csv"
    future_rows("1991-01-01", 7).to_csv(path, index=False)
    frame = predict(str(known_bundle), future_data=str(path)).frame
    assert frame["timestamp"].tolist() == [f"1991-01-0{d}" for d in range(1, 8)]
    hotter = tmp_path / "hotter.csv"
    future_rows("1991-01-01", 7).assign(MaxTemp=40.0).to_csv(hotter, index=False)
    assert not np.allclose(predict(str(known_bundle), future_data=str(hotter)).frame["forecast"], frame["forecast"])
    # Rows before and after the forecast's are ignored; a DataFrame serves as a file does.
    padded = pd.concat([future_rows("1990-12-20", 11), future_rows("1991-01-01", 7), future_rows("1991-01-08", 30)])
    assert predict(str(known_bundle), future_data=padded).frame.equals(frame)


def test_future_features_let_the_model_roll_past_its_horizon_when_every_step_is_given(known_bundle, tmp_path):
    from conftest import future_rows

    path = tmp_path / "future.csv"
    future_rows("1991-01-01", 10).to_csv(path, index=False)
    notes = []
    frame = predict(str(known_bundle), steps=10, future_data=str(path), log=notes.append).frame
    assert len(frame) == 10 and frame["timestamp"].iloc[-1] == "1991-01-10"
    assert frame.iloc[:7].equals(predict(str(known_bundle), future_data=str(path)).frame)
    assert any("feeding forecasts back in 2 blocks" in note for note in notes)
    with pytest.raises(DataError, match="has no row for 1991-01-10: the forecast needs the values of 'MaxTemp' at each "
                                        "of its 10 steps, 1991-01-01 to 1991-01-10. Add the missing rows."):
        predict(str(known_bundle), steps=10, future_data=future_rows("1991-01-01", 9))


def test_future_data_is_required_checked_and_refused_where_it_has_no_use(known_bundle, monthly_bundle):
    from conftest import future_rows

    with pytest.raises(ConfigError, match="reads future values of MaxTemp at every forecast step. Pass --future-data"):
        predict(str(known_bundle))
    with pytest.raises(ConfigError, match="trained without --future-features. Drop --future-data"):
        predict(str(monthly_bundle), future_data=future_rows("1961-01-01", 12))
    refusals = {
        "is empty at 1991-01-03": future_rows("1991-01-01", 7, r2=None),
        "is 'warm', not a number at 1991-01-04": future_rows("1991-01-01", 7, r3="warm"),
        "is 'inf', not a number it can model at 1991-01-02": future_rows("1991-01-01", 7, r1="inf"),
        "gives 1991-01-02 twice": pd.concat([future_rows("1991-01-01", 7), future_rows("1991-01-02", 1)]),
        "has no column 'MaxTemp'": future_rows("1991-01-01", 7, column="Max"),
    }
    for message, frame in refusals.items():
        with pytest.raises(DataError, match=message):
            predict(str(known_bundle), future_data=frame)


def test_holidays_are_stored_and_bound_how_far_predict_can_see(known_bundle, tmp_path):
    from conftest import future_rows
    from forecast.store.versions import Store

    meta = Store(known_bundle).open().metadata
    assert meta.holidays.code == "AU-VIC" and meta.holidays.until == "2000-12-31"
    assert {"1990-01-26", "1990-12-25", "1991-03-11"} <= set(meta.holidays.dates)  # Australia Day, Christmas, Labour Day
    late = tmp_path / "late.csv"
    pd.DataFrame({"Date": pd.date_range("1990-12-01", "2001-01-31").strftime("%Y-%m-%d"), "MinTemp": 12.0,
                  "MaxTemp": 25.0}).to_csv(late, index=False)
    with pytest.raises(DataError, match="past 2000-12-31, the last day this model knows the public holidays of AU-VIC for"):
        predict(str(known_bundle), data_path=str(late), future_data=future_rows("2001-02-01", 7))


def test_a_known_inputs_model_predicts_on_litert_without_keras_or_the_holidays_package(known_bundle, tmp_path):
    import subprocess
    import sys

    from conftest import ROOT, future_rows

    path = tmp_path / "future.csv"
    future_rows("1991-01-01", 7).to_csv(path, index=False)
    script = ("import sys; from forecast.cli.commands import cli; sys.argv = ['forecast', 'predict', '--model-dir', "
              f"{str(known_bundle)!r}, '--future-data', {str(path)!r}]\ntry:\n    cli()\nexcept SystemExit:\n    pass\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'holidays', 'keras', 'tensorflow'}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip().endswith("[]") and "(litert)" in done.stderr, done.stderr[-2000:]
    keras_run = predict(str(known_bundle), future_data=str(path), engine="keras").frame
    np.testing.assert_allclose(pd.read_csv(io.StringIO(done.stdout.rsplit("\n", 2)[0]))["forecast"],
                               keras_run["forecast"], rtol=1e-4)


def test_future_values_far_outside_the_training_range_are_refused_by_column_and_near_ones_warned(known_bundle, tmp_path):
    from conftest import error_line, future_rows, invoke

    for value in ("1e140", "-1e15"):
        path = tmp_path / "future.csv"
        future_rows("1991-01-01", 7, r4=value).to_csv(path, index=False)
        result = invoke("predict", "--model-dir", known_bundle, "--future-data", path)
        assert result.exit_code == 2 and result.stdout == ""
        line = error_line(result.stderr)
        assert line.startswith(f"error: --future-data: 'MaxTemp' is {float(value):.6g} at 1991-01-05 00:00, more than 10 "
                               "times its training range (")
        assert "Check the value and its units" in line
    notes = []
    frame = predict(str(known_bundle), future_data=future_rows("1991-01-01", 7, r2=60.0), log=notes.append).frame
    assert len(frame) == 7
    (warning,) = [note for note in notes if "outside the range training saw" in note]
    assert warning.startswith("warning: --future-data: 'MaxTemp' lies outside") and "at 1 of 7 rows read, 60 at the furthest" in warning



def test_history_in_data_far_outside_the_training_range_is_refused_by_column(known_bundle, tmp_path):
    from conftest import SAMPLE, future_rows

    history = pd.read_csv(SAMPLE / "melbourne-temperatures.csv").iloc[-60:]
    history.iloc[-2, history.columns.get_loc("MaxTemp")] = 1e140
    history.to_csv(tmp_path / "recent.csv", index=False)
    start = str((pd.Timestamp(history["Date"].iloc[-1]) + pd.Timedelta(days=1)).date())
    with pytest.raises(DataError, match=r"^--data: 'MaxTemp' is 1e\+140 at .* more than 10 times its training range"):
        predict(str(known_bundle), data_path=str(tmp_path / "recent.csv"), future_data=future_rows(start, 7))
