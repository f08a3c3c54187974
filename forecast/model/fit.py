"""Fitting a network: series split and scaled, the Keras fit loop and its heuristics, and what
training learns about the model on its validation windows (metrics and interval calibration).

`prepare` needs no Keras (so bad input is refused before the import); `fit` imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import CycleInputs, TargetTransform, TrainConfig, WindowNorm
from forecast.data.cycles import cycles_for
from forecast.data.date_inputs import DateInputs
from forecast.data.frequency import check_forecast_end, describe_frequency, format_timestamp, frequency_kind, season_length
from forecast.data.load import Panel
from forecast.data.public_holidays import load_holidays
from forecast.data.scaling import Scaler, first_not_positive, fit_scaler, scale_target
from forecast.data.windowing import Split, input_windows, plan_split, target_windows
from forecast.errors import ConfigError, DataError
from forecast.evaluation.baselines import BASELINES, baseline_windows
from forecast.evaluation.intervals import MIN_RESIDUALS, Calibration, calibrate, calibrate_residuals
from forecast.model import stopping
from forecast.model.backend import import_keras
from forecast.model.forecaster import Forecaster, known_columns
from forecast.model.runners import keras_runner

Log = Callable[[str], None]
PATIENCE_STEPS = 300  # gradient steps early stopping waits at least, however short an epoch is
REFITS, REFIT_BELOW = 3, 99  # default --interval-refits, when the validation part has fewer origins
ROLLED_BLOCKS = 4  # interval calibration follows rolled forecasts up to this many trained horizons
ROLLED_ORIGINS = 20_000  # at most this many validation origins are rolled for it, over all series
BATCH_CEILING = {"cpu": 256}  # the fastest batch on 2 CPU cores (bench/throughput.py); accelerators: 1024


@dataclasses.dataclass
class Prepared:
    """Series split and scaled, each on its own, checked before Keras is imported."""

    panel: Panel
    config: TrainConfig  # with the lookback resolved
    splits: dict[str, Split]
    scalers: dict[str, Scaler]
    dates: DateInputs = DateInputs()  # cycle positions and holidays the network reads (resolved)

    @property
    def n_inputs(self) -> int:
        """Inputs per window step: the columns (target first), then the date inputs."""
        return len(self.panel.first.columns) + self.dates.width

    @property
    def known_columns(self) -> list[int]:
        """Which of a row's inputs are known over the forecast period: the future features, then the date inputs."""
        return known_columns(self.panel.first.features, self.panel.first.future_features, self.dates)

    def inputs(self, key: str) -> np.ndarray:
        """Series `key`'s rows as the network reads them: scaled, then its date inputs."""
        series = self.panel.series[key]
        scaled = self.scalers[key].transform(series.frame.to_numpy())
        return np.concatenate([scaled, self.dates(series.frame.index)], axis=1)


@dataclasses.dataclass(frozen=True)
class Metrics:
    """What training measured, stored in the bundle. Validation MAEs are in the data's units,
    pooled over every series' validation windows; baselines forecast the same windows.
    Bundles written before a field existed read it as None."""

    val_mae: float
    naive_mae: float | None = None
    seasonal_naive_mae: float | None = None
    drift_mae: float | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None  # scaled, the training loss
    season: int | None = None  # the season length seasonal naive used
    series_count: int | None = None  # stored as "series"
    train_windows: int | None = None
    val_windows: int | None = None
    parameters: int | None = None
    train_seconds: float | None = None

    def baselines(self) -> dict[str, float]:
        """Each baseline's validation MAE, by name (those the bundle recorded)."""
        return {name: getattr(self, f"{name}_mae") for name in BASELINES if getattr(self, f"{name}_mae") is not None}

    def to_dict(self) -> dict:
        """JSON-ready, in the order a bundle stores it."""
        order = ("epochs_run", "best_epoch", "best_val_loss", "val_mae", *(f"{n}_mae" for n in BASELINES),
                 "season", "series_count", "train_windows", "val_windows", "parameters", "train_seconds")
        return {_STORED.get(name, name): getattr(self, name) for name in order}

    @classmethod
    def from_dict(cls, stored: dict) -> "Metrics":
        """From a bundle's metrics; keys this forecast does not know are ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        renamed = {_FIELDS.get(key, key): value for key, value in stored.items()}
        return cls(**{key: value for key, value in renamed.items() if key in names})


_STORED = {"series_count": "series"}  # field -> key in metadata.json, where a field's name differs
_FIELDS = {key: field for field, key in _STORED.items()}


@dataclasses.dataclass
class Fitted:
    """A trained model with everything learnt about it on its validation windows."""

    model: object  # keras.Model
    prepared: Prepared
    placement: str  # the strategy's description
    metrics: Metrics
    loss_history: dict[str, list[float]]  # per-epoch loss, val_loss and epoch_seconds
    calibration: Calibration  # interval half-widths on the scaled target, per level and step
    selection: "Selection | None" = None  # what --window-norm auto chose, and why
    window_errors: np.ndarray | None = None  # (validation windows, horizon) absolute errors, data units; not stored
    # Each network --window-norm auto trained, by name -> its loss history (the loss plot draws
    # them when a baseline is kept, which trained nothing); not stored.
    raced: dict[str, dict[str, list[float]]] = dataclasses.field(default_factory=dict)
    started_from: str | None = None  # the version whose weights a warm start began from

    def forecaster(self) -> Forecaster:
        """The model as a forecaster, through Keras's compiled batch call."""
        return make_forecaster(self.model, self.prepared, self.calibration)


