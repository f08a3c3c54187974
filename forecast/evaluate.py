"""Rolling-origin backtests of the model against naive, seasonal naive and drift baselines."""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast.baselines import BASELINES, baseline_windows
from forecast.config import Cell, TrainConfig, config_to_dict
from forecast.data import Series, format_timestamp
from forecast.errors import ConfigError, DataError
from forecast.intervals import check_level, coverage, interval_bounds, windows_needed
from forecast.metrics import mae, mape, mase, mase_scale, rmse, season_length, smape
from forecast.windowing import plan_split

Log = Callable[[str], None]


@dataclasses.dataclass
class Fold:
    """One forecast origin: what was forecast from the rows before it, and what happened."""

    origin: int  # first forecast row; everything the fold learnt from lies before it
    timestamps: list[str]  # of the forecast rows
    actual: np.ndarray  # (horizon,)
    forecasts: dict[str, np.ndarray]  # "model" and each baseline -> (horizon,)
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]  # level -> (lower, upper) around the model's forecast
    scale: float  # MASE denominator from the rows before the origin
    training: dict  # epochs_run, best_val_loss, train_seconds, parameters


@dataclasses.dataclass
class Backtest:
    """The folds of one backtest and their scores."""

    cell: str
    target: str
    frequency: str
    horizon: int
    season: int
    levels: list[int]  # interval levels calibrated in every fold
    unavailable: dict[int, str]  # levels that could not be, and why
    folds: list[Fold]
    config: dict
    history: pd.Series  # the target, for plots

    @property
    def methods(self) -> list[str]:
        return ["model", *BASELINES]

    def scores(self) -> dict[str, dict[str, float | None]]:
        """MAE, RMSE, sMAPE %, MAPE % and MASE per method over every fold and step."""
        out = {}
        for method in self.methods:
            actual = np.stack([fold.actual for fold in self.folds])
            forecast = np.stack([fold.forecasts[method] for fold in self.folds])
            out[method] = {
                "mae": mae(actual, forecast),
                "rmse": rmse(actual, forecast),
                "smape": smape(actual, forecast),
                "mape": mape(actual, forecast),
                "mase": float(np.mean([mase(f.actual, f.forecasts[method], f.scale) for f in self.folds])),
            }
        return out

    def by_step(self) -> dict[str, list[float]]:
        """MAE at each step of the horizon, over the folds, per method."""
        actual = np.stack([fold.actual for fold in self.folds])
        return {
            method: np.mean(np.abs(np.stack([f.forecasts[method] for f in self.folds]) - actual), axis=0).tolist()
            for method in self.methods
        }

    def coverage(self) -> dict[int, float]:
        """Share of actual values inside each level's interval, over every fold and step."""
        actual = np.concatenate([fold.actual for fold in self.folds])
        return {
            level: coverage(
                actual,
                np.concatenate([fold.bounds[level][0] for fold in self.folds]),
                np.concatenate([fold.bounds[level][1] for fold in self.folds]),
            )
            for level in self.levels
        }

    def training(self) -> dict[str, float]:
        """Parameters, total training time, mean epochs and mean best validation loss over the folds."""
        runs = [fold.training for fold in self.folds]
        return {
            "parameters": runs[0]["parameters"],
            "train_seconds": float(sum(run["train_seconds"] for run in runs)),
            "epochs_run": float(np.mean([run["epochs_run"] for run in runs])),
            "best_val_loss": float(np.mean([run["best_val_loss"] for run in runs])),
        }

    def to_dict(self) -> dict:
        """Everything, JSON-ready: the same numbers the tables print."""
        return {
            "cell": self.cell,
            "target": self.target,
            "frequency": self.frequency,
            "horizon": self.horizon,
            "season": self.season,
            "scores": self.scores(),
            "by_step_mae": self.by_step(),
            "coverage": {str(level): value for level, value in self.coverage().items()},
            "coverage_unavailable": {str(level): why for level, why in self.unavailable.items()},
            "training": self.training(),
            "folds": [
                {
                    "origin": fold.timestamps[0],
                    "timestamps": fold.timestamps,
                    "actual": fold.actual.tolist(),
                    "forecasts": {name: values.tolist() for name, values in fold.forecasts.items()},
                    "intervals": {
                        str(level): {"lower": lower.tolist(), "upper": upper.tolist()}
                        for level, (lower, upper) in fold.bounds.items()
                    },
                    "mase_scale": fold.scale,
                    "training": fold.training,
                }
                for fold in self.folds
            ],
            "config": self.config,
        }


