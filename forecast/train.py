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

from forecast import __version__
from forecast.backend import import_keras
from forecast.bundle import check_destination, write_bundle
from forecast.config import DataConfig, TrainConfig, config_to_dict
from forecast.data import Series, format_timestamp, load_series
from forecast.scaling import fit_scaler, inverse_target, scaler_to_dict
from forecast.windowing import Split, input_windows, plan_split, target_windows

Log = Callable[[str], None]


@dataclasses.dataclass
class TrainResult:
    """What a training run produced, for the summary."""

    bundle_dir: Path
    placement: str
    metrics: dict
    history: dict[str, list[float]]  # per-epoch loss and val_loss


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
    series = load_series(data_config, log)
    split = plan_split(len(series.frame), train_config.lookback, train_config.horizon, train_config.val_fraction)
    values = series.frame.to_numpy()  # (rows, columns); column 0 is the target
    scaler = fit_scaler(values[: split.boundary], series.columns)
    check_destination(model_dir)

    keras = import_keras()
    from forecast.devices import choose_placement
    from forecast.model import build_model, compile_model

    placement = choose_placement(train_config.strategy)
    log(f"strategy: {placement.description}")
    _seed_everything(train_config.seed)

    scaled = scaler.transform(values).astype("float32")  # (rows, columns)
    inputs = input_windows(scaled, train_config.lookback)  # (rows - lookback + 1, lookback, columns)
    targets = target_windows(scaled[:, 0], train_config.lookback, train_config.horizon)  # (windows, horizon)
    train_ids = np.arange(split.n_train)
    val_ids = np.arange(split.val_start, split.n_windows)
    batches = _window_batches(keras)
    train_data = batches(inputs, targets, train_ids, train_config.batch_size, shuffle_seed=train_config.seed)
    val_data = batches(inputs, targets, val_ids, train_config.batch_size)

    started = time.perf_counter()
    with placement.scope():
        model = build_model(train_config, n_features=len(series.columns))
        compile_model(model, train_config)
        callbacks = [
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=train_config.patience, restore_best_weights=True
            ),
            # Halve the step when validation stalls, well before early stopping gives up.
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=max(1, train_config.patience // 2), min_lr=1e-6
            ),
        ]
        fit = model.fit(
            train_data, validation_data=val_data, epochs=train_config.epochs, callbacks=callbacks, verbose=verbose
        )
        train_seconds = time.perf_counter() - started
        predicted = _predict(model, inputs[val_ids])  # (val windows, horizon), scaled

    history = {key: [float(v) for v in fit.history.get(key, [])] for key in ("loss", "val_loss")}
    metrics = _metrics(series, split, scaler, predicted, history, train_seconds)
    metadata = _metadata(series, split, data_config, train_config, placement.name, metrics, history)
    bundle_dir = write_bundle(model_dir, model, scaler_to_dict(scaler, series.columns), metadata)
    return TrainResult(bundle_dir, placement.description, metrics, history)


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


def _predict(model, windows: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Forecast a stack of windows in batches, without Keras's per-call predict overhead."""
    import keras

    out = [
        keras.ops.convert_to_numpy(model(np.ascontiguousarray(windows[i : i + batch_size]), training=False))
        for i in range(0, len(windows), batch_size)
    ]
    return np.concatenate(out, axis=0)


def _metrics(series: Series, split: Split, scaler, predicted, history, train_seconds) -> dict:
    """Validation error in the data's units, beside a naive last-value forecast on the same windows."""
    target = series.frame[series.target].to_numpy()
    actual = target_windows(target, split.lookback, split.horizon)[split.val_start :]  # (val, horizon)
    forecast = inverse_target(scaler, predicted)
    last_seen = target[split.val_start + split.lookback - 1 : split.n_windows + split.lookback - 1]  # (val,)
    val_loss = history["val_loss"]
    best_epoch = int(np.argmin(val_loss)) if val_loss else 0
    return {
        "epochs_run": len(history["loss"]),
        "best_epoch": best_epoch + 1,
        "best_val_loss": min(val_loss) if val_loss else None,
        "val_mae": float(np.mean(np.abs(forecast - actual))),
        "naive_mae": float(np.mean(np.abs(last_seen[:, None] - actual))),
        "train_windows": split.n_train,
        "val_windows": split.n_val,
        "train_seconds": round(train_seconds, 3),
    }


def _metadata(series, split, data_config, train_config, placement, metrics, history) -> dict:
    import keras

    try:
        # Read the installed version without importing TensorFlow on another backend.
        tf_version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tf_version = None
    recent = series.frame.iloc[-split.lookback :]
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
        "rows": len(series.frame),
        "first_timestamp": format_timestamp(series.frame.index[0], series.frequency),
        "last_timestamp": format_timestamp(series.frame.index[-1], series.frequency),
        # The last `lookback` rows in the data's units, so predict needs no data file.
        "history": {
            "timestamps": [format_timestamp(t, series.frequency) for t in recent.index],
            "values": recent.to_numpy().tolist(),
        },
        "data_config": config_to_dict(data_config),
        "config": config_to_dict(train_config),
        "seed": train_config.seed,
        "strategy": placement,
        "metrics": metrics,
        "loss_history": history,
    }