def make_forecaster(model, prepared: Prepared, calibration: Calibration | None = None) -> Forecaster:
    """A Keras model trained on `prepared` as a forecaster, with its scalers, lookback and horizon."""
    config = prepared.config
    first = prepared.panel.first
    return Forecaster(keras_runner(model), prepared.scalers, config.lookback, config.horizon, tuple(first.features),
                      calibration, prepared.dates, first.future_features)


def choose_lookback(season: int, trained_horizon: int, shortest: int) -> int:
    """The default lookback: two seasons or two horizons, whichever is longer, but no more than
    the shortest series can spare after three horizons (so it still has windows to learn from)."""
    wanted = max(2 * season, 2 * trained_horizon, 8)
    return max(1, min(wanted, max(trained_horizon, shortest - 3 * trained_horizon)))


def prepare(panel: Panel, train_config: TrainConfig, log: Log = lambda message: None) -> Prepared:
    """Split each series' windows and fit its scaler on its training rows only (no Keras).

    Raises:
        DataError: a series too short for the windows, or with a column constant in its training part.
    """
    config = train_config
    if config.lookback is None:
        shortest = min(len(s.frame) for s in panel.series.values())
        lookback = choose_lookback(season_length(panel.first.frequency), config.horizon, shortest)
        config = dataclasses.replace(config, lookback=lookback)
    log_target = config.target_transform is TargetTransform.log
    if log_target:
        _check_positive(panel)
    splits, scalers = {}, {}
    for key, series in panel.series.items():
        try:
            split = plan_split(len(series.frame), config.lookback, config.horizon, config.val_fraction)
            # A model whose forecasts could not be dated is refused now, not at its first predict.
            check_forecast_end(series.frame.index[-1], config.horizon, series.frequency, "the series")
            values = series.frame.to_numpy()  # (rows, columns); column 0 is the target
            splits[key], scalers[key] = split, fit_scaler(values[: split.boundary], series.columns, log_target)
        except DataError as exc:
            raise DataError(f"series {key!r}: {exc}" if key else str(exc)) from None
    cycles = cycles_for(panel.first.frequency) if config.cycle_inputs is CycleInputs.auto else ()
    return Prepared(panel, config, splits, scalers, DateInputs(cycles, _holidays(panel, config.holidays, log)))


def _holidays(panel: Panel, code: str | None, log: Log):
    """The holidays of `code` over the panel's years and YEARS_AHEAD after, or None.

    Raises:
        ConfigError: an unknown code, or data whose steps are longer than a day (a holiday is a day).
    """
    if code is None:
        return None
    frequency = panel.first.frequency
    if frequency_kind(frequency) not in ("s", "min", "h", "D", "B"):
        raise ConfigError(f"--holidays marks days, so it needs daily or finer data; this series is "
                          f"{describe_frequency(frequency)}. Drop --holidays, or add your own holiday column with --future-features.")
    first = min(s.frame.index[0] for s in panel.series.values())
    last = max(s.frame.index[-1] for s in panel.series.values())
    holidays = load_holidays(code, first, last)
    inside = [day for day in holidays.dates if first.normalize() <= pd.Timestamp(day) <= last]
    log(f"holidays {code}: {len(inside)} in the data" + (f" ({inside[0]} to {inside[-1]})" if inside else "")
        + f", known to {holidays.until} for forecasts")
    return holidays


def _check_positive(panel: Panel) -> None:
    """Raises DataError unless every target value is above zero (the log form needs it)."""
    for key, series in panel.series.items():
        found = first_not_positive(series.frame[series.target])
        if found is not None:
            where = f"series {key!r} " if key else ""
            raise DataError(
                f"--target-transform log needs a target above zero in every row; {where}column {series.target!r} "
                f"is {found[1]:g} at {found[0]}. Use --target-transform none."
            )


def fit(prepared: Prepared, *, log: Log = lambda m: None, verbose: int = 0, start: "Start | None" = None) -> Fitted:
    """Build and train one model on every prepared series, score it on validation, and calibrate
    its intervals: on the validation errors, or on those of `--interval-refits` models retrained
    at earlier cutoffs (`_refit_calibration`, always from fresh weights: weights that had seen
    the rows after a cutoff would make its errors too small). See `_fit_once` for the training,
    and `Start` for a warm start.
    """
    refits = _refits(prepared, log)
    fitted = _fit_once(prepared, log=log, verbose=verbose, start=start)
    if start is not None:
        fitted = dataclasses.replace(fitted, started_from=start.version)
    if refits:
        fitted = dataclasses.replace(fitted, calibration=_refit_calibration(prepared, refits, log))
    return fitted


