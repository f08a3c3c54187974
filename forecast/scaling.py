"""Fit, apply, save and load the MinMax scaler, stored as plain data (no pickle)."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import MinMaxScaler

from forecast.errors import BundleError, DataError


def fit_scaler(train_values: np.ndarray, columns: list[str]) -> MinMaxScaler:
    """Fit a [0, 1] MinMaxScaler on the training rows only.

    Args:
        train_values: (rows, columns) training part; column 0 is the target.
        columns: names of the columns, for error messages and the bundle.

    Raises:
        DataError: a column is constant in the training part (its range is zero).
    """
    scaler = MinMaxScaler(feature_range=(0, 1))
    scaler.fit(train_values)
    constant = np.flatnonzero(scaler.data_range_ == 0)
    if constant.size:
        column = columns[constant[0]]
        role = "target" if constant[0] == 0 else "feature"
        fix = "Forecast a series that varies." if role == "target" else "Drop it from --features."
        raise DataError(
            f"{role} column {column!r} is constant ({scaler.data_min_[constant[0]]:g}) in the training "
            f"part, so MinMax scaling has a zero range. {fix}"
        )
    return scaler


def inverse_target(scaler: MinMaxScaler, scaled: np.ndarray) -> np.ndarray:
    """Scaled target values (any shape) back to the data's units; the target is column 0."""
    _check_fitted(scaler)
    return (np.asarray(scaled, dtype="float64") - scaler.min_[0]) / scaler.scale_[0]


def scaler_to_dict(scaler: MinMaxScaler, columns: list[str]) -> dict:
    """The fitted state as JSON-ready data."""
    _check_fitted(scaler)
    return {
        "kind": "minmax",
        "feature_range": list(scaler.feature_range),
        "columns": list(columns),
        "data_min_": scaler.data_min_.tolist(),
        "data_max_": scaler.data_max_.tolist(),
        "n_samples_seen_": int(scaler.n_samples_seen_),
    }


def scaler_from_dict(state: dict) -> MinMaxScaler:
    """Rebuild a fitted MinMaxScaler from `scaler_to_dict`'s output.

    Raises:
        BundleError: the state is incomplete or inconsistent.
    """
    try:
        low, high = (float(v) for v in state["feature_range"])
        data_min = np.asarray(state["data_min_"], dtype="float64")
        data_max = np.asarray(state["data_max_"], dtype="float64")
        columns = list(state["columns"])
        seen = int(state["n_samples_seen_"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"the saved scaler is damaged ({exc!r} is missing or invalid). Retrain the model.") from None
    if state.get("kind") != "minmax" or data_min.shape != data_max.shape or data_min.shape != (len(columns),):
        raise BundleError("the saved scaler is damaged (its shapes do not match its columns). Retrain the model.")
    if not (np.isfinite(data_min).all() and np.isfinite(data_max).all()) or (data_max <= data_min).any():
        raise BundleError("the saved scaler is damaged (its ranges are not finite and positive). Retrain the model.")
    scaler = MinMaxScaler(feature_range=(low, high))
    # The same arithmetic as MinMaxScaler.fit, so transform() is exactly the training one.
    scaler.data_min_ = data_min
    scaler.data_max_ = data_max
    scaler.data_range_ = data_max - data_min
    scaler.scale_ = (high - low) / scaler.data_range_
    scaler.min_ = low - data_min * scaler.scale_
    scaler.n_features_in_ = len(columns)
    scaler.n_samples_seen_ = seen
    return scaler


def scalers_to_dict(scalers: dict[str, MinMaxScaler], columns: list[str]) -> dict:
    """One scaler per series, as JSON-ready data."""
    return {
        "kind": "minmax-per-series",
        "columns": list(columns),
        "series": {key: scaler_to_dict(scaler, columns) for key, scaler in scalers.items()},
    }


def scalers_from_dict(state: dict) -> dict[str, MinMaxScaler]:
    """Rebuild the per-series scalers of `scalers_to_dict`.

    Raises:
        BundleError: the state is incomplete or inconsistent.
    """
    series = state.get("series")
    if state.get("kind") != "minmax-per-series" or not isinstance(series, dict) or not series:
        raise BundleError("the saved scaler is damaged (no per-series scalers). Retrain the model.")
    return {key: scaler_from_dict(entry) for key, entry in series.items()}


def _check_fitted(scaler: MinMaxScaler) -> None:
    if not hasattr(scaler, "scale_"):
        raise ValueError("the scaler is not fitted yet; call fit_scaler first.")
