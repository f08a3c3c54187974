"""Fit, apply, save and load the MinMax scaler, stored as plain data (no pickle).

A scaler may first take the target's logarithm (`log_target`): the network then works on
relative changes, so seasonal swings that grow with the level become constant ones, and its
forecasts and intervals come back through the exponential, always positive.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from forecast.errors import BundleError, DataError


@dataclasses.dataclass(frozen=True, eq=False)
class Scaler:
    """A fitted MinMax scaler as plain numbers, with scikit-learn's MinMaxScaler arithmetic
    (the tests check it against scikit-learn's). Fitting is a column minimum and maximum, so
    numpy does it: importing scikit-learn for them cost every training run 0.8 s."""

    data_min_: np.ndarray
    data_max_: np.ndarray
    feature_range: tuple[float, float] = (0.0, 1.0)
    n_samples_seen_: int = 0
    log_target: bool = False  # the target's natural logarithm is scaled (data_min_/max_ are of the log)

    @property
    def data_range_(self) -> np.ndarray:
        return self.data_max_ - self.data_min_

    @property
    def scale_(self) -> np.ndarray:
        low, high = self.feature_range
        return (high - low) / self.data_range_

    @property
    def min_(self) -> np.ndarray:
        return self.feature_range[0] - self.data_min_ * self.scale_

    def transform(self, values) -> np.ndarray:
        """Scale (rows, columns) values, exactly as MinMaxScaler.transform does (after the
        target's logarithm when `log_target`; a target at or below zero becomes NaN or -inf)."""
        scaled = np.array(values, dtype="float64")
        if self.log_target:
            with np.errstate(divide="ignore", invalid="ignore"):
                scaled[:, 0] = np.log(scaled[:, 0])
        scaled *= self.scale_
        scaled += self.min_
        return scaled


def fit_scaler(train_values: np.ndarray, columns: list[str], log_target: bool = False) -> Scaler:
    """Fit a [0, 1] MinMax scaler on the training rows only.

    Args:
        train_values: (rows, columns) training part; column 0 is the target.
        columns: names of the columns, for error messages and the bundle.
        log_target: scale the target's logarithm (the caller checks that it is positive).

    Raises:
        DataError: a column is constant in the training part (its range is zero).
    """
    values = np.array(train_values, dtype="float64")
    if log_target:
        values[:, 0] = np.log(values[:, 0])
    scaler = Scaler(values.min(axis=0), values.max(axis=0), (0.0, 1.0), len(values), log_target)
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


def inverse_target(scaler: Scaler, scaled: np.ndarray) -> np.ndarray:
    """Scaled target values (any shape) back to the data's units; the target is column 0."""
    values = (np.asarray(scaled, dtype="float64") - scaler.min_[0]) / scaler.scale_[0]
    return np.exp(values) if scaler.log_target else values


def first_not_positive(target) -> tuple[object, float] | None:
    """The first (timestamp, value) of a target series (pandas) at or below zero, which the log
    form cannot take; None when every value is above zero."""
    bad = np.flatnonzero(target.to_numpy() <= 0)
    return None if bad.size == 0 else (target.index[bad[0]], float(target.iloc[bad[0]]))


def scale_target(scaler: Scaler, values: np.ndarray) -> np.ndarray:
    """Target values (any shape) in the data's units to the scaled target: `inverse_target` undone."""
    values = np.asarray(values, dtype="float64")
    if scaler.log_target:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.log(values)
    return values * scaler.scale_[0] + scaler.min_[0]


def scaler_to_dict(scaler: Scaler, columns: list[str]) -> dict:
    """The fitted state as JSON-ready data."""
    return {
        "kind": "minmax",
        "feature_range": list(scaler.feature_range),
        "columns": list(columns),
        "data_min_": scaler.data_min_.tolist(),
        "data_max_": scaler.data_max_.tolist(),
        "n_samples_seen_": int(scaler.n_samples_seen_),
        "target_transform": "log" if scaler.log_target else "none",
    }


def scaler_from_dict(state: dict) -> Scaler:
    """Rebuild a fitted scaler from `scaler_to_dict`'s output.

    Raises:
        BundleError: the state is incomplete or inconsistent.
    """
    try:
        low, high = (float(v) for v in state["feature_range"])
        data_min = np.asarray(state["data_min_"], dtype="float64")
        data_max = np.asarray(state["data_max_"], dtype="float64")
        columns = list(state["columns"])
        seen = int(state["n_samples_seen_"])
        transform = state.get("target_transform", "none")  # absent in bundles from before the log form
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"the saved scaler is damaged ({exc!r} is missing or invalid). Retrain the model.") from None
    if transform not in ("log", "none"):
        raise BundleError(f"the saved scaler is damaged (unknown target transform {transform!r}). Retrain the model.")
    if state.get("kind") != "minmax" or data_min.shape != data_max.shape or data_min.shape != (len(columns),):
        raise BundleError("the saved scaler is damaged (its shapes do not match its columns). Retrain the model.")
    if not (np.isfinite(data_min).all() and np.isfinite(data_max).all()) or (data_max <= data_min).any():
        raise BundleError("the saved scaler is damaged (its ranges are not finite and positive). Retrain the model.")
    return Scaler(data_min, data_max, (low, high), seen, transform == "log")


def scalers_to_dict(scalers: dict[str, Scaler], columns: list[str]) -> dict:
    """One scaler per series, as JSON-ready data."""
    return {
        "kind": "minmax-per-series",
        "columns": list(columns),
        "series": {key: scaler_to_dict(scaler, columns) for key, scaler in scalers.items()},
    }


def scalers_from_dict(state: dict) -> dict[str, Scaler]:
    """Rebuild the per-series scalers of `scalers_to_dict`.

    Raises:
        BundleError: the state is incomplete or inconsistent.
    """
    series = state.get("series")
    if state.get("kind") != "minmax-per-series" or not isinstance(series, dict) or not series:
        raise BundleError("the saved scaler is damaged (no per-series scalers). Retrain the model.")
    return {key: scaler_from_dict(entry) for key, entry in series.items()}
