"""The prediction pipeline: a bundle and recent history to dated forecasts in the data's units."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from forecast.bundle import Bundle, load_model, read_bundle
from forecast.config import DataConfig, Fill
from forecast.data import describe_frequency, format_timestamp, load_series
from forecast.errors import ConfigError, DataError
from forecast.scaling import inverse_target

Log = Callable[[str], None]


def predict(
    model_dir: str,
    *,
    horizon: int | None = None,
    data_path: str | None = None,
    log: Log = lambda message: None,
) -> pd.DataFrame:
    """Forecast `horizon` steps after the end of the training data, or of `data_path`.

    Up to the trained horizon the model's direct output is sliced; beyond it, a univariate
    model is fed its own forecasts block by block.

    Returns:
        A frame with columns `timestamp` (text, continuing the series' frequency) and `forecast`.

    Raises:
        ForecastError: a missing or damaged bundle, unusable data or horizon.
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
    history, last = _history(bundle, data_path, log)
    scaled = bundle.scaler.transform(history).astype("float32")  # (lookback, columns)

    model = load_model(bundle)
    if horizon > bundle.horizon:
        blocks = -(-horizon // bundle.horizon)
        log(
            f"horizon {horizon} is beyond the trained {bundle.horizon}: feeding forecasts back in "
            f"{blocks} blocks (errors compound with each block)"
        )
    forecast = inverse_target(bundle.scaler, _roll(model, scaled, horizon, bundle.horizon))
    frequency = bundle.metadata["frequency"]
    stamps = pd.date_range(last, periods=horizon + 1, freq=frequency)[1:]
    return pd.DataFrame({"timestamp": [format_timestamp(t, frequency) for t in stamps], "forecast": forecast})


def _history(bundle: Bundle, data_path: str | None, log: Log) -> tuple[np.ndarray, pd.Timestamp]:
    """The last `lookback` rows of input, in the data's units, and the last timestamp."""
    meta = bundle.metadata
    if data_path is None:
        values = np.asarray(meta["history"]["values"], dtype="float64")
        if values.shape != (bundle.lookback, len(bundle.columns)):
            raise DataError(
                f"bundle {str(bundle.path)!r} is damaged: its stored history has shape {values.shape}, "
                f"expected ({bundle.lookback}, {len(bundle.columns)}). Retrain, or pass --data."
            )
        return values, pd.Timestamp(meta["last_timestamp"])
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
    return series.frame.to_numpy()[-bundle.lookback :], series.frame.index[-1]


def _roll(model, scaled: np.ndarray, horizon: int, trained: int) -> np.ndarray:
    """Scaled forecasts of `horizon` steps from one window of shape (lookback, columns)."""
    import keras

    window = scaled
    out = [keras.ops.convert_to_numpy(model(window[None], training=False))[0]]  # [(trained,)]
    while len(out) * trained < horizon:
        # Univariate only (checked by the caller): the last block becomes the newest input.
        window = np.concatenate([window, out[-1][:, None].astype(window.dtype)])[-len(scaled) :]
        out.append(keras.ops.convert_to_numpy(model(window[None], training=False))[0])
    return np.concatenate(out)[:horizon]


def _base(frequency: str) -> str:
    # "W-SUN" and "W-MON" are both weekly; compare the kind of step, not its anchor.
    return pd.tseries.frequencies.to_offset(frequency).rule_code.split("-")[0]