@dataclasses.dataclass(frozen=True)
class Start:
    """A warm start: train from these weights, of a network of the same shape trained with `norm`,
    instead of fresh ones, on a shorter schedule (`WARM_PATIENCE_SHARE`); `--window-norm auto`
    then trains that network alone (no race) and still weighs it against the baselines."""

    version: str  # the version the weights come from
    weights: list  # its model's get_weights()
    norm: WindowNorm  # revin, seasonal, last or none: the network it kept


WARM_PATIENCE_SHARE = 4  # a warm start waits this many times fewer epochs for a better validation loss


def _fit_once(prepared: Prepared, *, log: Log = lambda m: None, verbose: int = 0, start: Start | None = None) -> Fitted:
    """Build and train one model on every prepared series, then score and calibrate it on validation.

    With `--window-norm auto` two networks are raced (`_race`), one normalising each window (revin)
    and one correcting its seasonal naive forecast (seasonal), and scored on validation beside seasonal
    naive and naive (the anchored network with its correction at zero, which forecasts them
    exactly). Seasonal naive is kept unless naive beats it by more than one standard error; the
    better network replaces that baseline only by beating it by more than one standard error too.
    `Fitted.selection` records every candidate's validation MAE.

    Args:
        prepared: the split and scaled series (see `prepare`).
        log: receives one-line notes for the user.
        verbose: 0 silent, 1 Keras's progress bar, 2 one log line per epoch.
        start: weights to start from (a warm start), or None for fresh ones.
    """
    import_keras()
    from forecast.model.devices import choose_placement
    from forecast.model.network import anchor_season

    placement = choose_placement(prepared.config.strategy, log=log)
    log(f"strategy: {placement.description}")
    config = prepared.config
    if config.batch_size is None:
        n_train = sum(split.n_train for split in prepared.splits.values())
        config = dataclasses.replace(config, batch_size=choose_batch_size(n_train, "gpu" if placement.accelerator else "cpu"))
        prepared = dataclasses.replace(prepared, config=config)
        where = "an accelerator" if placement.accelerator else "the CPU"
        split = f", each batch split over {placement.replicas} replicas" if placement.replicas > 1 else ""
        log(f"batch size: {config.batch_size} ({n_train:,} training windows on {where}{split})")
    if start is not None:
        log(f"warm start: training the {start.norm.value} network on from version {start.version}'s weights")
        run = _Run(_with_norm(prepared, start.norm), placement, log, verbose, start=start.weights)
        run.advance(config.epochs)
        if config.window_norm is not WindowNorm.auto:
            return run.finish()
        candidates = {start.norm.value: run.finish()}
    elif config.window_norm is not WindowNorm.auto:
        return _train(prepared, placement, log, verbose)
    else:
        candidates = _race(prepared, placement, log, verbose)
    # The baselines as candidates: the anchored network with its correction at zero forecasts
    # seasonal naive exactly, and anchored on the last value, naive. Their errors are computed
    # directly; the network is built only for the one kept.
    season = season_length(prepared.panel.first.frequency)
    anchors = {name: anchor_season(anchor or season, config.lookback) for name, anchor in BASELINE_CANDIDATES.items()
               if name == SEASONAL_NAIVE or anchor_season(season, config.lookback) > 1}  # else naive repeats seasonal naive
    errors = {**{name: fitted.window_errors for name, fitted in candidates.items()},
              **{name: _anchor_errors(prepared, anchor) for name, anchor in anchors.items()}}
    scores = {name: float(np.mean(values)) for name, values in errors.items()}
    chosen, error = _choose(errors, prepared, log)
    log(f"window norm auto: kept {chosen} (validation MAE " + ", ".join(f"{n} {v:.4g}" for n, v in scores.items()) + ")")
    finite = {name: (value if math.isfinite(value) else None) for name, value in scores.items()}
    if chosen in anchors:
        anchored = _with_norm(prepared, WindowNorm.seasonal)
        kept = _validate(anchored, placement, _zero_correction(anchored, placement, anchors[chosen]))
    else:
        kept = candidates[chosen]
    spent = sum(fitted.metrics.train_seconds for fitted in candidates.values())  # the choice cost every candidate
    metrics = dataclasses.replace(kept.metrics, train_seconds=round(spent, 3))
    raced = {name: fitted.loss_history for name, fitted in candidates.items()}
    return dataclasses.replace(kept, metrics=metrics, selection=Selection(chosen, finite, error), raced=raced)


