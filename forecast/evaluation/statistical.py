"""The models a statistician tries first, as competitors in backtests: AutoETS and AutoTheta.

Both come from statsforecast (Nixtla), fitted on a series' history before each origin, with the
seasonal period the backtest uses. They forecast one origin at a time (a fit per origin), so they
stand beside the network in `forecast evaluate` and `forecast compare`, where there is one origin
per fold, not in training's validation metrics, which score every validation window.
"""

from __future__ import annotations

import numpy as np

STATISTICAL = ("auto_ets", "auto_theta")


def forecast_statistical(name: str, history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """`horizon` steps after `history` by the statsforecast model called `name`.

    A seasonal fit needs two full seasons; with fewer (or when the seasonal fit fails on the data)
    the model is fitted without a season, as statsforecast would on non-seasonal data.

    Returns:
        (horizon,) forecasts in the data's units.
    """
    from statsforecast.models import AutoETS, AutoTheta

    models = {"auto_ets": AutoETS, "auto_theta": AutoTheta}
    if name not in models:
        raise ValueError(f"unknown statistical model {name!r}; expected one of {', '.join(STATISTICAL)}")
    values = np.asarray(history, dtype=float)
    periods = [season, 1] if season > 1 and len(values) >= 2 * season else [1]
    for period in periods:
        try:
            with np.errstate(all="ignore"):
                forecast = np.asarray(models[name](season_length=period).forecast(values, h=horizon)["mean"], dtype=float)
        except Exception:  # statsforecast raises ValueError, LinAlgError... on data a model cannot fit
            continue
        if forecast.shape == (horizon,) and np.isfinite(forecast).all():
            return forecast
    return np.full(horizon, np.nan)  # scored as missing, never as a forecast
