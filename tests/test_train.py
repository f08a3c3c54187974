import json

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, snapshot
from forecast.config import DataConfig, TrainConfig
from forecast.model.fit import Metrics
from forecast.train import train
from forecast.data.windowing import plan_split, target_windows

TINY = dict(lookback=6, horizon=3, layers=2, units=4, epochs=2, batch_size=16, window_norm="revin", interval_refits=0)


def test_metadata_records_what_predict_needs(monthly_bundle):
    meta = json.loads((monthly_bundle / "current" / "metadata.json").read_text())
    assert meta["target"] == "Passengers" and meta["frequency"] == "MS" and meta["time_col"] == "Month"
    assert meta["id_col"] is None and list(meta["series"]) == [""]
    series = meta["series"][""]
    assert series["last_timestamp"] == "1960-12-01" and meta["backend"] == keras.backend.backend()
    assert meta["keras_version"] == keras.__version__ and meta["forecast_version"]
    assert meta["source"]["kind"] == "csv" and meta["source"]["path"].endswith("airline-passengers.csv")
    assert series["history"]["timestamps"][-1] == "1960-12-01" and len(series["history"]["values"]) == 12
    assert series["history"]["values"][-1] == [432.0] and len(series["recent_target"]["values"]) == 120
    assert meta["config"]["lookback"] == 12 and meta["seed"] == 42
    assert set(meta["metrics"]) >= {"epochs_run", "best_val_loss", "val_mae", "naive_mae", "train_seconds"}


def test_scaler_and_naive_baseline_use_the_right_rows(monthly_bundle):
    passengers = pd.read_csv(SAMPLE / "airline-passengers.csv")["Passengers"].to_numpy(dtype=float)
    split = plan_split(len(passengers), 12, 12, 0.2)
    scaler = json.loads((monthly_bundle / "current" / "scaler.json").read_text())["series"][""]
    assert scaler["data_min_"] == [passengers[: split.boundary].min()]
    assert scaler["data_max_"] == [passengers[: split.boundary].max()]  # not the whole series' 622
    assert passengers.max() > passengers[: split.boundary].max()

    actual = target_windows(passengers, 12, 12)[split.val_start :]
    last = np.array([passengers[i + 11] for i in range(split.val_start, split.n_windows)])
    meta = json.loads((monthly_bundle / "current" / "metadata.json").read_text())
    assert meta["metrics"]["naive_mae"] == pytest.approx(np.abs(actual - last[:, None]).mean())


def test_a_future_spike_cannot_reach_the_scaler(tmp_path):
    frame = pd.read_csv(SAMPLE / "monthly-car-sales.csv")
    frame.loc[len(frame) - 1, "Sales"] = 1e9  # in the validation part
    path = tmp_path / "spiked.csv"
    frame.to_csv(path, index=False)
    train(DataConfig(path=str(path)), TrainConfig(**{**TINY, "epochs": 1}), str(tmp_path / "model"))
    scaler = json.loads((tmp_path / "model" / "current" / "scaler.json").read_text())["series"][""]
    assert scaler["data_max_"][0] < 1e6


def test_same_seed_same_model(tmp_path):
    config = TrainConfig(**TINY)
    data = DataConfig(path=str(SAMPLE / "monthly-car-sales.csv"))
    first = train(data, config, str(tmp_path / "a"))
    second = train(data, config, str(tmp_path / "b"))
    assert first.metrics.val_mae == second.metrics.val_mae
    for key in ("loss", "val_loss"):  # epoch_seconds, beside them, is wall time
        assert first.fitted.loss_history[key] == second.fitted.loss_history[key]
    a = keras.saving.load_model(tmp_path / "a" / "current" / "model.keras").get_weights()
    b = keras.saving.load_model(tmp_path / "b" / "current" / "model.keras").get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_an_ensemble_saves_as_one_model_and_loads_in_safe_mode(tmp_path):
    from forecast.predict import predict
    from forecast.store.versions import Store

    config = TrainConfig(**TINY, ensemble=2, ensemble_cells="mixed")
    result = train(DataConfig(path=str(SAMPLE / "monthly-car-sales.csv")), config, str(tmp_path / "m"))
    bundle = Store(tmp_path / "m").open()
    assert bundle.metadata.config.ensemble == 2 and bundle.metadata.config.ensemble_cells.value == "mixed"
    loaded = bundle.load_model()
    assert {layer.name for layer in loaded.layers} >= {"m1_lstm_1", "m2_gru_1", "ensemble"}
    rng = np.random.default_rng(0)
    inputs = tuple(rng.random((3, *shape[1:])).astype("float32") for shape in loaded.input_shape)  # window, known inputs
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs)),
                               keras.ops.convert_to_numpy(result.fitted.model(inputs)), rtol=1e-6)
    assert len(predict(str(tmp_path / "m")).frame) == 3