def _race(prepared: Prepared, placement, log: Log, verbose: int) -> dict[str, Fitted]:
    """The `--window-norm auto` networks, trained by racing: each for as many epochs as early
    stopping's patience, then only the one with the lower validation MAE on to the end; the
    other stays a candidate as it stands, at its best epoch so far. The race is judged by the
    measure the choice is made on (validation MAE in the data's units, which weighs series as
    the choice does, where each series' scaled loss would not), and costs about one network's
    training instead of two."""
    runs, scored = {}, {}
    for norm in AUTO_CANDIDATES:
        log(f"window norm auto: training the {norm.value} network")
        runs[norm.value] = run = _Run(_with_norm(prepared, norm), placement, log, verbose)
        rung = max(1, run.patience)  # the same for both: they train on the same windows
        run.advance(rung)
        scored[norm.value] = run.snapshot()
    scores = {name: fitted.metrics.val_mae for name, fitted in scored.items()}
    leader = min(scores, key=lambda name: scores[name] if math.isfinite(scores[name]) else math.inf)  # ties: the earlier
    if not runs[leader].finished:
        log(f"window norm auto: the {leader} network leads after {rung} epochs (validation MAE "
            + ", ".join(f"{name} {value:.4g}" for name, value in scores.items()) + "); training it on alone")
        runs[leader].advance(prepared.config.epochs)
        scored[leader] = runs[leader].finish()
    return scored


def _choose(errors: dict[str, np.ndarray], prepared: Prepared, log: Log) -> tuple[str, float | None]:
    """The candidate `--window-norm auto` keeps, and the standard error its network was judged by.

    The one-standard-error rule, from seasonal naive up: naive replaces it, and the better network
    then replaces the baseline kept, only by winning on validation by more than the noise of the
    comparison, which few validation windows make large; and a network never loses to either
    baseline. A diverged network (a MAE that is not a number) never wins.

    Args:
        errors: each candidate's (validation windows, horizon) absolute errors, in the data's units.
    """
    scores = {name: float(np.mean(values)) for name, values in errors.items()}
    chosen = SEASONAL_NAIVE
    if NAIVE in errors and _beats(errors[NAIVE], errors[SEASONAL_NAIVE], prepared, NAIVE, SEASONAL_NAIVE, log)[0]:
        chosen = NAIVE
    networks = [name for name in errors if name not in BASELINE_CANDIDATES and math.isfinite(scores[name])]
    best = min(networks, key=scores.get, default=None)  # ties go to the earlier network
    if best is None:
        return chosen, None
    wins, error = _beats(errors[best], errors[chosen], prepared, f"the {best} network", chosen, log)
    if wins and scores[best] < min(scores[name] for name in errors if name in BASELINE_CANDIDATES):
        chosen = best
    return chosen, error


def _beats(challenger: np.ndarray, incumbent: np.ndarray, prepared: Prepared, name: str, against: str, log: Log) -> tuple[bool, float]:
    """Whether `challenger`'s window errors have a lower mean than `incumbent`'s by more than one
    standard error of the difference, and that standard error; a near miss is logged."""
    gain, error = _gain(incumbent, challenger, prepared)
    if 0 < gain <= error:
        log(f"window norm auto: {name} beats {against} on validation by {gain:.4g}, less than one standard "
            f"error ({error:.4g}): keeping {against}")
    return gain > error, error


def _gain(incumbent: np.ndarray, challenger: np.ndarray, prepared: Prepared) -> tuple[float, float]:
    """How much lower the challenger's validation MAE is than the incumbent's, and the standard
    error of that difference.

    The difference is taken window by window (both forecast the same windows). Windows a step
    apart share all but one target, so they count as one independent window per horizon of each
    series; with fewer than two of those nothing can be told apart, and the error is infinite.
    """
    difference = (incumbent - challenger).mean(axis=1)  # (windows,)
    independent = sum(math.ceil(split.n_val / prepared.config.horizon) for split in prepared.splits.values())
    gain = float(difference.mean())
    if independent < 2 or len(difference) < 2:
        return gain, math.inf
    return gain, float(difference.std(ddof=1) / math.sqrt(independent))


AUTO_CANDIDATES = (WindowNorm.revin, WindowNorm.seasonal)  # the networks `--window-norm auto` trains
SEASONAL_NAIVE = "seasonal naive"  # the anchored network with a zero correction
NAIVE = "naive"  # the same anchored on the last value
BASELINE_CANDIDATES = {SEASONAL_NAIVE: None, NAIVE: 1}  # name -> anchor season (None: the data's)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What `--window-norm auto` chose, and the validation MAE of each candidate."""

    chosen: str  # "revin", "seasonal", "seasonal naive" or "naive"
    val_mae: dict[str, float | None]  # None: that network diverged
    # Of the best network's gain over the baseline kept before it; None when every network diverged.
    standard_error: float | None = None

    def to_dict(self) -> dict:
        error = self.standard_error
        return {"chosen": self.chosen, "val_mae": self.val_mae,
                "standard_error": None if error is None or not math.isfinite(error) else error}


def _with_norm(prepared: Prepared, norm: WindowNorm) -> Prepared:
    return dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, window_norm=norm))


def _train(prepared: Prepared, placement, log: Log, verbose: int) -> Fitted:
    """Train one network (its window norm resolved) to the end, and validate it."""
    run = _Run(prepared, placement, log, verbose)
    run.advance(prepared.config.epochs)
    return run.finish()


