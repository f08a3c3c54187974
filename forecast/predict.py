"""The prediction pipeline: a bundle and recent history to dated forecasts in the data's units."""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast.config import DataConfig, Engine
from forecast.data.frequency import check_forecast_end, describe_frequency, format_timestamp, same_frequency, step_offset
from forecast.data.datafile import time_index_as
from forecast.data.future import load_future
from forecast.data.load import Series, id_column, load_frame, load_panel
from forecast.data.scaling import first_not_positive
from forecast.errors import ConfigError, DataError, quote
from forecast.evaluation.intervals import interval_bounds
from forecast.model.forecaster import blocks, check_steps
from forecast.store.bundle import Bundle
from forecast.store.metadata import RECENT_ROWS
from forecast.store.versions import Store

Log = Callable[[str], None]
STALE_PERIODS = 3  # steps between the newest data point and today before predict warns


@dataclasses.dataclass
class Prediction:
    """Forecasts and the history they continue."""

    frame: pd.DataFrame  # [id,] timestamp (text), forecast, then lower_<level> / upper_<level> per level
    recent: dict[str, pd.Series]  # each series' recent target history, DatetimeIndex, for plots
    target: str


def predict(
    model_dir: str,
    *,
    steps: int | None = None,
    data_path: str | pd.DataFrame | None = None,
    future_data: str | pd.DataFrame | None = None,
    levels: Sequence[int] = (),
    ids: Sequence[str] = (),
    version: str | None = None,
    engine: Engine = Engine.auto,
    log: Log = lambda message: None,
    now: pd.Timestamp | None = None,
) -> Prediction:
    """Forecast `steps` steps (by default the trained horizon) after the end of the training data,
    or of `data_path` (a file, or a DataFrame from the Python API). A model with future features
    reads their values at every forecast step from `future_data` (a file or DataFrame with the
    time column, the id column for several series, and those columns).

    Up to the trained horizon the model's direct output is sliced; beyond it, a model without
    past-only features is fed its own forecasts block by block. Each level in `levels` adds a prediction
    interval calibrated at training time (forecast.evaluation.intervals). A model of several series forecasts each
    of `ids`, or all of them. The current version of `model_dir` answers unless `version` names
    another; `engine` picks what runs the network (see `Bundle.forecaster`); `log` hears a
    "warning: " line when the newest data point is stale (older than `STALE_PERIODS` steps before
    `now`).

    Raises:
        ForecastError: a missing or damaged bundle, unusable data, horizon, level or id.
    """
    return forecast_bundle(Store(model_dir).open(version), steps=steps, data_path=data_path, future_data=future_data,
                           levels=levels, ids=ids, engine=engine, log=log, now=now)


