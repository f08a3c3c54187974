"""Fitting a network: training it (forecast.model.loop), `--window-norm auto`'s choice, and
what training learns about the model on its validation windows (metrics and interval calibration).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from typing import Callable

import numpy as np

from forecast.config import TrainConfig, WindowNorm
from forecast.data.frequency import format_timestamp, season_length
from forecast.data.load import Panel
from forecast.data.scaling import Scaler, scale_target
from forecast.data.windowing import target_windows
from forecast.errors import DataError
from forecast.evaluation.baselines import BASELINES, baseline_windows
from forecast.evaluation.intervals import MIN_RESIDUALS, Calibration, calibrate, calibrate_residuals
from forecast.model.backend import import_keras
from forecast.model.forecaster import Forecaster
from forecast.model.prepare import Prepared, prepare
from forecast.model.rolling import Pairs, ahead, roll
from forecast.model.runners import keras_runner

Log = Callable[[str], None]
REFITS, REFIT_BELOW = 3, 99  # default --interval-refits, when the validation part has fewer origins
ROLLED_BLOCKS = 4  # interval calibration follows rolled forecasts up to this many trained horizons
ROLLED_ORIGINS = 20_000  # at most this many validation origins are rolled for it, over all series




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
    # The compiled networks it trained, by window norm (forecast.model.loop.Network): interval
    # refits train them again from their first weights instead of compiling new ones; not stored.
    networks: dict = dataclasses.field(default_factory=dict)

    def forecaster(self) -> Forecaster:
        """The model as a forecaster, through Keras's compiled batch call."""
        return make_forecaster(self.model, self.prepared, self.calibration)


def make_forecaster(model, prepared: Prepared, calibration: Calibration | None = None) -> Forecaster:
    """A Keras model trained on `prepared` as a forecaster, with its scalers, lookback and horizon."""
    config = prepared.config
    first = prepared.panel.first
    return Forecaster(keras_runner(model), prepared.scalers, config.lookback, config.horizon, tuple(first.features),
                      calibration, prepared.dates, first.future_features)


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
        trained, networks = fitted.model.get_weights(), dict(fitted.networks)

        def retrain(head: Prepared) -> Forecaster:
            refitted = _fit_once(head, networks=networks)
            networks.update(refitted.networks)  # a network this run did not train is compiled once, too
            return refitted.forecaster()

        fitted = dataclasses.replace(fitted, calibration=_refit_calibration(prepared, retrain, refits, log))
        fitted.model.set_weights(trained)  # the refits may have trained its network again, from its first weights
    return fitted


@dataclasses.dataclass(frozen=True)
class Start:
    """A warm start: train from these weights, of a network of the same shape trained with `norm`,
    instead of fresh ones, on a shorter schedule (`WARM_PATIENCE_SHARE`); `--window-norm auto`
    then trains that network alone (no race) and still weighs it against the baselines."""

    version: str  # the version the weights come from
    weights: list  # its model's get_weights()
    norm: WindowNorm  # revin, seasonal, last or none: the network it kept


