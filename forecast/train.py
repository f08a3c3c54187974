"""The training pipeline: data to scaled windows to a trained model, saved as a bundle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.preprocessing import MinMaxScaler

from forecast import __version__
from forecast.backend import import_keras
from forecast.baselines import BASELINES, baseline_windows
from forecast.bundle import RECENT_ROWS, check_destination, write_bundle
from forecast.config import DataConfig, TrainConfig, config_to_dict
from forecast.data import Series, format_timestamp, load_series
from forecast.intervals import calibrate
from forecast.metrics import season_length
from forecast.scaling import fit_scaler, inverse_target, scaler_to_dict
from forecast.windowing import Split, input_windows, plan_split, target_windows

Log = Callable[[str], None]


@dataclasses.dataclass
class Prepared:
    """A series split and scaled, checked before Keras is imported."""

    series: Series
    split: Split
    scaler: MinMaxScaler


@dataclasses.dataclass
class Fitted:
    """A trained model with everything learnt about it on its validation windows."""

    model: object  # keras.Model
    prepared: Prepared
    placement: str  # the strategy's description
    metrics: dict
    history: dict[str, list[float]]  # per-epoch loss and val_loss
    calibration: dict  # conformal half-widths, see forecast.intervals


@dataclasses.dataclass
class TrainResult:
    """What a training run produced, for the summary."""

    bundle_dir: Path
    fitted: Fitted

    @property
    def metrics(self) -> dict:
        return self.fitted.metrics


def train(
    data_config: DataConfig,
    train_config: TrainConfig,
    model_dir: str,
    *,
    log: Log = lambda message: None,
    verbose: int = 0,
) -> TrainResult:
    """Train a model on the series `data_config` describes and save it as a bundle.

    Everything that can fail on bad input (data, options, the destination) is checked before
    Keras is imported and before any training starts.

    Args:
        data_config: where the series comes from.
        train_config: windows, network and training options.
        model_dir: the bundle's directory; replaced only when the new bundle is complete.
        log: receives one-line notes for the user.
        verbose: Keras's fit verbosity (0 silent, 1 progress bar, 2 one line per epoch).

    Raises:
        ForecastError: bad input, with the fix in its message.
    """
    prepared = prepare(load_series(data_config, log), train_config)
    check_destination(model_dir)
    fitted = fit(prepared, train_config, log=log, verbose=verbose)
    metadata = _metadata(fitted, data_config, train_config)
    scaler_state = scaler_to_dict(prepared.scaler, prepared.series.columns)
    bundle_dir = write_bundle(model_dir, fitted.model, scaler_state, metadata)
    return TrainResult(bundle_dir, fitted)


def prepare(series: Series, train_config: TrainConfig) -> Prepared:
    """Split the series' windows and fit the scaler on the training rows only (no Keras).

    Raises:
        DataError: too short for the windows, or a column constant in the training part.
    """
    split = plan_split(len(series.frame), train_config.lookback, train_config.horizon, train_config.val_fraction)
    values = series.frame.to_numpy()  # (rows, columns); column 0 is the target
    return Prepared(series, split, fit_scaler(values[: split.boundary], series.columns))


def fit(prepared: Prepared, train_config: TrainConfig, *, log: Log = lambda m: None, verbose: int = 0) -> Fitted:
    """Build and train a model on prepared data, then score and calibrate it on validation."""
    keras = import_keras()
    from forecast.devices import choose_placement
    from forecast.model import build_model, compile_model

    series, split, scaler = prepared.series, prepared.split, prepared.scaler
    placement = choose_placement(train_config.strategy)
    log(f"strategy: {placement.description}")
    _seed_everything(train_config.seed)

    scaled = scaler.transform(series.frame.to_numpy()).astype("float32")  # (rows, columns)
    inputs = input_windows(scaled, split.lookback)  # (rows - lookback + 1, lookback, columns)
    targets = target_windows(scaled[:, 0], split.lookback, split.horizon)  # (windows, horizon)
    val_ids = np.arange(split.val_start, split.n_windows)
    batches = _window_batches(keras)
    train_data = batches(inputs, targets, np.arange(split.n_train), train_config.batch_size, shuffle_seed=train_config.seed)
    val_data = batches(inputs, targets, val_ids, train_config.batch_size)

    started = time.perf_counter()
    with placement.scope():
        model = build_model(train_config, n_features=len(series.columns))
        compile_model(model, train_config)
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=train_config.patience, restore_best_weights=True),
            # Halve the step when validation stalls, well before early stopping gives up.
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=max(1, train_config.patience // 2), min_lr=1e-6
            ),
        ]
        fit_history = model.fit(
            train_data, validation_data=val_data, epochs=train_config.epochs, callbacks=callbacks, verbose=verbose
        )
        train_seconds = time.perf_counter() - started
        predicted = inverse_target(scaler, predict_windows(model, inputs[val_ids]))  # (val windows, horizon)

    history = {key: [float(v) for v in fit_history.history.get(key, [])] for key in ("loss", "val_loss")}
    target = series.frame[series.target].to_numpy()
    actual = target_windows(target, split.lookback, split.horizon)[split.val_start :]  # (val windows, horizon)
    metrics = _metrics(series, split, target, actual, predicted, history, train_seconds, model)
    return Fitted(model, prepared, placement.description, metrics, history, calibrate(actual, predicted))


def predict_windows(model, windows: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Scaled forecasts for a stack of windows, in batches, without Keras's per-call predict overhead."""
    import keras

    out = [
        keras.ops.convert_to_numpy(model(np.ascontiguousarray(windows[i : i + batch_size]), training=False))
        for i in range(0, len(windows), batch_size)
    ]
    return np.concatenate(out, axis=0)


