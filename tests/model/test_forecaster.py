"""The one forecasting path: exact numbers through scaling, windows, feeding back and unscaling."""

import keras
import numpy as np
import pandas as pd
import pytest

from forecast.config import TrainConfig, WindowNorm
from forecast.data.cycles import cycle_inputs
from forecast.data.date_inputs import DateInputs
from forecast.data.scaling import fit_scaler
from forecast.errors import ConfigError
from forecast.evaluation.intervals import calibrate
from forecast.model.forecaster import MAX_BLOCKS, Forecaster, check_steps
from forecast.model.network import build_model
from forecast.model.runners import keras_runner

SCALER = fit_scaler(np.array([[0.0], [10.0]]), ["y"])  # x / 10


def next_two(windows, known=None):
    """A stand-in network with known output: the window's last scaled value plus 0.1 and 0.2."""
    last = windows[:, -1, 0]
    return np.stack([last + 0.1, last + 0.2], axis=1)


def test_forecasts_come_back_in_the_data_units_from_the_last_lookback_rows():
    forecaster = Forecaster(next_two, {"": SCALER}, lookback=3, trained_horizon=2)
    rows = np.array([[1.0], [2.0], [3.0], [4.0]])
    (forecast,) = forecaster.forecast({"": rows}, steps=2)[""]
    np.testing.assert_allclose(forecast, [5.0, 6.0])  # 4 / 10 + 0.1, + 0.2, back in units


def test_past_the_trained_horizon_blocks_are_fed_back():
    forecaster = Forecaster(next_two, {"": SCALER}, lookback=3, trained_horizon=2)
    (forecast,) = forecaster.forecast({"": np.array([[1.0], [2.0], [3.0]])}, steps=5)[""]
    # Block 1 from [1, 2, 3]: 4, 5. Block 2 reads [3, 4, 5]: 6, 7. Block 3 reads [5, 6, 7]: 8 (cut at 5 steps).
    np.testing.assert_allclose(forecast, [4.0, 5.0, 6.0, 7.0, 8.0])


def test_each_origin_reads_the_rows_before_it_and_each_series_its_own_scaler():
    other = fit_scaler(np.array([[0.0], [100.0]]), ["y"])  # x / 100
    forecaster = Forecaster(next_two, {"a": SCALER, "b": other}, lookback=2, trained_horizon=2)
    rows = {"a": np.arange(10.0)[:, None], "b": np.arange(0.0, 100.0, 10.0)[:, None]}
    out = forecaster.forecast(rows, steps=1, origins={"a": [2, 5, 9], "b": [4]})
    np.testing.assert_allclose(out["a"][:, 0], [2.0, 5.0, 9.0])  # row origin - 1, plus 0.1 scaled = 1 unit
    np.testing.assert_allclose(out["b"][:, 0], [40.0])  # row 3 is 30, plus 0.1 scaled = 10 units


def test_a_real_network_forecasts_the_gathered_windows_as_a_direct_call_does():
    model = build_model(TrainConfig(lookback=5, horizon=2, layers=1, units=3, window_norm=WindowNorm.revin), n_features=1)
    forecaster = Forecaster(keras_runner(model), {"": SCALER}, lookback=5, trained_horizon=2)
    rows = np.random.default_rng(0).random((40, 1)) * 10
    origins = np.array([35, 7, 22, 10, 40])
    windows = np.stack([SCALER.transform(rows[o - 5 : o]) for o in origins]).astype("float32")
    expected = keras.ops.convert_to_numpy(model(windows)) * 10  # scaled back: x * 10
    np.testing.assert_allclose(forecaster.forecast({"": rows}, 2, {"": origins})[""], expected, rtol=1e-5)


def test_intervals_are_the_calibrated_widths_in_the_data_units():
    calibration = calibrate(np.zeros((9, 2)), -np.stack([np.arange(1, 10), np.arange(1, 10)], axis=1) / 100)
    forecaster = Forecaster(next_two, {"": SCALER}, 3, 2, calibration=calibration)
    lower, upper = forecaster.interval("", np.array([50.0, 60.0]), 80)
    np.testing.assert_allclose(lower, [49.2, 59.2])  # k = 8: width 0.08 scaled, 0.8 in units
    np.testing.assert_allclose(upper, [50.8, 60.8])
    with pytest.raises(ConfigError, match="holds no interval calibration"):
        Forecaster(next_two, {"": SCALER}, 3, 2).interval("", np.array([1.0]), 80)


def test_log_form_intervals_are_calibrated_ratios_and_stay_positive():
    # Widths calibrated on the scaled log target: 0.08 scaled is 0.08 / scale_ in log units.
    calibration = calibrate(np.zeros((9, 2)), -np.stack([np.arange(1, 10), np.arange(1, 10)], axis=1) / 100)
    scaler = fit_scaler(np.array([[1.0], [np.e**2]]), ["y"], log_target=True)  # log y / 2
    forecaster = Forecaster(next_two, {"": scaler}, 3, 2, calibration=calibration)
    forecast = np.array([0.5, 500.0])
    lower, upper = forecaster.interval("", forecast, 80)
    np.testing.assert_allclose(upper / forecast, np.exp(0.16))  # 0.08 scaled is 0.16 in log units
    np.testing.assert_allclose(forecast / lower, np.exp(0.16))
    assert (lower > 0).all()


