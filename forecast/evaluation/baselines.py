"""The simple forecasts a model has to beat: naive, seasonal naive and drift."""

from __future__ import annotations

import numpy as np

BASELINES = ("naive", "seasonal_naive", "drift")


def baseline_windows(name: str, series: np.ndarray, ends: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Forecasts by baseline `name` from many origins at once.

    Origin j has seen series[: ends[j]] and forecasts the `horizon` steps after it:

    - naive repeats the last value, series[end - 1];
    - seasonal naive gives step k the value one season before it, series[end - season + (k - 1) % season]
      (naive where fewer than `season` values have been seen, or season is 1);
    - drift extends the line through the first and last values: y_T + k · (y_T − y_1) / (T − 1).

    Args:
        series: (rows,) values in the data's units.
        ends: (origins,) exclusive end of the history at each origin.

    Returns:
        (origins, horizon) forecasts.
    """
    series = np.asarray(series, dtype=float)
    ends = np.asarray(ends, dtype=int)
    last = series[ends - 1][:, None]  # (origins, 1)
    steps = np.arange(1, horizon + 1)  # (horizon,)
    if name == "naive":
        return np.repeat(last, horizon, axis=1)
    if name == "seasonal_naive":
        if season <= 1:
            return np.repeat(last, horizon, axis=1)
        index = ends[:, None] - season + (steps - 1) % season  # (origins, horizon)
        seasonal = series[np.clip(index, 0, None)]
        return np.where((ends >= season)[:, None], seasonal, last)
    if name == "drift":
        seen = np.maximum(ends - 1, 1)[:, None]
        slope = (last - series[0]) / seen
        return last + slope * steps
    raise ValueError(f"unknown baseline {name!r}; expected one of {', '.join(BASELINES)}")


def forecast_baseline(name: str, history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """`horizon` steps after `history` by the baseline called `name`."""
    return baseline_windows(name, history, np.array([len(history)]), horizon, season)[0]
