"""Look-back windows and their chronological train/validation split, as strided NumPy views."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from forecast.errors import DataError


@dataclasses.dataclass(frozen=True)
class Split:
    """Which windows train and which validate, and where the scaler must stop looking.

    Window ``i`` reads rows ``[i, i + lookback)`` and forecasts rows
    ``[i + lookback, i + lookback + horizon)``. With 10 rows, lookback 3, horizon 2 and
    val_fraction 0.34 there are 10 - 3 - 2 + 1 = 6 windows; the last ceil(0.34 * 6) = 3
    (i = 3, 4, 5) validate, so row ``boundary = 3 + 3 = 6`` is the first validation target.
    A training window must forecast only rows before 6, so training keeps i <= 6 - 3 - 2 = 1:
    windows 0 and 1. Window 2 would forecast rows 5 and 6 and is dropped, so nothing crosses
    the boundary, and the scaler is fitted on rows [0, 6) only.
    """

    lookback: int
    horizon: int
    n_rows: int
    n_windows: int  # stride-1 windows in the whole series
    n_train: int  # windows 0 .. n_train - 1 train
    val_start: int  # windows val_start .. n_windows - 1 validate
    boundary: int  # first row that is a validation target; rows before it are training data

    @property
    def n_val(self) -> int:
        return self.n_windows - self.val_start


def plan_split(n_rows: int, lookback: int, horizon: int, val_fraction: float) -> Split:
    """Split the stride-1 windows of a series chronologically.

    Raises:
        DataError: the series is too short for at least one training and one validation window.
    """
    n_windows, n_train, val_start = _counts(n_rows, lookback, horizon, val_fraction)
    if n_train < 1 or n_windows - val_start < 1:
        needed = _rows_needed(lookback, horizon, val_fraction)
        raise DataError(
            f"lookback + horizon ({lookback} + {horizon}) with --val-fraction {val_fraction} needs at least "
            f"{needed} rows; the series has {n_rows}. Use a smaller --lookback or --horizon, "
            "or supply more history."
        )
    return Split(lookback, horizon, n_rows, n_windows, n_train, val_start, val_start + lookback)


def _rows_needed(lookback: int, horizon: int, val_fraction: float) -> int:
    """The fewest rows giving one training window: a bisection, since training windows never
    decrease as rows are added (a counting loop would spin for a --horizon of 10**9)."""
    low, high = 1, lookback + 2 * horizon + 1  # `high` rows always leave room: grow it until they do
    while _counts(high, lookback, horizon, val_fraction)[1] < 1:
        high *= 2
    while low < high:
        middle = (low + high) // 2
        if _counts(middle, lookback, horizon, val_fraction)[1] >= 1:
            high = middle
        else:
            low = middle + 1
    return low


def _counts(n_rows: int, lookback: int, horizon: int, val_fraction: float) -> tuple[int, int, int]:
    """(windows, training windows, first validation window) for a series of `n_rows`."""
    n_windows = n_rows - lookback - horizon + 1
    n_val = max(1, math.ceil(val_fraction * n_windows))
    val_start = n_windows - n_val
    return n_windows, val_start - horizon + 1, val_start


def input_windows(values: np.ndarray, lookback: int) -> np.ndarray:
    """Every stride-1 window of `lookback` rows, as a read-only view (no copy).

    Args:
        values: (rows, features) array.

    Returns:
        (rows - lookback + 1, lookback, features) view; window i is values[i : i + lookback].
    """
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (rows, features). Received shape {values.shape}.")
    # sliding_window_view puts the window axis last: (windows, features, lookback).
    view = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)
    return view.transpose(0, 2, 1)  # (windows, lookback, features)


def target_windows(target: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """The `horizon` values following each input window, as a read-only view.

    Args:
        target: (rows,) array.

    Returns:
        (rows - lookback - horizon + 1, horizon) view; row i is target[i + lookback : i + lookback + horizon].
    """
    return np.lib.stride_tricks.sliding_window_view(target[lookback:], horizon)
