"""Forecast accuracy measures: MAE, RMSE, sMAPE, MAPE and MASE."""

from __future__ import annotations

import numpy as np

from forecast.errors import DataError

def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(forecast)) ** 2)))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent, as the M4 competition defines it: 200 · mean |y − ŷ| / (|y| + |ŷ|).

    A step where both the actual and the forecast are 0 counts as no error.
    """
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(np.abs(actual - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(200 * np.mean(ratio))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float | None:
    """Mean absolute percentage error in percent; None when an actual value is 0."""
    actual, forecast = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    if np.any(actual == 0):
        return None
    return float(100 * np.mean(np.abs((actual - forecast) / actual)))


def mase_scale(history: np.ndarray, season: int) -> float:
    """The in-sample MAE of a seasonal naive forecast: MASE's denominator.

    Raises:
        DataError: the history is too short for the season, or has no variation at that lag.
    """
    history = np.asarray(history, dtype=float)
    if len(history) <= season:
        raise DataError(
            f"MASE needs more than one season of history ({season} steps); the history has {len(history)}. "
            "Pass a smaller --season or supply more history."
        )
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    if scale == 0:
        raise DataError(
            f"MASE is undefined: the history repeats exactly every {season} steps. Pass another --season."
        )
    return scale


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: MAE divided by `mase_scale` of the history before the forecast."""
    return mae(actual, forecast) / scale