def forecast_bundle(
    bundle: Bundle,
    *,
    steps: int | None = None,
    data_path: str | pd.DataFrame | None = None,
    future_data: str | pd.DataFrame | None = None,
    levels: Sequence[int] = (),
    ids: Sequence[str] = (),
    engine: Engine = Engine.auto,
    log: Log = lambda message: None,
    now: pd.Timestamp | None = None,
) -> Prediction:
    """`predict` on a bundle already read (training reads each new version back through this
    before publishing it).

    Raises:
        ForecastError: as `predict`.
    """
    meta = bundle.metadata
    steps = meta.trained_horizon if steps is None else steps
    check_steps(steps, meta.trained_horizon, meta.features, meta.future_features)
    if meta.future_features and future_data is None:
        raise ConfigError(f"this model reads future values of {', '.join(meta.future_features)} at every forecast step. "
                          f"Pass --future-data with a row per step holding {meta.time_col} and those columns.")
    if future_data is not None and not meta.future_features:
        raise ConfigError("--future-data supplies future features, but this model was trained without --future-features. "
                          "Drop --future-data.")
    if levels and meta.calibration is None:
        raise ConfigError("this bundle holds no interval calibration. Retrain it to use --level.")
    for level in levels:  # refuse a bad level before loading the model
        interval_bounds(np.zeros(steps), meta.calibration, level)
    chosen = choose_ids(bundle, ids)
    inputs = _inputs(bundle, chosen, data_path, log)
    for key, given in inputs.items():
        check_forecast_end(given.recent.index[-1], steps, given.frequency, f"series {key!r}" if key else "the data")

    forecaster, engine_name = bundle.forecaster(Engine(engine), log)
    if steps > meta.trained_horizon:
        log(
            f"horizon {steps} is beyond the trained {meta.trained_horizon}: feeding forecasts back in "
            f"{blocks(steps, meta.trained_horizon)} blocks (errors compound with each block)"
        )
    step = {key: step_offset(given.frequency, meta.calendar) for key, given in inputs.items()}
    future = {key: pd.date_range(given.recent.index[-1], periods=steps + 1, freq=step[key])[1:] for key, given in inputs.items()}
    if meta.calendar is not None:
        _check_reach(future, meta.calendar.until, f"{meta.calendar.name}'s holidays")
    if meta.holidays is not None:
        _check_reach(future, meta.holidays.until, f"the public holidays of {meta.holidays.code}")
    # The rows' timestamps (the data is regular: they count back from the last), then the forecast's.
    stamps = {key: pd.date_range(end=given.recent.index[-1], periods=len(given.rows), freq=step[key]).append(future[key])
              for key, given in inputs.items()}
    rows = {key: given.rows for key, given in inputs.items()}
    if meta.future_features:
        rows = _with_future(bundle, rows, future, future_data, log)
    origins = {key: np.array([len(given.rows)]) for key, given in inputs.items()}
    forecasts = forecaster.forecast(rows, steps, origins, stamps)
    frames = []
    for key, given in inputs.items():
        (forecast,) = forecasts[key]
        if not np.isfinite(forecast).all():
            scaler = bundle.scalers[key]
            name = f"series {key!r}: " if key else ""
            raise DataError(
                f"{name}the forecast is not a finite number: the recent values ({np.abs(given.rows).max():.3g} at most) lie "
                f"far outside the range the model was trained on ({scaler.data_min_[0]:.6g} to {scaler.data_max_[0]:.6g}). "
                "Retrain on data that includes them."
            )
        frame = pd.DataFrame({"timestamp": [format_timestamp(t, given.frequency) for t in future[key]], "forecast": forecast})
        for level in sorted(set(levels)):
            frame[f"lower_{level}"], frame[f"upper_{level}"] = forecaster.interval(key, forecast, level)
        if meta.id_col:
            frame.insert(0, id_column(meta.id_col, frame.columns), key)
        frames.append(frame)
    of = f" of {len(inputs)} series" if len(inputs) > 1 else ""
    log(f"forecast {steps} steps{of} with {bundle.path} ({engine_name})")
    for level in sorted(set(levels)):
        log(f"{level}% interval: {meta.calibration.describe(level, steps)}")
    _warn_if_stale(inputs, now, log)
    return Prediction(pd.concat(frames, ignore_index=True), {key: given.recent for key, given in inputs.items()}, meta.target)


@dataclasses.dataclass(frozen=True)
class SeriesInput:
    """What one series' forecast starts from."""

    rows: np.ndarray  # (at least lookback, columns) in the data's units; the forecaster reads the last lookback
    recent: pd.Series  # the recent target on a DatetimeIndex: dates the forecast, drawn beside it
    frequency: str  # dates the forecast (--data's own: its weeks may start on another day)


def _check_reach(future: dict[str, pd.DatetimeIndex], until: str, what: str) -> None:
    """Refuse forecast dates past `until`, the last day of the dates stored with the model as `what`."""
    last = max(dates[-1] for dates in future.values())
    if last.normalize() > pd.Timestamp(until):
        raise DataError(f"the forecast would run to {last:%Y-%m-%d}, past {until}, the last day this model knows "
                        f"{what} for. Use a smaller --horizon, or retrain to extend them.")