class _Run:
    """One network's training, which can stop after any epoch and go on later where it stopped:
    `--window-norm auto` trains its networks a few epochs each, then only the leader on.
    Early stopping and the learning-rate schedule keep their state between the stages."""

    def __init__(self, prepared: Prepared, placement, log: Log, verbose: int, start: list | None = None):
        keras = import_keras()
        from forecast.model.network import build_model, compile_model, training_view

        self.prepared, self.placement, self.verbose = prepared, placement, verbose
        config = prepared.config
        _seed_everything(config.seed)
        # All series end to end in one array; a window is kept only if it lies inside one series.
        keys = list(prepared.panel.series)
        arrays = [prepared.inputs(k) for k in keys]
        offsets = np.cumsum([0] + [len(a) for a in arrays])[:-1]
        scaled = np.concatenate(arrays).astype("float32")  # (rows of all series, columns)
        inputs = input_windows(scaled, config.lookback)  # (rows - lookback + 1, lookback, columns)
        targets = target_windows(scaled[:, 0], config.lookback, config.horizon)  # (windows, horizon)
        columns = prepared.known_columns
        # Window i's known inputs: those of the rows it forecasts, as a view like the windows.
        known = input_windows(scaled[config.lookback :, columns], config.horizon) if columns else None
        splits = [prepared.splits[k] for k in keys]
        train_ids = np.concatenate([o + np.arange(s.n_train) for o, s in zip(offsets, splits)])
        val_ids = np.concatenate([o + np.arange(s.val_start, s.n_windows) for o, s in zip(offsets, splits)])
        batches = _window_batches(keras)
        self.train_data = batches(inputs, known, targets, train_ids, config.batch_size, shuffle_seed=config.seed,
                                  draw=config.epoch_windows)
        # Early stopping watches a fixed sample of the validation windows; the metrics use them all.
        monitored = np.sort(np.random.default_rng(config.seed).permutation(val_ids)[: config.epoch_windows])
        self.val_data = batches(inputs, known, targets, monitored, max(config.batch_size, 256))

        self.patience = effective_patience(config.patience, len(self.train_data))
        if start is not None:
            # Training starts near a good fit, so a plateau shows sooner.
            self.patience = math.ceil(self.patience / WARM_PATIENCE_SHARE)
            log(f"warm start: patience {self.patience} epochs")
        elif self.patience > config.patience:
            log(f"patience: {self.patience} epochs (an epoch here is only {len(self.train_data)} gradient steps)")
        with placement.scope():
            self.model = build_model(config, n_features=prepared.n_inputs, season=season_length(prepared.panel.first.frequency),
                                     n_known=len(columns))
            if start is not None:
                self.model.set_weights(start)
            self.members = training_view(self.model)  # the members of an ensemble, each fitted on its own
            compile_model(self.members, config)
        self.early_stopping = _staged(keras.callbacks.EarlyStopping)(monitor="val_loss", patience=self.patience, restore_best_weights=True)
        if start is not None:
            # The weights it starts from are the first candidate: no epoch that does worse on
            # validation replaces them.
            with placement.scope():
                self.early_stopping.initial = (_evaluate_loss(self.members, self.val_data), self.members.get_weights())
        self.timer = epoch_timer()
        self.callbacks = [
            self.early_stopping,
            # Halve the step when validation stalls, well before early stopping gives up.
            _staged(keras.callbacks.ReduceLROnPlateau)(
                monitor="val_loss", factor=0.5, patience=max(1, self.patience // 2), min_lr=1e-6
            ),
        ]
        if verbose == 2:  # one log line per epoch instead of Keras's lines on stdout
            self.callbacks.append(_epoch_log(keras, config.epochs, log))
        self.callbacks += [_stop_on_request(keras), self.timer]
        self.history: dict[str, list[float]] = {"loss": [], "val_loss": []}
        self.seconds = 0.0
        self.finished = False  # early stopping ended it, or it ran every epoch
        self.paused = None  # the weights training stood at when a snapshot restored the best ones

    @property
    def epochs_run(self) -> int:
        return len(self.history["loss"])

    @property
    def best_val_loss(self) -> float:
        """The lowest validation loss so far; infinite before the first epoch or when it diverged."""
        best = self.early_stopping.best
        return float(best) if best is not None and math.isfinite(best) else math.inf

    def advance(self, epochs: int) -> None:
        """Train until `epochs` epochs have run in all, or early stopping ends it first."""
        epochs = min(epochs, self.prepared.config.epochs)
        if self.finished or epochs <= self.epochs_run:
            return
        if self.paused is not None:  # a snapshot left the best epoch's weights in place
            self.members.set_weights(self.paused)
            self.paused = None
        started = time.perf_counter()
        with self.placement.scope(), stopping.cooperative():  # a signal stops training after the current batch, then raises
            fitted = self.members.fit(self.train_data, validation_data=self.val_data, initial_epoch=self.epochs_run,
                                      epochs=epochs, callbacks=self.callbacks, verbose=1 if self.verbose == 1 else 0)
        self.seconds += time.perf_counter() - started
        for key in self.history:
            self.history[key] += [float(v) for v in fitted.history.get(key, [])]
        self.finished = self.epochs_run < epochs or self.epochs_run >= self.prepared.config.epochs  # stopped early, or done

    def finish(self) -> Fitted:
        """Stop here: back to the weights of the best epoch, then validate."""
        self.early_stopping.restore()
        loss_history = {**self.history, "epoch_seconds": [round(s, 3) for s in self.timer.seconds]}  # validation pass included
        fitted = _validate(self.prepared, self.placement, self.model, loss_history, self.seconds)
        if self.early_stopping.best_epoch < 0:  # a warm start whose starting weights no epoch beat
            metrics = dataclasses.replace(fitted.metrics, best_epoch=0, best_val_loss=float(self.early_stopping.best))
            fitted = dataclasses.replace(fitted, metrics=metrics)
        return fitted

    def snapshot(self) -> Fitted:
        """Validated as `finish` would, at the best epoch so far. The network stays at those
        weights, so a candidate kept as it stands forecasts with the weights it was scored with;
        `advance` first puts back the weights training stood at, and goes on from there."""
        self.paused = self.members.get_weights()
        return self.finish()


def _staged(callback_class):
    """`callback_class` keeping its state across the fit calls of one training run; an early
    stopping callback restores the best weights only when asked (`restore`), at the run's end."""

    class Staged(callback_class):
        started = False
        initial = None  # early stopping: (validation loss, weights) to beat, epoch 0's

        def on_train_begin(self, logs=None):
            if not self.started:
                self.started = True
                super().on_train_begin(logs)
                if self.initial is not None:
                    self.best, self.best_weights = self.initial
                    self.best_epoch = -1  # before the first epoch

        def on_train_end(self, logs=None):
            pass

        def restore(self):
            super().on_train_end()

    return Staged


def _evaluate_loss(model, batches) -> float:
    """The compiled loss of `model` over `batches`, as fit reports val_loss."""
    result = model.evaluate(batches, verbose=0, return_dict=True)
    return float(result["loss"])


def _zero_correction(prepared: Prepared, placement, season: int):
    """A fresh anchored network: its correction head starts at zero, so it forecasts its anchor
    exactly (seasonal naive for the data's season, naive for season 1)."""
    from forecast.model.network import build_model

    with placement.scope():
        return build_model(prepared.config, n_features=prepared.n_inputs, season=season, n_known=len(prepared.known_columns))


def _anchor_errors(prepared: Prepared, anchor: int) -> np.ndarray:
    """The (validation windows, horizon) absolute errors, in the data's units, of `_zero_correction`'s
    network for `anchor` (seasonal naive at that season, naive at 1), computed without it: it
    forecasts its anchor exactly (tests/model/test_fit.py checks that it does)."""
    config = prepared.config
    errors = []
    for key, series in prepared.panel.series.items():
        split = prepared.splits[key]
        target = series.frame[series.target].to_numpy()
        actual = target_windows(target, config.lookback, config.horizon)[split.val_start :]
        ends = np.arange(split.val_start, split.n_windows) + config.lookback
        errors.append(np.abs(baseline_windows("seasonal_naive", target, ends, config.horizon, anchor) - actual))
    return np.concatenate(errors)


def _validate(prepared: Prepared, placement, model, loss_history: dict | None = None, train_seconds: float = 0.0) -> Fitted:
    """Forecast every validation window once, through the forecasting path predict uses, and
    measure the model on them; calibrate its intervals on every origin of the validation part."""
    config = prepared.config
    horizon = config.horizon
    rows = {key: s.frame.to_numpy() for key, s in prepared.panel.series.items()}
    # Every origin whose first step is a validation row, the last horizon − 1 included: their
    # early steps add residuals where a short validation part has few.
    origins = {key: np.arange(s.val_start + config.lookback, len(rows[key])) for key, s in prepared.splits.items()}
    model = _one_device(model, placement)
    with contextlib.nullcontext() if placement.distributed else placement.scope():
        forecaster = make_forecaster(model, prepared)
        rolled = _rolled_origins(origins, rows, horizon) if forecaster.rolls else {}
        steps = _calibrated_steps(rolled, rows, horizon)
        stamps = {key: _continued(s, steps) for key, s in prepared.panel.series.items()}
        direct = _ahead(forecaster, rows, stamps, origins, horizon, prepared.scalers)  # per series (actual, forecast), scaled
        later = _ahead(forecaster, rows, stamps, rolled, steps, prepared.scalers) if steps > horizon else {}
    # Each step's residuals: the first `horizon` from every origin, the later ones from the
    # rolled origins (a (origins, steps) array padded for the others would grow with both).
    residuals = _step_residuals(direct.values(), 0)
    if later:
        residuals += _step_residuals(later.values(), horizon)
    calibration = calibrate_residuals(residuals)
    # The first n_val origins are the validation windows, which have every step.
    forecasts = {key: forecaster.unscale(key, direct[key][1][: prepared.splits[key].n_val]) for key in rows}
    loss_history = loss_history or {"loss": [], "val_loss": [], "epoch_seconds": []}
    metrics, errors = _metrics(prepared, forecasts, loss_history, train_seconds, model)
    return Fitted(model, prepared, placement.description, metrics, loss_history, calibration, window_errors=errors)


def _step_residuals(pairs, first: int) -> list[np.ndarray]:
    """Per step from `first` on, the absolute errors of (actual, forecast) pairs of (origins,
    steps) arrays, where the actual value is known (not past the data's end)."""
    actual = np.concatenate([seen[:, first:] for seen, _ in pairs])
    errors = np.abs(actual - np.concatenate([made[:, first:] for _, made in pairs]))
    return [column[np.isfinite(known)] for column, known in zip(errors.T, actual.T)]


def _one_device(model, placement):
    """`model` itself, or where it was trained as several replicas, a copy on one device: the one
    that is validated, saved and forecasts (a replicated model's batch call splits or repeats
    its input across the replicas)."""
    if not placement.distributed:
        return model
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _ahead(forecaster: Forecaster, rows: dict[str, np.ndarray], stamps: dict, origins: dict[str, np.ndarray],
           steps: int, scalers: dict[str, Scaler]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per series, what happened and what was forecast `steps` ahead of each origin, both
    (origins, steps) on the target as `scalers` scale it (the model the intervals are for, which
    a refit is not); the actual value is NaN past the data's end."""
    predicted = forecaster.forecast({key: rows[key] for key in origins}, steps, origins, stamps)
    out = {}
    for key, at in origins.items():
        target = np.concatenate([rows[key][:, 0], np.full(steps, np.nan)])
        ahead = np.lib.stride_tricks.sliding_window_view(target, steps)[at]
        with np.errstate(invalid="ignore"):
            out[key] = (scale_target(scalers[key], ahead), scale_target(scalers[key], predicted[key]))
    return out


def _refits(prepared: Prepared, log: Log) -> int:
    """How many models `--interval-refits` retrains: as asked, or by default REFITS when the
    validation part has fewer than REFIT_BELOW origins, as many as the history allows.

    Raises:
        DataError: the refits asked for leave the earliest too little history to train on.
    """
    config = prepared.config
    asked = config.interval_refits
    if asked == 0:
        return 0
    if asked is None:
        origins = sum(len(s.frame) - split.val_start - config.lookback
                      for s, split in zip(prepared.panel.series.values(), prepared.splits.values()))
        if origins >= REFIT_BELOW:
            return 0
    wanted = REFITS if asked is None else asked
    for refits in range(wanted, 0, -1):
        earliest = prepared.panel.head(_refit_origins(prepared.panel, config.horizon, refits))
        try:
            prepare(earliest, _refit_config(config))
        except DataError as exc:
            if asked is not None:
                rows = min(len(s.frame) for s in earliest.series.values())
                raise DataError(f"{exc} (The earliest of {asked} --interval-refits learns from {rows} rows: "
                                "use fewer, or 0 to calibrate on the validation errors.)") from None
            continue
        if refits < wanted:
            log(f"intervals: the history allows {refits} of {wanted} refits")
        return refits
    log("intervals: the history is too short to retrain at earlier cutoffs; calibrating on the validation errors")
    return 0


def _refit_origins(panel: Panel, horizon: int, refit: int) -> dict[str, int]:
    """The first of the `horizon` origins refit number `refit` (from 1, the latest) forecasts from,
    per series: the blocks count back from the last window that ends on the last row."""
    return {key: len(s.frame) - (refit + 1) * horizon + 1 for key, s in panel.series.items()}


def _refit_config(config: TrainConfig) -> TrainConfig:
    return dataclasses.replace(config, interval_refits=0)


def _refit_calibration(prepared: Prepared, refits: int, log: Log) -> Calibration:
    """Intervals from `refits` models, each trained as `fit` trains (window norm race, early
    stopping) on the rows before a block of `horizon` origins and forecasting from each of them,
    rolled past the horizon as far as the data reaches. Their errors are the whole recipe's on
    data it never saw, where the validation windows' errors run small: they chose the epoch early
    stopping restored and the network `--window-norm auto` kept."""
    config, panel = prepared.config, prepared.panel
    horizon = config.horizon
    rows = {key: s.frame.to_numpy() for key, s in panel.series.items()}
    firsts = [_refit_origins(panel, horizon, refit) for refit in range(1, refits + 1)]
    blocks = [{key: np.arange(first[key], first[key] + horizon) for key in rows} for first in firsts]
    pooled = {key: np.concatenate([block[key] for block in blocks]) for key in rows}
    first = panel.first
    steps = _calibrated_steps(pooled, rows, horizon) if len(first.future_features) == len(first.features) else horizon
    stamps = {key: _continued(s, steps) for key, s in panel.series.items()}
    actual, forecast = [], []
    for refit, (first, block) in enumerate(zip(firsts, blocks), start=1):
        started = time.perf_counter()
        fitted = _fit_once(prepare(panel.head(first), _refit_config(config)))
        for seen, made in _ahead(fitted.forecaster(), rows, stamps, block, steps, prepared.scalers).values():
            actual.append(seen)
            forecast.append(made)
        before = "each block" if len(panel.series) > 1 else format_timestamp(panel.first.frame.index[first[""]], panel.first.frequency)
        log(f"interval refit {refit}/{refits}: trained on the rows before {before} in {time.perf_counter() - started:.1f} s")
    return calibrate(np.concatenate(actual), np.concatenate(forecast), refits=refits)


def _rolled_origins(origins: dict[str, np.ndarray], rows: dict[str, np.ndarray], horizon: int) -> dict[str, np.ndarray]:
    """The validation origins whose rolled forecasts calibrate steps past the trained horizon:
    those with a row after it, thinned evenly to at most ROLLED_ORIGINS over all series."""
    kept = {key: at[at + horizon < len(rows[key])] for key, at in origins.items()}
    stride = max(1, math.ceil(sum(len(at) for at in kept.values()) / ROLLED_ORIGINS))
    return {key: at[::stride] for key, at in kept.items() if len(at)}


def _calibrated_steps(rolled: dict[str, np.ndarray], rows: dict[str, np.ndarray], horizon: int) -> int:
    """The trained horizon, or as far past it (up to ROLLED_BLOCKS horizons) as the rolled
    forecasts leave at least MIN_RESIDUALS actual values at every step."""
    reach = np.sort(np.concatenate([len(rows[key]) - at for key, at in rolled.items()] or [[]]))[::-1]  # steps with an actual
    far = int(reach[MIN_RESIDUALS - 1]) if len(reach) >= MIN_RESIDUALS else 0
    return min(ROLLED_BLOCKS * horizon, max(horizon, far))


def _continued(series, steps: int):
    """A series' timestamps continued `steps` past its end (forecasts past it read their date inputs)."""
    index = series.frame.index
    return index.append(pd.date_range(index[-1], periods=steps + 1, freq=series.step)[1:])


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

        def __init__(self, inputs, known, targets, ids, batch_size, shuffle_seed=None, draw=None):
            super().__init__()
            self.inputs, self.known, self.targets = inputs, known, targets
            self.ids = np.array(ids)
            self.batch_size = batch_size
            self.size = len(self.ids) if draw is None else min(draw, len(self.ids))
            self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)

        def __len__(self):
            return math.ceil(self.size / self.batch_size)

        def __getitem__(self, index):
            ids = self.ids[index * self.batch_size : min((index + 1) * self.batch_size, self.size)]
            if self.known is None:
                return self.inputs[ids], self.targets[ids]  # (batch, lookback, columns), (batch, horizon)
            return (self.inputs[ids], self.known[ids]), self.targets[ids]  # known: (batch, horizon, known inputs)

        def on_epoch_begin(self):
            # At the start of each epoch, not the end: Keras also ends an epoch when a fit call
            # starts, so a run trained in stages would otherwise shuffle once more per stage.
            if self.rng is not None:
                self.rng.shuffle(self.ids)

    return WindowBatches


def _metrics(prepared: Prepared, forecasts: dict[str, np.ndarray], loss_history, train_seconds, model) -> tuple[Metrics, np.ndarray]:
    """Validation MAE in the data's units, beside the baselines' on the same windows (pooled over
    series), and the model's absolute error on each window and step."""
    config = prepared.config
    season = season_length(prepared.panel.first.frequency)
    errors = {"model": [], **{name: [] for name in BASELINES}}
    for key, forecast in forecasts.items():
        series, split = prepared.panel.series[key], prepared.splits[key]
        target = series.frame[series.target].to_numpy()
        actual = target_windows(target, config.lookback, config.horizon)[split.val_start :]  # (val, horizon)
        errors["model"].append(np.abs(forecast - actual))
        ends = np.arange(split.val_start, split.n_windows) + config.lookback  # rows seen by each window
        for name in BASELINES:
            errors[name].append(np.abs(baseline_windows(name, target, ends, config.horizon, season) - actual))
    mean = {name: float(np.mean(np.concatenate(parts))) for name, parts in errors.items()}
    val_loss = loss_history["val_loss"]
    return Metrics(
        epochs_run=len(loss_history["loss"]),
        best_epoch=int(np.argmin(val_loss)) + 1 if val_loss else 0,
        best_val_loss=min(val_loss) if val_loss else None,
        val_mae=mean["model"],
        **{f"{name}_mae": mean[name] for name in BASELINES},
        season=season,
        series_count=len(forecasts),
        train_windows=int(sum(s.n_train for s in prepared.splits.values())),
        val_windows=int(sum(s.n_val for s in prepared.splits.values())),
        parameters=int(model.count_params()),
        train_seconds=round(train_seconds, 3),
    ), np.concatenate(errors["model"])