def test_steps_a_network_cannot_forecast_are_refused():
    with pytest.raises(ConfigError, match="whole number of at least 1"):
        check_steps(0, 12, ())
    with pytest.raises(ConfigError, match=f"at most {MAX_BLOCKS} are allowed"):
        check_steps(MAX_BLOCKS * 12 + 1, 12, ())
    with pytest.raises(ConfigError, match=r"reads features \(Volume\) whose future values are unknown"):
        check_steps(13, 12, ("Volume",))
    check_steps(12, 12, ("Volume",))
    forecaster = Forecaster(next_two, {"": SCALER}, 3, 2, features=("Volume",))
    with pytest.raises(ConfigError, match="future values are unknown"):
        forecaster.forecast({"": np.ones((3, 2))}, 3)


def test_fed_back_rows_carry_the_date_inputs_of_their_own_timestamps():
    # A stand-in network that forecasts the sine of the day of week of its window's last row.
    def last_weekday(windows, known):
        return np.repeat(windows[:, -1, 1:2], 2, axis=1)

    forecaster = Forecaster(last_weekday, {"": SCALER}, lookback=2, trained_horizon=2, dates=DateInputs(("day_of_week",)))
    stamps = pd.date_range("2024-01-01", periods=16, freq="D")  # 10 rows, then the 6 steps forecast
    (forecast,) = forecaster.forecast({"": np.zeros((10, 1))}, 6, stamps={"": stamps})[""]
    sine = cycle_inputs(stamps, ["day_of_week"])[:, 0] * 10  # scaled back: x * 10
    # Block 1 reads rows 8-9, block 2 the fed-back rows 10-11, block 3 rows 12-13.
    np.testing.assert_allclose(forecast, sine[[9, 9, 11, 11, 13, 13]], rtol=1e-6)

    with pytest.raises(ValueError, match="reads date inputs: pass each series' timestamps"):
        forecaster.forecast({"": np.zeros((10, 1))}, 2)
    with pytest.raises(ValueError, match="timestamps for 16 rows are needed"):
        forecaster.forecast({"": np.zeros((10, 1))}, 6, stamps={"": stamps[:12]})


def test_each_step_reads_the_known_inputs_of_its_own_timestamp():
    def known_sine(windows, known):  # forecasts each step's own day-of-week sine
        assert known.shape == (len(windows), 2, 2)  # (origins, trained horizon, sine and cosine)
        return known[:, :, 0]

    forecaster = Forecaster(known_sine, {"": SCALER}, lookback=2, trained_horizon=2, dates=DateInputs(("day_of_week",)))
    stamps = pd.date_range("2024-01-01", periods=15, freq="D")  # 10 rows, then 5 steps: the last block's second is past them
    (forecast,) = forecaster.forecast({"": np.zeros((10, 1))}, 5, stamps={"": stamps})[""]
    np.testing.assert_allclose(forecast, cycle_inputs(stamps, ["day_of_week"])[10:, 0] * 10, rtol=1e-6)
    # A network from before known inputs (bundle format 4) is called with none.
    old = Forecaster(lambda windows, known: np.zeros((len(windows), 2)) if known is None else None, {"": SCALER},
                     lookback=2, trained_horizon=2, dates=DateInputs(("day_of_week",)), known_future=False)
    assert old.forecast({"": np.zeros((10, 1))}, 4, stamps={"": stamps})[""].shape == (1, 4)


TWO = fit_scaler(np.array([[0.0, 0.0], [10.0, 10.0]]), ["y", "promo"])  # both columns x / 10


def test_future_features_are_read_from_the_rows_after_each_origin_and_roll_on():
    def promo(windows, known):  # forecasts each step's own promo value
        return known[:, :, 0]

    forecaster = Forecaster(promo, {"": TWO}, lookback=2, trained_horizon=2, features=("promo",), future_features=("promo",))
    rows = np.stack([np.zeros(12), np.arange(12.0)], axis=1)  # promo 0..11
    out = forecaster.forecast({"": rows}, 5, {"": [3, 7]})[""]
    np.testing.assert_allclose(out, [[3, 4, 5, 6, 7], [7, 8, 9, 10, 11]], rtol=1e-6)
    # Past the rows given (the last block's second step, never returned) the known values are zero, not NaN.
    seen = []
    forecaster = Forecaster(lambda w, k: seen.append(k) or k[:, :, 0], {"": TWO}, 2, 2, ("promo",), future_features=("promo",))
    forecaster.forecast({"": rows[:10]}, 3, {"": [7]})
    assert np.isfinite(seen[-1]).all() and seen[-1][0, 1, 0] == 0.0


def test_a_past_only_feature_still_blocks_feeding_back():
    with pytest.raises(ConfigError, match=r"reads features \(Volume\) whose future values are unknown.*--future-features"):
        check_steps(13, 12, ("Volume", "promo"), ("promo",))
    check_steps(13, 12, ("promo",), ("promo",))
