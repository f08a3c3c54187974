"""The prediction pipeline: a bundle and recent history to dated forecasts in the data's units."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast.bundle import RECENT_ROWS, Bundle, load_model, read_bundle
from forecast.config import DataConfig, Fill
from forecast.data import describe_frequency, format_timestamp, load_series
from forecast.errors import ConfigError, DataError
from forecast.intervals import interval_bounds
from forecast.scaling import inverse_target

Log = Callable[[str], None]


@dataclasses.dataclass
class Prediction:
    """Forecasts and the history they continue."""

    frame: pd.DataFrame  # timestamp (text), forecast, then lower_<level> / upper_<level> per level
    recent: pd.Series  # the target's recent history, DatetimeIndex, for plots
    target: str


def predict(
    model_dir: str,
    *,
    horizon: int | None = None,
    data_path: str | None = None,
    levels: Sequence[int] = (),
    log: Log = lambda message: None,
) -> Prediction:
    """Forecast `horizon` steps after the end of the training data, or of `data_path`.

    Up to the trained horizon the model's direct output is sliced; beyond it, a univariate
    model is fed its own forecasts block by block. Each level in `levels` adds a conformal
    prediction interval calibrated at training time.

    Raises:
        ForecastError: a missing or damaged bundle, unusable data, horizon or level.
    """
    bundle = read_bundle(model_dir)
    horizon = bundle.horizon if horizon is None else horizon
    if not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"--horizon must be a whole number of at least 1. Received: {horizon}.")
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
    values, recent = _history(bundle, data_path, log)

    model = load_model(bundle)
    if horizon > bundle.horizon:
        log(
            f"horizon {horizon} is beyond the trained {bundle.horizon}: feeding forecasts back in "
            f"{-(-horizon // bundle.horizon)} blocks (errors compound with each block)"
        )
    forecast = forecast_from(model, bundle.scaler, values, horizon)
    frequency = bundle.metadata["frequency"]
    stamps = pd.date_range(recent.index[-1], periods=horizon + 1, freq=frequency)[1:]
    frame = pd.DataFrame({"timestamp": [format_timestamp(t, frequency) for t in stamps], "forecast": forecast})
    for level in sorted(set(levels)):
        frame[f"lower_{level}"], frame[f"upper_{level}"] = interval_bounds(forecast, calibration, level)
    return Prediction(frame, recent, bundle.metadata["target"])


def forecast_from(model, scaler, values: np.ndarray, horizon: int) -> np.ndarray:
    """Forecast `horizon` steps from one window of input rows in the data's units.

    Args:
        values: (lookback, columns) the most recent rows; column 0 is the target.

    Returns:
        (horizon,) forecasts in the data's units.
    """
    import keras

    window = scaler.transform(values).astype("float32")  # (lookback, columns)
    out = [keras.ops.convert_to_numpy(model(window[None], training=False))[0]]  # [(trained,)]
    while sum(len(block) for block in out) < horizon:
        # Univariate only (checked by the callers): the last block becomes the newest input.
        window = np.concatenate([window, out[-1][:, None].astype(window.dtype)])[-len(values) :]
        out.append(keras.ops.convert_to_numpy(model(window[None], training=False))[0])
    return inverse_target(scaler, np.concatenate(out)[:horizon])


def _history(bundle: Bundle, data_path: str | None, log: Log) -> tuple[np.ndarray, pd.Series]:
    """The last `lookback` input rows in the data's units, and the target's recent history."""
    meta = bundle.metadata
    if data_path is None:
        values = np.asarray(meta["history"]["values"], dtype="float64")
        if values.shape != (bundle.lookback, len(bundle.columns)):
            raise DataError(
                f"bundle {str(bundle.path)!r} is damaged: its stored history has shape {values.shape}, "
                f"expected ({bundle.lookback}, {len(bundle.columns)}). Retrain, or pass --data."
            )
        stored = meta.get("recent_target") or {"timestamps": meta["history"]["timestamps"], "values": values[:, 0]}
        recent = pd.Series(stored["values"], index=pd.DatetimeIndex(stored["timestamps"]), dtype="float64")
        return values, recent
    fill = meta.get("data_config", {}).get("fill")
    series = load_series(
        DataConfig(
            path=data_path,
            time_col=meta["time_col"],
            target=meta["target"],
            features=tuple(meta["features"]),
            fill=Fill(fill) if fill else None,
        ),
        log,
    )
    if _base(series.frequency) != _base(meta["frequency"]):
        raise DataError(
            f"--data is {describe_frequency(series.frequency)} but the model was trained on "
            f"{describe_frequency(meta['frequency'])} data. Supply data at the training frequency."
        )
    if len(series.frame) < bundle.lookback:
        raise DataError(
            f"--data has {len(series.frame)} rows; the model needs the last {bundle.lookback} (its lookback). "
            "Supply more recent history."
        )
    return series.frame.to_numpy()[-bundle.lookback :], series.frame[series.target].iloc[-RECENT_ROWS:]


def _base(frequency: str) -> str:
    # "W-SUN" and "W-MON" are both weekly; compare the kind of step, not its anchor.
    return pd.tseries.frequencies.to_offset(frequency).rule_code.split("-")[0]