def _seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)  # Python, NumPy and the backend's generators
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Same data, same machine, same seed: the same model, at a small cost in speed.
        tf.config.experimental.enable_op_determinism()


def _window_batches(keras):
    class WindowBatches(keras.utils.PyDataset):
        """Batches gathered from strided window views: only one batch is ever copied."""

        def __init__(self, inputs, targets, ids, batch_size, shuffle_seed=None):
            super().__init__()
            self.inputs, self.targets = inputs, targets
            self.ids = np.array(ids)
            self.batch_size = batch_size
            self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
            if self.rng is not None:
                self.rng.shuffle(self.ids)

        def __len__(self):
            return math.ceil(len(self.ids) / self.batch_size)

        def __getitem__(self, index):
            ids = self.ids[index * self.batch_size : (index + 1) * self.batch_size]
            return self.inputs[ids], self.targets[ids]  # (batch, lookback, columns), (batch, horizon)

        def on_epoch_end(self):
            if self.rng is not None:
                self.rng.shuffle(self.ids)

    return WindowBatches


def _metrics(series, split, target, actual, predicted, history, train_seconds, model) -> dict:
    """Validation MAE in the data's units, beside the baselines' on the same windows."""
    ends = np.arange(split.val_start, split.n_windows) + split.lookback  # history seen by each val window
    season = season_length(series.frequency)
    baselines = {
        f"{name}_mae": float(np.mean(np.abs(baseline_windows(name, target, ends, split.horizon, season) - actual)))
        for name in BASELINES
    }
    val_loss = history["val_loss"]
    return {
        "epochs_run": len(history["loss"]),
        "best_epoch": int(np.argmin(val_loss)) + 1 if val_loss else 0,
        "best_val_loss": min(val_loss) if val_loss else None,
        "val_mae": float(np.mean(np.abs(predicted - actual))),
        **baselines,
        "season": season,
        "train_windows": split.n_train,
        "val_windows": split.n_val,
        "parameters": int(model.count_params()),
        "train_seconds": round(train_seconds, 3),
    }


def _metadata(fitted: Fitted, data_config: DataConfig, train_config: TrainConfig) -> dict:
    import keras

    try:
        # Read the installed version without importing TensorFlow on another backend.
        tf_version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tf_version = None
    series, split = fitted.prepared.series, fitted.prepared.split
    frame, stamp = series.frame, lambda t: format_timestamp(t, series.frequency)
    recent = frame.iloc[-split.lookback :]
    tail = frame[series.target].iloc[-max(split.lookback, RECENT_ROWS) :]
    return {
        "forecast_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf_version,
        "backend": keras.backend.backend(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": series.source,
        "time_col": series.time_col,
        "target": series.target,
        "features": list(series.features),
        "frequency": series.frequency,
        "rows": len(frame),
        "first_timestamp": stamp(frame.index[0]),
        "last_timestamp": stamp(frame.index[-1]),
        # The last `lookback` rows in the data's units, so predict needs no data file.
        "history": {"timestamps": [stamp(t) for t in recent.index], "values": recent.to_numpy().tolist()},
        # A longer stretch of the target alone, drawn beside the forecast by `predict --plot`.
        "recent_target": {"timestamps": [stamp(t) for t in tail.index], "values": tail.tolist()},
        "data_config": config_to_dict(data_config),
        "config": config_to_dict(train_config),
        "seed": train_config.seed,
        "strategy": fitted.placement,
        "metrics": fitted.metrics,
        "intervals": fitted.calibration,
        "loss_history": fitted.history,
    }
