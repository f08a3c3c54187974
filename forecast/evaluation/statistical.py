"""The models a statistician would try first: AutoETS and AutoTheta, from statsforecast.

Backtests score them on the same folds as the network so every report says whether the
network beats them. statsforecast is imported on first use: it costs about a second, which
`forecast evaluate` pays once and `forecast predict` never.
"""

from __future__ import annotations

import warnings

import numpy as np

STATISTICAL = ("auto_ets", "auto_theta")


def forecast_statistical(name: str, history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """`horizon` steps after `history` by statsforecast's automatic ETS or Theta.

    AutoETS picks error, trend and season forms (additive, multiplicative, damped) by AICc;
    AutoTheta picks among the standard, optimised and dynamic Theta methods by in-sample
    MSE, after a seasonality test. Both take the season as statsforecast's `season_length`.

    Returns:
        (horizon,) forecasts, all NaN when the model cannot be fitted to this history
        (statsforecast refuses series of a handful of points); reports show such a method as n/a.
    """
    from statsforecast.models import AutoETS, AutoTheta

    models = {"auto_ets": AutoETS, "auto_theta": AutoTheta}
    if name not in models:
        raise ValueError(f"unknown statistical model {name!r}; expected one of {', '.join(STATISTICAL)}")
    history = np.asarray(history, dtype=float)
    try:
        with warnings.catch_warnings():
            # A constant history divides by zero inside the Theta decomposition; the forecast is still the constant.
            warnings.simplefilter("ignore", RuntimeWarning)
            forecast = models[name](season_length=max(1, int(season))).forecast(y=history, h=horizon)["mean"]
    except (NotImplementedError, ValueError, ZeroDivisionError, np.linalg.LinAlgError):
        return np.full(horizon, np.nan)
    forecast = np.asarray(forecast, dtype=float)
    return forecast if np.all(np.isfinite(forecast)) else np.full(horizon, np.nan)