def test_a_crash_during_training_leaves_the_previous_bundle(monthly_bundle, tmp_path, monkeypatch):
    import shutil

    target = tmp_path / "model"
    shutil.copytree(monthly_bundle, target, symlinks=True)
    before = snapshot(target)

    def crash(self, *args, **kwargs):
        raise RuntimeError("simulated crash mid-training")

    monkeypatch.setattr(keras.Model, "fit", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(DataConfig(path=str(SAMPLE / "airline-passengers.csv")), TrainConfig(**TINY), str(target))
    assert snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_the_chosen_batch_is_logged_and_stored(tmp_path):
    notes = []
    config = TrainConfig(**{**TINY, "batch_size": None})
    result = train(DataConfig(path=str(SAMPLE / "airline-passengers.csv")), config, str(tmp_path / "m"), log=notes.append)
    assert "batch size: 32 (106 training windows on the CPU)" in notes
    assert json.loads((result.bundle_dir / "metadata.json").read_text())["config"]["batch_size"] == 32


def test_a_diverged_model_is_refused_before_it_is_saved():
    import types

    from forecast.errors import ForecastError
    from forecast.train import _check_finite

    _check_finite(types.SimpleNamespace(metrics=Metrics(val_mae=1.5)))
    with pytest.raises(ForecastError, match="training diverged: the validation MAE is nan, so nothing was saved"):
        _check_finite(types.SimpleNamespace(metrics=Metrics(val_mae=float("nan"))))


def test_a_seasonally_anchored_model_saves_loads_and_predicts_alike_on_both_engines(tmp_path):
    from forecast.config import Engine
    from forecast.predict import predict

    config = TrainConfig(**{**TINY, "window_norm": "seasonal", "lookback": 24, "horizon": 12})
    result = train(DataConfig(path=str(SAMPLE / "airline-passengers.csv")), config, str(tmp_path / "m"))
    anchor = result.fitted.model.get_layer("anchor")
    assert anchor.season == 12 and anchor.horizon == 12
    light = predict(str(tmp_path / "m"), engine=Engine.litert).frame["forecast"].to_numpy()
    heavy = predict(str(tmp_path / "m"), engine=Engine.keras).frame["forecast"].to_numpy()
    np.testing.assert_allclose(light, heavy, rtol=1e-5)


@pytest.mark.parametrize("options, message", [
    (["--holidays", "XX"], "--holidays XX: Country XX not available. Use an ISO 3166 country code"),
    (["--holidays", "US-ZZ"], "--holidays US-ZZ: Entity `US` does not have subdivision ZZ. Use an ISO 3166"),
    (["--holidays", "United States"], "--holidays takes a country code, optionally with a subdivision"),
    (["--future-features", "Rain"], "feature column 'Rain' is not in the data. Columns: Date, MinTemp, MaxTemp. Fix --future-features."),
    (["--future-features", "MinTemp"], "--future-features must not name the target: 'MinTemp' is what is forecast"),
    (["--features", "MaxTemp", "--future-features", "MaxTemp"], "'MaxTemp' is in both --features and --future-features"),
])
def test_known_input_options_are_refused_before_training_with_the_fix(options, message, tmp_path):
    from conftest import TINY, error_line, invoke

    result = invoke("train", SAMPLE / "melbourne-temperatures.csv", "--target", "MinTemp", "--fill", "interpolate",
                    *options, "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 2 and message in error_line(result.stderr), result.stderr
    assert not (tmp_path / "m").exists()


def test_holidays_need_daily_or_finer_data(tmp_path):
    from conftest import TINY, error_line, invoke

    result = invoke("train", SAMPLE / "airline-passengers.csv", "--holidays", "US", "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 2 and "--holidays marks days, so it needs daily or finer data; this series is monthly" \
        in error_line(result.stderr)


def test_a_known_inputs_model_records_them_and_its_network_reads_them_over_the_horizon(known_bundle):
    from forecast.store.versions import Store

    bundle = Store(known_bundle).open()
    meta = bundle.metadata
    assert meta.features == ("MaxTemp",) and meta.future_features == ("MaxTemp",)
    assert meta.dates.names == ("day_of_week_sin", "day_of_week_cos", "day_of_year_sin", "day_of_year_cos",
                                "holiday", "days_to_holiday", "days_since_holiday")
    # The lookback: MinTemp, MaxTemp and the 7 date inputs; the 7 steps forecast: MaxTemp and the date inputs.
    assert bundle.load_model().input_shape == [(None, 14, 9), (None, 7, 8)]
    assert meta.data_config.future_features == ("MaxTemp",)