def _fit_once(prepared: Prepared, *, log: Log = lambda m: None, verbose: int = 0, start: Start | None = None,
              networks: dict | None = None) -> Fitted:
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
        networks: compiled networks of the same shapes, by window norm, to train again from their
            first weights instead of building new ones (an interval refit's).
    """
    import_keras()
    from forecast.model.devices import choose_placement
    from forecast.model.loop import Run, choose_batch_size

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
        run = Run(_with_norm(prepared, start.norm), placement, log, verbose, start=start.weights)
        run.advance(config.epochs)
        if config.window_norm is not WindowNorm.auto:
            return _trained(run)
        candidates = {start.norm.value: _trained(run)}
    elif config.window_norm is not WindowNorm.auto:
        return _train(prepared, placement, log, verbose, networks or {})
    else:
        candidates = _race(prepared, placement, log, verbose, networks or {})
    # The baselines as candidates: the anchored network with its correction at zero forecasts
    # seasonal naive exactly, and anchored on the last value, naive. Their errors are computed
    # directly; the network is built only for the one kept.
    anchors = {name: _anchor(prepared, name) for name in BASELINE_CANDIDATES
               if name == SEASONAL_NAIVE or _anchor(prepared, SEASONAL_NAIVE) > 1}  # else naive repeats seasonal naive
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
    networks = {name: network for fitted in candidates.values() for name, network in fitted.networks.items()}
    return dataclasses.replace(kept, metrics=metrics, selection=Selection(chosen, finite, error), raced=raced, networks=networks)


def _race(prepared: Prepared, placement, log: Log, verbose: int, networks: dict) -> dict[str, Fitted]:
    """The `--window-norm auto` networks, trained by racing: each for as many epochs as early
    stopping's patience, then only the one with the lower validation MAE on to the end; the
    other stays a candidate as it stands, at its best epoch so far. The race is judged by the
    measure the choice is made on (validation MAE in the data's units, which weighs series as
    the choice does, where each series' scaled loss would not), and costs about one network's
    training instead of two."""
    from forecast.model.loop import Run

    runs, scored = {}, {}
    for norm in AUTO_CANDIDATES:
        log(f"window norm auto: training the {norm.value} network")
        runs[norm.value] = run = Run(_with_norm(prepared, norm), placement, log, verbose, network=networks.get(norm.value))
        run.advance(max(1, run.patience))  # the same for both: they train on the same windows
        rung = run.epochs_run
        scored[norm.value] = _trained(run, pause=True)
    scores = {name: fitted.metrics.val_mae for name, fitted in scored.items()}
    leader = min(scores, key=lambda name: scores[name] if math.isfinite(scores[name]) else math.inf)  # ties: the earlier
    if not runs[leader].finished:
        log(f"window norm auto: the {leader} network leads after {rung} epochs (validation MAE "
            + ", ".join(f"{name} {value:.4g}" for name, value in scores.items()) + "); training it on alone")
        runs[leader].advance(prepared.config.epochs)
        scored[leader] = _trained(runs[leader])
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


def _anchor(prepared: Prepared, baseline: str) -> int:
    """The season the anchored network repeats to forecast `baseline` (seasonal naive or naive)."""
    from forecast.model.network import anchor_season

    season = BASELINE_CANDIDATES[baseline] or season_length(prepared.panel.first.frequency)
    return anchor_season(season, prepared.config.lookback)


def _with_norm(prepared: Prepared, norm: WindowNorm) -> Prepared:
    return dataclasses.replace(prepared, config=dataclasses.replace(prepared.config, window_norm=norm))


def _train(prepared: Prepared, placement, log: Log, verbose: int, networks: dict) -> Fitted:
    """Train one network (its window norm resolved) to the end, and validate it."""
    from forecast.model.loop import Run

    run = Run(prepared, placement, log, verbose, network=networks.get(prepared.config.window_norm.value))
    run.advance(prepared.config.epochs)
    return _trained(run)


def _trained(run, pause: bool = False) -> Fitted:
    """A run at its best epoch so far, validated. With `pause` it can train on later (a race's
    candidate), and meanwhile forecasts with the weights it was scored with."""
    run.best(pause)
    fitted = _validate(run.prepared, run.placement, run.model, run.loss_history, run.seconds)
    fitted = dataclasses.replace(fitted, networks={run.prepared.config.window_norm.value: run.network})
    if run.best_epoch == 0 and run.epochs_run:  # a warm start whose starting weights no epoch beat
        metrics = dataclasses.replace(fitted.metrics, best_epoch=0, best_val_loss=run.best_val_loss)
        fitted = dataclasses.replace(fitted, metrics=metrics)
    return fitted



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
    config, panel = prepared.config, prepared.panel
    horizon = config.horizon
    rows = {key: s.frame.to_numpy() for key, s in panel.series.items()}
    # Every origin whose first step is a validation row, the last horizon − 1 included: their
    # early steps add residuals where a short validation part has few.
    origins = {key: np.arange(s.val_start + config.lookback, len(rows[key])) for key, s in prepared.splits.items()}
    model = _one_device(model, placement)
    with contextlib.nullcontext() if placement.distributed else placement.scope():
        forecaster = make_forecaster(model, prepared)
        rolled = _rolled_origins(origins, rows, horizon) if forecaster.rolls else {}
        steps = _calibrated_steps(rolled, rows, horizon)
        direct = ahead(forecaster, panel, origins, horizon)  # per series (actual, forecast)
        later = ahead(forecaster, panel, rolled, steps) if steps > horizon else {}
    # Each step's residuals, on the scaled target: the first `horizon` from every origin, the
    # later ones from the rolled origins (a (origins, steps) array padded for the others would
    # grow with both).
    residuals = _step_residuals(_scaled(direct, prepared.scalers).values(), 0)
    if later:
        residuals += _step_residuals(_scaled(later, prepared.scalers).values(), horizon)
    calibration = calibrate_residuals(residuals)
    # The first n_val origins are the validation windows, which have every step.
    forecasts = {key: direct[key][1][: prepared.splits[key].n_val] for key in rows}
    loss_history = loss_history or {"epoch": [], "loss": [], "val_loss": [], "epoch_seconds": []}
    metrics, errors = _metrics(prepared, forecasts, loss_history, train_seconds, model)
    return Fitted(model, prepared, placement.description, metrics, loss_history, calibration, window_errors=errors)


def _scaled(pairs: Pairs, scalers: dict[str, Scaler]) -> Pairs:
    """(actual, forecast) pairs on the target as `scalers` scale it: those of the model the
    intervals are for (which an interval refit's are not)."""
    with np.errstate(invalid="ignore"):
        return {key: (scale_target(scalers[key], actual), scale_target(scalers[key], forecast))
                for key, (actual, forecast) in pairs.items()}


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


def _refit_calibration(prepared: Prepared, retrain: Callable[[Prepared], Forecaster], refits: int, log: Log) -> Calibration:
    """Intervals from `refits` models, each trained by `retrain` as `fit` trains (window norm race,
    early stopping) on the rows before a block of `horizon` origins and forecasting from each of
    them, rolled past the horizon as far as the data reaches. Their errors are the whole recipe's
    on data it never saw, where the validation windows' errors run small: they chose the epoch
    early stopping restored and the network `--window-norm auto` kept (refits that trained only
    the kept network covered 46% of airline passengers' outcomes at 80%, bench/intervals.py)."""
    config, panel = prepared.config, prepared.panel
    horizon = config.horizon
    rows = {key: s.frame.to_numpy() for key, s in panel.series.items()}
    firsts = [_refit_origins(panel, horizon, refit) for refit in range(1, refits + 1)]
    blocks = [{key: np.arange(first[key], first[key] + horizon) for key in rows} for first in firsts]
    pooled = {key: np.concatenate([block[key] for block in blocks]) for key in rows}
    first = panel.first
    steps = _calibrated_steps(pooled, rows, horizon) if len(first.future_features) == len(first.features) else horizon
    actual, forecast = [], []
    started = time.perf_counter()
    refitted = roll(panel, _refit_config(config), firsts, blocks, steps, retrain, forecaster=lambda trained: trained)
    for refit, (cut, (_, pairs)) in enumerate(zip(firsts, refitted), start=1):
        for seen, made in _scaled(pairs, prepared.scalers).values():
            actual.append(seen)
            forecast.append(made)
        before = "each block" if len(panel.series) > 1 else format_timestamp(first.frame.index[cut[""]], first.frequency)
        log(f"interval refit {refit}/{refits}: trained on the rows before {before} in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
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
        epochs_run=int(loss_history["epoch"][-1]) if val_loss else 0,
        best_epoch=int(loss_history["epoch"][int(np.argmin(val_loss))]) if val_loss else 0,
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