def plan_origins(n_rows: int, horizon: int, folds: int, step: int) -> list[int]:
    """Forecast origins, oldest first; the last fold's horizon ends at the last row.

    With 100 rows, horizon 12, 3 folds and step 12 the origins are rows 64, 76 and 88.
    """
    if not isinstance(folds, int) or folds < 1:
        raise ConfigError(f"--folds must be a whole number of at least 1. Received: {folds}.")
    if not isinstance(step, int) or step < 1:
        raise ConfigError(f"--step must be a whole number of at least 1. Received: {step}.")
    return [n_rows - horizon - (folds - 1 - k) * step for k in range(folds)]


def backtest(
    series: Series,
    train_config: TrainConfig,
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    levels: Sequence[int] = (80, 95),
    log: Log = lambda message: None,
) -> Backtest:
    """Train on the rows before each origin only, forecast `horizon` steps, and score them.

    Each fold fits its own scaler and model on rows before its origin, exactly as `forecast
    train` would on that data, and the baselines see the same rows.

    Raises:
        ForecastError: options or data that cannot support the folds asked for.
    """
    from forecast.predict import forecast_from
    from forecast.train import fit, prepare

    horizon, lookback = train_config.horizon, train_config.lookback
    step = horizon if step is None else step
    season = season_length(series.frequency) if season is None else season
    if not isinstance(season, int) or season < 1:
        raise ConfigError(f"--season must be a whole number of at least 1. Received: {season}.")
    for level in levels:
        check_level(level)
    origins = plan_origins(len(series.frame), horizon, folds, step)
    unavailable = _check_earliest_fold(origins[0], folds, train_config, levels)
    levels = sorted(set(levels) - set(unavailable))

    values = series.frame.to_numpy()  # (rows, columns); column 0 is the target
    target = values[:, 0]
    results = []
    for number, origin in enumerate(origins, start=1):
        past = dataclasses.replace(series, frame=series.frame.iloc[:origin])  # nothing at or after the origin
        fitted = fit(prepare(past, train_config), train_config)
        forecast = forecast_from(fitted.model, fitted.prepared.scaler, values[origin - lookback : origin], horizon)
        forecasts = {"model": forecast}
        for name in BASELINES:
            forecasts[name] = baseline_windows(name, target, np.array([origin]), horizon, season)[0]
        stamps = series.frame.index[origin : origin + horizon]
        training = {key: fitted.metrics[key] for key in ("epochs_run", "best_val_loss", "train_seconds", "parameters")}
        results.append(
            Fold(
                origin=origin,
                timestamps=[format_timestamp(t, series.frequency) for t in stamps],
                actual=target[origin : origin + horizon],
                forecasts=forecasts,
                bounds={level: interval_bounds(forecast, fitted.calibration, level) for level in levels},
                scale=mase_scale(target[:origin], season),
                training=training,
            )
        )
        log(
            f"fold {number}/{folds}: origin {format_timestamp(stamps[0], series.frequency)}, "
            f"{origin} rows of history, {training['epochs_run']} epochs in {training['train_seconds']:.1f} s"
        )
    return Backtest(
        cell=Cell(train_config.cell).value,
        target=series.target,
        frequency=series.frequency,
        horizon=horizon,
        season=season,
        levels=levels,
        unavailable=unavailable,
        folds=results,
        config={**config_to_dict(train_config), "folds": folds, "step": step},
        history=series.frame[series.target],
    )


def compare(
    series: Series,
    train_config: TrainConfig,
    cells: Sequence[Cell],
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    log: Log = lambda message: None,
) -> list[Backtest]:
    """The same backtest for each cell, on the same origins and baselines."""
    if not cells:
        raise ConfigError("--cells must name at least one of lstm, gru, rnn. Received: nothing.")
    runs = []
    for cell in cells:
        log(f"backtesting {Cell(cell).value}")
        config = dataclasses.replace(train_config, cell=Cell(cell))
        runs.append(backtest(series, config, folds=folds, step=step, season=season, levels=(), log=log))
    return runs


def _check_earliest_fold(origin: int, folds: int, config: TrainConfig, levels: Sequence[int]) -> dict[int, str]:
    """Refuse, before any training, folds that leave too little history.

    Returns:
        The levels whose intervals cannot be calibrated in every fold, with the reason.
    """
    try:
        split = plan_split(max(origin, 0), config.lookback, config.horizon, config.val_fraction)
    except DataError as exc:
        raise DataError(
            f"{exc} (The earliest of {folds} folds has {max(origin, 0)} rows of history: "
            "use fewer --folds or a smaller --step.)"
        ) from None
    return {
        level: f"needs {windows_needed(level)} validation windows, the earliest fold has {split.n_val}"
        for level in levels
        if split.n_val < windows_needed(level)
    }
