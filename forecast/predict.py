"""The prediction pipeline: a bundle and recent history to dated forecasts in the data's units."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast.store.bundle import RECENT_ROWS, Bundle, open_bundle
from forecast.config import DataConfig, Engine, Fill
from forecast.data.load import check_forecast_end, describe_frequency, format_timestamp, load_panel, same_frequency
from forecast.errors import ConfigError, DataError
from forecast.model.runners import Run, runner
from forecast.evaluation.intervals import interval_bounds
from forecast.data.scaling import inverse_target

Log = Callable[[str], None]
STALE_PERIODS = 3  # steps between the newest data point and today before predict warns
MAX_BLOCKS = 1000  # trained horizons fed back at most: errors compound far sooner, and a huge --horizon must not spin


@dataclasses.dataclass
class Prediction:
    """Forecasts and the history they continue."""

    frame: pd.DataFrame  # [id,] timestamp (text), forecast, then lower_<level> / upper_<level> per level
    recent: dict[str, pd.Series]  # each series' recent target history, DatetimeIndex, for plots
    target: str


def predict(
    model_dir: str,
    *,
    horizon: int | None = None,
    data_path: str | None = None,
    levels: Sequence[int] = (),
    ids: Sequence[str] = (),
    version: str | None = None,
    engine: Engine = Engine.auto,
    log: Log = lambda message: None,
    now: pd.Timestamp | None = None,
) -> Prediction:
    """Forecast `horizon` steps after the end of the training data, or of `data_path`.

    Up to the trained horizon the model's direct output is sliced; beyond it, a univariate
    model is fed its own forecasts block by block. Each level in `levels` adds a conformal
    prediction interval calibrated at training time. A model of several series forecasts each
    of `ids`, or all of them. The current version of `model_dir` answers unless `version` names
    another; `engine` picks what runs the network (forecast.model.runners.runner); `log` hears a "warning: " line when the newest data point is stale (older than `STALE_PERIODS` steps
    before `now`).

    Raises:
        ForecastError: a missing or damaged bundle, unusable data, horizon, level or id.
    """
    bundle = open_bundle(model_dir, version)
    horizon = bundle.horizon if horizon is None else horizon
    if not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"--horizon must be a whole number of at least 1. Received: {horizon}.")
    if horizon > MAX_BLOCKS * bundle.horizon:
        raise ConfigError(
            f"--horizon {horizon} would feed forecasts back in {-(-horizon // bundle.horizon):,} blocks of the trained "
            f"{bundle.horizon}; at most {MAX_BLOCKS} are allowed (--horizon {MAX_BLOCKS * bundle.horizon}). "
            "Retrain with a longer --horizon."
        )
    if horizon > bundle.horizon and bundle.metadata["features"]:
        raise ConfigError(
            f"--horizon {horizon} is longer than the trained horizon ({bundle.horizon}), and this model also "
            f"reads features ({', '.join(bundle.metadata['features'])}) whose future values are unknown. "
            f"Use --horizon {bundle.horizon} or less, or retrain with --horizon {horizon}."
        )
    calibration = bundle.metadata.get("intervals")
    if levels and not calibration:
        raise ConfigError("this bundle holds no interval calibration. Retrain it to use --level.")
    for level in levels:  # refuse a bad level before loading the model
        interval_bounds(np.zeros(horizon), calibration, level)
    chosen = _choose_ids(bundle, ids)
    histories = _histories(bundle, chosen, data_path, log)
    for key, (_, recent, frequency) in histories.items():
        check_forecast_end(recent.index[-1], horizon, frequency, f"series {key!r}" if key else "the data")

    run, engine_name = runner(bundle, Engine(engine), log)
    if horizon > bundle.horizon:
        log(
            f"horizon {horizon} is beyond the trained {bundle.horizon}: feeding forecasts back in "
            f"{-(-horizon // bundle.horizon)} blocks (errors compound with each block)"
        )
    windows = np.stack([bundle.scalers[key].transform(values) for key, (values, _, _) in histories.items()])
    with np.errstate(over="ignore", invalid="ignore"):  # values far outside the training range: refused below
        scaled = roll_forecast(run, windows.astype("float32"), horizon)  # (series, horizon)
    frames = []
    for row, (key, (values, recent, frequency)) in enumerate(histories.items()):
        scaler = bundle.scalers[key]
        with np.errstate(over="ignore", invalid="ignore"):
            forecast = inverse_target(scaler, scaled[row])
        if not np.isfinite(forecast).all():
            name = f"series {key!r}: " if key else ""
            raise DataError(
                f"{name}the forecast is not a finite number: the recent values ({np.abs(values).max():.3g} at most) lie "
                f"far outside the range the model was trained on ({scaler.data_min_[0]:.6g} to {scaler.data_max_[0]:.6g}). "
                "Retrain on data that includes them."
            )
        stamps = pd.date_range(recent.index[-1], periods=horizon + 1, freq=frequency)[1:]
        frame = pd.DataFrame({"timestamp": [format_timestamp(t, frequency) for t in stamps], "forecast": forecast})
        for level in sorted(set(levels)):
            bounds = interval_bounds(forecast, calibration, level, scale=scaler.scale_[0])
            frame[f"lower_{level}"], frame[f"upper_{level}"] = bounds
        if bundle.metadata.get("id_col"):
            frame.insert(0, "id", key)
        frames.append(frame)
    recent = {key: history for key, (_, history, _) in histories.items()}
    of = f" of {len(histories)} series" if len(histories) > 1 else ""
    log(f"forecast {horizon} steps{of} with {bundle.path} ({engine_name})")
    _warn_if_stale(histories, bundle, now, log)
    return Prediction(pd.concat(frames, ignore_index=True), recent, bundle.metadata["target"])


def _warn_if_stale(histories: dict, bundle: Bundle, now: pd.Timestamp | None, log: Log) -> None:
    """Warn when a forecast starts from data several steps older than today: it forecasts the past."""
    now = pd.Timestamp.now() if now is None else now
    for key, (_, recent, frequency) in histories.items():
        newest = recent.index[-1]
        if newest + STALE_PERIODS * pd.tseries.frequencies.to_offset(frequency) < now:
            name = f"series {key}: " if key else ""
            log(
                f"warning: {name}the newest data point is {format_timestamp(newest, frequency)}, more than {STALE_PERIODS} "
                f"steps before today ({now:%Y-%m-%d}); the forecast starts after it. Retrain on fresh data, or pass --data."
            )
            return


def roll_forecast(run: Run, windows: np.ndarray, horizon: int) -> np.ndarray:
    """Scaled forecasts of `horizon` steps from scaled windows of shape (series, lookback, columns).

    `run` is the network (forecast.model.runners). Past the model's own horizon, each block of
    forecasts becomes the newest input of the next (univariate models only; callers refuse the rest).
    """
    out = [run(windows)]  # [(series, trained)]
    while sum(block.shape[1] for block in out) < horizon:
        windows = np.concatenate([windows, out[-1][:, :, None].astype(windows.dtype)], axis=1)[:, -windows.shape[1] :]
        out.append(run(windows))
    return np.concatenate(out, axis=1)[:, :horizon]


def _choose_ids(bundle: Bundle, ids: Sequence[str]) -> list[str]:
    if not ids:
        return bundle.ids
    if not bundle.metadata.get("id_col"):
        raise ConfigError("--id picks one of several series, but this model was trained on one. Drop --id.")
    unknown = [key for key in ids if key not in bundle.metadata["series"]]
    if unknown:
        known = ", ".join(bundle.ids[:5]) + (", ..." if len(bundle.ids) > 5 else "")
        raise ConfigError(f"--id {unknown[0]!r} is not a series of this model (it knows {known}). Fix --id.")
    return list(dict.fromkeys(ids))


def _histories(bundle: Bundle, ids: list[str], data_path: str | None, log: Log) -> dict[str, tuple[np.ndarray, pd.Series, str]]:
    """Per series: the last `lookback` input rows in the data's units, the recent target history,
    and the frequency that dates the forecast (--data's own: its weeks may start on another day)."""
    meta = bundle.metadata
    out = {}
    if data_path is None:
        for key in ids:
            stored = meta["series"][key]
            values = np.asarray(stored["history"]["values"], dtype="float64")
            if values.shape != (bundle.lookback, len(bundle.columns)):
                raise DataError(
                    f"bundle {str(bundle.path)!r} is damaged: its stored history has shape {values.shape}, "
                    f"expected ({bundle.lookback}, {len(bundle.columns)}). Retrain, or pass --data."
                )
            tail = stored["recent_target"]
            recent = pd.Series(tail["values"], index=pd.DatetimeIndex(tail["timestamps"]), dtype="float64")
            out[key] = values, recent, stored["frequency"]
        return out
    fill = meta.get("data_config", {}).get("fill")
    panel = load_panel(
        DataConfig(
            path=data_path,
            time_col=meta["time_col"],
            id_col=meta.get("id_col"),
            target=meta["target"],
            features=tuple(meta["features"]),
            fill=Fill(fill) if fill else None,
        ),
        log,
    )
    for key in ids:
        series = panel.series.get(key)
        label = f"series {key!r} in --data" if key else "--data"
        if series is None:
            continue  # a series absent from --data is not forecast
        trained = meta["series"][key]["frequency"]
        if not same_frequency(series.frequency, trained):
            raise DataError(
                f"{label} is {describe_frequency(series.frequency, exact=True)} but the model was trained on "
                f"{describe_frequency(trained, exact=True)} data. Supply data at the training frequency."
            )
        if len(series.frame) < bundle.lookback:
            raise DataError(
                f"{label} has {len(series.frame)} rows; the model needs the last {bundle.lookback} (its lookback). "
                "Supply more recent history."
            )
        out[key] = series.frame.to_numpy()[-bundle.lookback :], series.frame[series.target].iloc[-RECENT_ROWS:], series.frequency
    unknown = [key for key in panel.series if key not in meta["series"]]
    if unknown:
        raise DataError(f"--data holds series {unknown[0]!r}, which the model was not trained on. Remove it or retrain.")
    if not out:
        raise DataError("--data holds none of the series asked for. Check --id and the id column.")
    return out