def _with_future(bundle: Bundle, rows: dict[str, np.ndarray], future: dict[str, pd.DatetimeIndex],
                 future_data: str | pd.DataFrame, log: Log) -> dict[str, np.ndarray]:
    """Each series' rows continued by one row per forecast step holding the future features'
    values from `future_data` (the target and past-only features, unknown there, are NaN)."""
    meta = bundle.metadata
    config = reading_config(bundle, "<future data>", future_features=meta.future_features)
    values = load_future(future_data, config, future, log)
    for key, table in values.items():
        _check_range(bundle, key, table, meta.future_features, future[key],
                     f"--future-data for series {quote(key)}" if key else "--future-data", log)
    out = {}
    for key, given in rows.items():
        later = np.full((len(future[key]), given.shape[1]), np.nan)
        for column, name in enumerate(meta.future_features):
            later[:, 1 + meta.features.index(name)] = values[key][:, column]
        out[key] = np.concatenate([given, later])
    return out


# Feature values (in --data or --future-data) further than this many training ranges outside the
# range are refused: the network has never read anything near them, so its forecast would mean nothing.
FAR_OUTSIDE = 10.0


def _check_range(bundle: Bundle, key: str, table: np.ndarray, columns: Sequence[str], stamps: pd.DatetimeIndex,
                 label: str, log: Log) -> None:
    """Warn of feature values (`table`, one column per name in `columns`, one row per timestamp in
    `stamps`) outside the range training saw in their column, and refuse those more than
    FAR_OUTSIDE ranges outside it, naming the column, the value and its time.

    Raises:
        DataError: a value that far outside.
    """
    meta, scaler = bundle.metadata, bundle.scalers[key]
    for position, name in enumerate(columns):
        index = 1 + meta.features.index(name)
        low, high = float(scaler.data_min_[index]), float(scaler.data_max_[index])
        span = high - low if high > low else max(abs(low), 1.0)
        given = table[:, position]
        away = np.maximum(low - given, given - high) / span  # in training ranges; <= 0 inside
        worst = int(np.argmax(away))
        if away[worst] > FAR_OUTSIDE:
            raise DataError(
                f"{label}: {quote(name)} is {given[worst]:.6g} at {stamps[worst]:%Y-%m-%d %H:%M}, more than "
                f"{FAR_OUTSIDE:g} times its training range ({low:.6g} to {high:.6g}) outside that range, where the "
                "model has never read anything like it. Check the value and its units, or retrain on data that holds such values."
            )
        outside = int(np.sum(away > 0))
        if outside:
            log(f"warning: {label}: {quote(name)} lies outside the range training saw ({low:.6g} to {high:.6g}) at "
                f"{outside} of {len(given)} rows read, {given[worst]:.6g} at the furthest; the forecast extrapolates there")


def _warn_if_stale(inputs: dict[str, SeriesInput], now: pd.Timestamp | None, log: Log) -> None:
    """Warn when a forecast starts from data several steps older than today: it forecasts the past."""
    now = pd.Timestamp.now() if now is None else now
    for key, given in inputs.items():
        newest = given.recent.index[-1]
        if newest + STALE_PERIODS * pd.tseries.frequencies.to_offset(given.frequency) < now:
            name = f"series {key}: " if key else ""
            log(
                f"warning: {name}the newest data point is {format_timestamp(newest, given.frequency)}, more than {STALE_PERIODS} "
                f"steps before today ({now:%Y-%m-%d}); the forecast starts after it. Retrain on fresh data, or pass --data."
            )
            return


def choose_ids(bundle: Bundle, ids: Sequence[str]) -> list[str]:
    """The series ids asked for (every series of the model when none is), checked against it."""
    meta = bundle.metadata
    if not ids:
        return meta.ids
    if not meta.id_col:
        raise ConfigError("--id picks one of several series, but this model was trained on one. Drop --id.")
    unknown = [key for key in ids if key not in meta.series]
    if unknown:
        known = ", ".join(meta.ids[:5]) + (", ..." if len(meta.ids) > 5 else "")
        raise ConfigError(f"--id {unknown[0]!r} is not a series of this model (it knows {known}). Fix --id.")
    return list(dict.fromkeys(ids))


