"""The training pipeline: data to scaled windows to a trained model, saved as a bundle."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import math
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from forecast import __version__

from forecast.model import stopping
from forecast.model.backend import import_keras
from forecast.evaluation.baselines import BASELINES, baseline_windows
from forecast.store.bundle import RECENT_ROWS, read_bundle, save_bundle
from forecast.config import DataConfig, Promote, TrainConfig, config_to_dict
from forecast.data.load import Panel, Series, check_forecast_end, format_timestamp, load_panel
from forecast.errors import DataError, ForecastError
from forecast.evaluation.intervals import calibrate
from forecast.evaluation.metrics import season_length
from forecast.store.promote import Verdict, judge
from forecast.data.scaling import Scaler, fit_scaler, inverse_target, scalers_to_dict
from forecast.settings import CONFIG_FILE, to_toml
from forecast.store.versions import Store, new_version_id
from forecast.data.windowing import Split, input_windows, plan_split, target_windows

Log = Callable[[str], None]


@dataclasses.dataclass
class Prepared:
    """Series split and scaled, each on its own, checked before Keras is imported."""

    panel: Panel
    config: TrainConfig  # with the lookback resolved
    splits: dict[str, Split]
    scalers: dict[str, Scaler]


@dataclasses.dataclass
class Fitted:
    """A trained model with everything learnt about it on its validation windows."""

    model: object  # keras.Model
    prepared: Prepared
    placement: str  # the strategy's description
    metrics: dict
    history: dict[str, list[float]]  # per-epoch loss and val_loss
    calibration: dict  # conformal half-widths on the scaled target, see forecast.evaluation.intervals


@dataclasses.dataclass
class TrainResult:
    """What a training run produced, for the summary."""

    bundle_dir: Path
    fitted: Fitted
    version_id: str
    verdict: Verdict

    @property
    def metrics(self) -> dict:
        return self.fitted.metrics


def train(
    data_config: DataConfig,
    train_config: TrainConfig,
    model_dir: str,
    *,
    promote: Promote = Promote.if_better,
    lock_timeout: float = 300.0,
    log: Log = lambda message: None,
    verbose: int = 0,
    saved_config: dict | None = None,
) -> TrainResult:
    """Train a model on the series `data_config` describes and add it to the model directory.

    Everything that can fail on bad input (data, options, the destination) is checked before
    Keras is imported and before any training starts. Training, saving and promotion happen
    under the directory's lock; the new version is published only once complete, and becomes
    current only as `promote` allows.

    Args:
        data_config: where the series comes from.
        train_config: windows, network and training options.
        model_dir: the model directory (see forecast.store.versions).
        promote: when the new version becomes current.
        lock_timeout: seconds to wait for another run holding the directory.
        log: receives one-line notes for the user.
        verbose: 0 silent, 1 Keras's progress bar, 2 one log line per epoch.
        saved_config: the resolved options as given, stored with the version (config.toml).

    Raises:
        ForecastError: bad input, with the fix in its message; BusyError when the lock stays taken.
    """
    store = Store(model_dir)
    prepared = check(data_config, train_config, model_dir, log)
    with store.lock(lock_timeout, log):
        cleaned = store.clean_partials()
        if cleaned:
            log(f"removed {len(cleaned)} leftover(s) of an interrupted run: {', '.join(cleaned)}")
        fitted = fit(prepared, log=log, verbose=verbose)
        _check_finite(fitted)
        current_id = store.current_id()
        current = _readable(store, current_id, log)
        if current is None and current_id is not None:
            verdict = Verdict(True, f"the current version {current_id} cannot be read", {})
        else:
            verdict = judge(fitted, current, promote)
        metadata = _metadata(fitted, data_config)
        metadata["promotion"] = {"policy": Promote(promote).value, "promoted": verdict.promote,
                                 "reason": verdict.reason, "against": current_id, **verdict.scores}
        version_id = new_version_id()
        staging = store.stage(version_id)
        try:
            if saved_config is not None:  # before save_bundle, which flushes every file in the directory
                (staging / CONFIG_FILE).write_text(to_toml(saved_config), encoding="utf-8")
            save_bundle(staging, fitted.model, scalers_to_dict(prepared.scalers, prepared.panel.first.columns), metadata, log)
            bundle_dir = store.commit(staging, version_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log(f"wrote version {version_id} to {bundle_dir}")
        if verdict.promote:
            store.set_current(version_id)
            log(f"version {version_id} is now current: {verdict.reason}")
        else:
            log(f"kept version {version_id} as a candidate; {current_id} stays current: {verdict.reason}")
    return TrainResult(bundle_dir, fitted, version_id, verdict)


def check(data_config: DataConfig, train_config: TrainConfig, model_dir: str, log: Log = lambda message: None) -> Prepared:
    """Everything `train` checks before Keras is imported: the destination, the data, the windows
    and the scalers. Nothing is written.

    Raises:
        ForecastError: what training would refuse, with the fix in its message.
    """
    Store(model_dir).check_writable()
    return prepare(load_panel(data_config, log), train_config)


def _check_finite(fitted: Fitted) -> None:
    """Refuse to save a model whose validation forecasts are not numbers (a diverged loss): its
    bundle could not be written as JSON, and it could not forecast.

    Raises:
        ForecastError: with the options that tame a diverging loss.
    """
    mae = fitted.metrics["val_mae"]
    if not math.isfinite(mae):
        raise ForecastError(
            f"training diverged: the validation MAE is {mae}, so nothing was saved. "
            "Lower --learning-rate or --clipnorm, or try --loss huber."
        )


def _readable(store: Store, version_id: str | None, log: Log):
    """The current bundle, or None when there is none or it cannot be read (it is then replaced)."""
    if version_id is None:
        return None
    try:
        return read_bundle(store.resolve(version_id))
    except ForecastError as exc:
        log(f"warning: the current version cannot be read ({exc})")
        return None


def choose_lookback(season: int, horizon: int, shortest: int) -> int:
    """The default lookback: two seasons or two horizons, whichever is longer, but no more than
    the shortest series can spare after three horizons (so it still has windows to learn from)."""
    wanted = max(2 * season, 2 * horizon, 8)
    return max(1, min(wanted, max(horizon, shortest - 3 * horizon)))


def prepare(panel: Panel, train_config: TrainConfig) -> Prepared:
    """Split each series' windows and fit its scaler on its training rows only (no Keras).

    Raises:
        DataError: a series too short for the windows, or with a column constant in its training part.
    """
    config = train_config
    if config.lookback is None:
        shortest = min(len(s.frame) for s in panel.series.values())
        lookback = choose_lookback(season_length(panel.first.frequency), config.horizon, shortest)
        config = dataclasses.replace(config, lookback=lookback)
    splits, scalers = {}, {}
    for key, series in panel.series.items():
        try:
            split = plan_split(len(series.frame), config.lookback, config.horizon, config.val_fraction)
            # A model whose forecasts could not be dated is refused now, not at its first predict.
            check_forecast_end(series.frame.index[-1], config.horizon, series.frequency, "the series")
            values = series.frame.to_numpy()  # (rows, columns); column 0 is the target
            splits[key], scalers[key] = split, fit_scaler(values[: split.boundary], series.columns)
        except DataError as exc:
            raise DataError(f"series {key!r}: {exc}" if key else str(exc)) from None
    return Prepared(panel, config, splits, scalers)


def fit(prepared: Prepared, *, log: Log = lambda m: None, verbose: int = 0) -> Fitted:
    """Build and train one model on every prepared series, then score and calibrate it on validation."""
    keras = import_keras()
    from forecast.model.devices import choose_placement
    from forecast.model.network import build_model, compile_model, training_view

    config = prepared.config
    placement = choose_placement(config.strategy)
    log(f"strategy: {placement.description}")
    _seed_everything(config.seed)
    if config.batch_size is None:
        n_train = sum(split.n_train for split in prepared.splits.values())
        config = dataclasses.replace(config, batch_size=choose_batch_size(n_train, placement.name))
        prepared = dataclasses.replace(prepared, config=config)
        log(f"batch size: {config.batch_size} ({n_train:,} training windows on {'the CPU' if placement.name == 'cpu' else 'an accelerator'})")

    # All series end to end in one array; a window is kept only if it lies inside one series.
    keys = list(prepared.panel.series)
    arrays = [prepared.scalers[k].transform(prepared.panel.series[k].frame.to_numpy()) for k in keys]
    offsets = np.cumsum([0] + [len(a) for a in arrays])[:-1]
    scaled = np.concatenate(arrays).astype("float32")  # (rows of all series, columns)
    inputs = input_windows(scaled, config.lookback)  # (rows - lookback + 1, lookback, columns)
    targets = target_windows(scaled[:, 0], config.lookback, config.horizon)  # (windows, horizon)
    splits = [prepared.splits[k] for k in keys]
    train_ids = np.concatenate([o + np.arange(s.n_train) for o, s in zip(offsets, splits)])
    val_ids = np.concatenate([o + np.arange(s.val_start, s.n_windows) for o, s in zip(offsets, splits)])
    batches = _window_batches(keras)
    train_data = batches(inputs, targets, train_ids, config.batch_size, shuffle_seed=config.seed, draw=config.epoch_windows)
    # Early stopping watches a fixed sample of the validation windows; the metrics use them all.
    monitored = np.sort(np.random.default_rng(config.seed).permutation(val_ids)[: config.epoch_windows])
    val_data = batches(inputs, targets, monitored, max(config.batch_size, 256))

    patience = effective_patience(config.patience, len(train_data))
    if patience > config.patience:
        log(f"patience: {patience} epochs (an epoch here is only {len(train_data)} gradient steps)")
    started = time.perf_counter()
    with placement.scope():
        model = build_model(config, n_features=scaled.shape[1])
        members = training_view(model)  # the members of an ensemble, each fitted on its own
        compile_model(members, config)
        callbacks = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True),
            # Halve the step when validation stalls, well before early stopping gives up.
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=0.5, patience=max(1, patience // 2), min_lr=1e-6
            ),
        ]
        if verbose == 2:  # one log line per epoch instead of Keras's lines on stdout
            callbacks.append(_epoch_log(keras, config.epochs, log))
        callbacks.append(_stop_on_request(keras))
        timer = epoch_timer()
        callbacks.append(timer)
        with stopping.cooperative():  # a signal stops training after the current batch, then raises
            fit_history = members.fit(train_data, validation_data=val_data, epochs=config.epochs,
                                      callbacks=callbacks, verbose=1 if verbose == 1 else 0)
        train_seconds = time.perf_counter() - started
        predicted = predict_windows(model, inputs, val_ids)  # (val windows, horizon), scaled

    history = {key: [float(v) for v in fit_history.history.get(key, [])] for key in ("loss", "val_loss")}
    history["epoch_seconds"] = [round(seconds, 3) for seconds in timer.seconds]  # validation pass included
    metrics = _metrics(prepared, keys, predicted, history, train_seconds, model)
    calibration = calibrate(targets[val_ids], predicted)
    return Fitted(model, prepared, placement.description, metrics, history, calibration)


PATIENCE_STEPS = 300  # gradient steps early stopping waits at least, however short an epoch is
BATCH_CEILING = {"cpu": 256}  # the fastest batch on 2 CPU cores (bench/throughput.py); accelerators: 1024


def choose_batch_size(train_windows: int, device: str) -> int:
    """The default batch: 32 (the common choice, and the best on small series) up to 2,047
    training windows, then the power of two that keeps 32 or more gradient steps per pass over
    them, up to 256 on a CPU (windows/s stop rising there) or 1024 on a GPU or TPU."""
    ceiling = BATCH_CEILING.get(device, 1024)
    return int(min(ceiling, max(32, 2 ** math.floor(math.log2(max(train_windows, 1) / 32)))))


def effective_patience(patience: int, steps_per_epoch: int) -> int:
    """Epochs early stopping waits: `patience`, or more when epochs are so short (a small series
    gives a few gradient steps each) that `patience` epochs are too few steps to tell a plateau
    from noise. Patience 0 (stop at the first epoch without improvement) is kept as asked."""
    if patience == 0:
        return 0
    return max(patience, math.ceil(PATIENCE_STEPS / max(1, steps_per_epoch)))


def predict_windows(model, windows: np.ndarray, rows: np.ndarray | None = None, batch_size: int = 1024) -> np.ndarray:
    """Scaled forecasts for `windows` (or those at `rows`), in batches through the model's compiled
    predict step (calling the model eagerly would run each recurrent step from Python). `windows`
    may be a strided view: only one batch at a time is copied, so memory does not grow with
    windows x lookback."""
    rows = np.arange(len(windows)) if rows is None else np.asarray(rows)
    out = [
        np.asarray(model.predict_on_batch(np.ascontiguousarray(windows[rows[i : i + batch_size]])))
        for i in range(0, len(rows), batch_size)
    ]
    return np.concatenate(out, axis=0)


def _seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)  # Python, NumPy and the backend's generators
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Same data, same machine, same seed: the same model, at a small cost in speed.
        tf.config.experimental.enable_op_determinism()


def _stop_on_request(keras):
    class StopOnRequest(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if stopping.requested():
                self.model.stop_training = True

    return StopOnRequest()


def epoch_timer():
    """A Keras callback whose `seconds` lists each epoch's wall seconds (also used by bench/)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall seconds of each epoch, so throughput can be read without the first epoch's tracing."""

        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    return EpochTimer()


def _epoch_log(keras, epochs: int, log: Log):
    class EpochLog(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            log(f"epoch {epoch + 1}/{epochs}: loss {logs.get('loss', float('nan')):.4g}, "
                f"val_loss {logs.get('val_loss', float('nan')):.4g}")

    return EpochLog()


def _window_batches(keras):
    class WindowBatches(keras.utils.PyDataset):
        """Batches gathered from strided window views: only one batch is ever copied.

        With `shuffle_seed`, each epoch visits the windows in a new random order and, when there
        are more than `draw`, only the first `draw` of that order.
        """

        def __init__(self, inputs, targets, ids, batch_size, shuffle_seed=None, draw=None):
            super().__init__()
            self.inputs, self.targets = inputs, targets
            self.ids = np.array(ids)
            self.batch_size = batch_size
            self.size = len(self.ids) if draw is None else min(draw, len(self.ids))
            self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
            self.on_epoch_end()

        def __len__(self):
            return math.ceil(self.size / self.batch_size)

        def __getitem__(self, index):
            ids = self.ids[index * self.batch_size : min((index + 1) * self.batch_size, self.size)]
            return self.inputs[ids], self.targets[ids]  # (batch, lookback, columns), (batch, horizon)

        def on_epoch_end(self):
            if self.rng is not None:
                self.rng.shuffle(self.ids)

    return WindowBatches


def _metrics(prepared: Prepared, keys, predicted, history, train_seconds, model) -> dict:
    """Validation MAE in the data's units, beside the baselines' on the same windows (pooled over series)."""
    config = prepared.config
    season = season_length(prepared.panel.first.frequency)
    errors = {"model": [], **{name: [] for name in BASELINES}}
    row = 0
    for key in keys:
        series, split = prepared.panel.series[key], prepared.splits[key]
        target = series.frame[series.target].to_numpy()
        actual = target_windows(target, config.lookback, config.horizon)[split.val_start :]  # (val, horizon)
        forecast = inverse_target(prepared.scalers[key], predicted[row : row + split.n_val])
        row += split.n_val
        errors["model"].append(np.abs(forecast - actual).ravel())
        ends = np.arange(split.val_start, split.n_windows) + config.lookback  # rows seen by each window
        for name in BASELINES:
            errors[name].append(np.abs(baseline_windows(name, target, ends, config.horizon, season) - actual).ravel())
    mean = {name: float(np.mean(np.concatenate(parts))) for name, parts in errors.items()}
    val_loss = history["val_loss"]
    return {
        "epochs_run": len(history["loss"]),
        "best_epoch": int(np.argmin(val_loss)) + 1 if val_loss else 0,
        "best_val_loss": min(val_loss) if val_loss else None,
        "val_mae": mean["model"],
        **{f"{name}_mae": mean[name] for name in BASELINES},
        "season": season,
        "series": len(keys),
        "train_windows": int(sum(s.n_train for s in prepared.splits.values())),
        "val_windows": int(sum(s.n_val for s in prepared.splits.values())),
        "parameters": int(model.count_params()),
        "train_seconds": round(train_seconds, 3),
    }


def _metadata(fitted: Fitted, data_config: DataConfig) -> dict:
    import keras

    try:
        # Read the installed version without importing TensorFlow on another backend.
        tf_version = importlib.metadata.version("tensorflow")
    except importlib.metadata.PackageNotFoundError:
        tf_version = None
    prepared = fitted.prepared
    first = prepared.panel.first
    return {
        "forecast_version": __version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf_version,
        "backend": keras.backend.backend(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": first.source,
        "id_col": prepared.panel.id_col,
        "time_col": first.time_col,
        "target": first.target,
        "features": list(first.features),
        "frequency": first.frequency,
        "series": {key: _series_metadata(s, prepared.config.lookback) for key, s in prepared.panel.series.items()},
        "data_config": config_to_dict(data_config),
        "config": config_to_dict(prepared.config),
        "seed": prepared.config.seed,
        "strategy": fitted.placement,
        "metrics": fitted.metrics,
        "intervals": fitted.calibration,
        "loss_history": fitted.history,
    }


def _series_metadata(series: Series, lookback: int) -> dict:
    frame, stamp = series.frame, lambda t: format_timestamp(t, series.frequency)
    recent = frame.iloc[-lookback:]
    tail = frame[series.target].iloc[-max(lookback, RECENT_ROWS) :]
    return {
        "frequency": series.frequency,
        "rows": len(frame),
        "first_timestamp": stamp(frame.index[0]),
        "last_timestamp": stamp(frame.index[-1]),
        # The last `lookback` rows in the data's units, so predict needs no data file.
        "history": {"timestamps": [stamp(t) for t in recent.index], "values": recent.to_numpy().tolist()},
        # A longer stretch of the target alone, drawn beside the forecast by `predict --plot`.
        "recent_target": {"timestamps": [stamp(t) for t in tail.index], "values": tail.tolist()},
    }