def _inputs(bundle: Bundle, ids: list[str], data_path: str | pd.DataFrame | None, log: Log) -> dict[str, SeriesInput]:
    """Per series: the rows the forecast starts from, from the bundle or from --data."""
    meta = bundle.metadata
    if data_path is None:
        return {
            key: SeriesInput(meta.series[key].lookback_rows, meta.series[key].recent_target, meta.series[key].frequency)
            for key in ids
        }
    out = {}
    for key, series in read_data(bundle, ids, data_path, log).items():
        label = f"series {key!r} in --data" if key else "--data"
        if len(series.frame) < meta.lookback:
            raise DataError(
                f"{label} has {len(series.frame)} rows; the model needs the last {meta.lookback} (its lookback). "
                "Supply more recent history."
            )
        refuse_not_positive(bundle, key, series.frame[series.target].iloc[-meta.lookback :], label)
        recent = series.frame.iloc[-meta.lookback :]
        _check_range(bundle, key, recent.to_numpy()[:, 1:], meta.features, recent.index, label, log)
        out[key] = SeriesInput(series.frame.to_numpy()[-meta.lookback :], series.frame[series.target].iloc[-RECENT_ROWS:],
                               series.frequency)
    return out


def read_data(bundle: Bundle, ids: list[str], data_path: str | pd.DataFrame, log: Log, name: str = "--data",
              others: bool = False) -> dict[str, Series]:
    """The series of `ids` in the file `data_path` (or a DataFrame), read with the training
    columns and checked against the model: at its frequency, and only series it was trained on
    (with `others`, series it does not know are passed over instead). Messages call the data `name`.

    Raises:
        DataError: the file cannot be read as training read its data, is at another frequency,
            holds a series the model does not know, or none of `ids`.
    """
    meta = bundle.metadata
    trained = meta.data_config
    frame = time_index_as(data_path, meta.time_col) if isinstance(data_path, pd.DataFrame) else None
    try:
        config = reading_config(bundle, "<DataFrame>" if frame is not None else data_path, features=meta.features,
                                fill=None if trained is None else trained.fill)
        # The model's frequency serves a file of one or two rows (yesterday's readings), too few to tell it.
        panel = load_panel(config, log, meta.frequency) if frame is None else load_frame(frame, config, log, meta.frequency)
    except DataError as exc:
        if "is not in the data" not in str(exc):
            raise
        # The columns are the model's, not options given here: say so instead of naming a flag.
        problem = re.sub(r" (Fix|Name one with) --[a-z-]+\.$", "", str(exc))
        columns = ", ".join(repr(c) for c in [meta.time_col, *([meta.id_col] if meta.id_col else []), meta.target, *meta.features])
        raise DataError(f"{name}: {problem} The model reads the columns {columns}. Give {name} those columns.") from None
    out = {}
    for key in ids:
        series = panel.series.get(key)
        if series is None:
            continue  # a series absent from the file is not read
        frequency = meta.series[key].frequency
        if not same_frequency(series.frequency, frequency):
            label = f"series {key!r} in {name}" if key else name
            raise DataError(
                f"{label} is {describe_frequency(series.frequency, exact=True)} but the model was trained on "
                f"{describe_frequency(frequency, exact=True)} data. Supply data at the training frequency."
            )
        out[key] = series
    unknown = [key for key in panel.series if key not in meta.series]
    if unknown and not others:
        raise DataError(f"{name} holds series {unknown[0]!r}, which the model was not trained on. Remove it or retrain.")
    if not out:
        raise DataError(f"{name} holds none of the series asked for. Check --id and the id column.")
    return out


def reading_config(bundle: Bundle, path: str, **columns) -> DataConfig:
    """How to read new rows as training read its data: the model's time, id and target columns and
    the training file's separator and date format, with `columns` (features, fill, ...) as given."""
    meta, trained = bundle.metadata, bundle.metadata.data_config
    return DataConfig(path=path, time_col=meta.time_col, id_col=meta.id_col, target=meta.target,
                      sep=None if trained is None else trained.sep,
                      time_format=None if trained is None else trained.time_format,
                      dayfirst=False if trained is None else trained.dayfirst, **columns)


def refuse_not_positive(bundle: Bundle, key: str, target: pd.Series, label: str) -> None:
    """Raises DataError when the model forecasts the log of its target and `target` (the values
    it will read) is not above zero everywhere."""
    found = first_not_positive(target)
    if bundle.scalers[key].log_target and found is not None:
        raise DataError(
            f"{label}: this model forecasts the log of {target.name!r}, which needs values above zero; "
            f"it is {found[1]:g} at {found[0]}. Supply positive values, or retrain with --target-transform none."
        )
