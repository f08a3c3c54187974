"""Rolling-origin backtests of the model against the naive baselines and the statistical models."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from forecast.config import Cell, TrainConfig, config_to_dict
from forecast.data.frequency import format_timestamp, season_length
from forecast.data.load import Panel, id_column
from forecast.errors import ConfigError, DataError
from forecast.evaluation.baselines import BASELINES, forecast_baseline
from forecast.evaluation.intervals import BASES, check_level, coverage
from forecast.evaluation.metrics import mae, mape, mase, mase_scale, rmse, smape
from forecast.evaluation.statistical import STATISTICAL, forecast_statistical
from forecast.model.cluster import refuse
from forecast.model.fit import BASELINE_CANDIDATES, choose_lookback, fit, prepare

Log = Callable[[str], None]

# What every backtest scores beside the model, on the same folds: the naive baselines, then the
# statistical models a statistician would try first.
REFERENCES = (*BASELINES, *STATISTICAL)


@dataclasses.dataclass
class Fold:
    """One forecast origin: what was forecast from the rows before it, and what happened."""

    series_id: str  # "" for a single series
    number: int  # which fold, from 1 (oldest origin)
    origin: int  # first forecast row; everything the fold learnt from lies before it
    timestamps: list[str]  # of the forecast rows
    actual: np.ndarray  # (horizon,)
    forecasts: dict[str, np.ndarray]  # "model" and each of REFERENCES -> (horizon,); NaN where a model could not fit
    bounds: dict[int, tuple[np.ndarray, np.ndarray]]  # level -> (lower, upper) around the model's forecast
    bases: dict[int, list[str]]  # level -> how each step's width was calibrated (intervals.BASES)
    scale: float  # MASE denominator from the rows before the origin
    training: dict  # epochs_run, best_val_loss, val_mae (data units, pooled), train_seconds, parameters, window_norm


@dataclasses.dataclass
class Backtest:
    """The folds of one backtest and their scores."""

    cell: str
    target: str
    ids: list[str]
    frequency: str
    horizon: int
    season: int
    levels: list[int]  # interval levels whose coverage is measured
    folds: list[Fold]
    config: dict
    targets: dict[str, pd.Series]  # each series' target on its DatetimeIndex, for plots

    @property
    def methods(self) -> list[str]:
        return ["model", *REFERENCES]

    def series_scores(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """Per series: MAE, RMSE, sMAPE %, MAPE % and MASE per method over its folds and steps.

        A method that could not forecast one of the series' folds scores None there.
        """
        out = {}
        for key in self.ids:
            folds = [fold for fold in self.folds if fold.series_id == key]
            actual = np.stack([fold.actual for fold in folds])
            out[key] = {}
            for method in self.methods:
                forecast = np.stack([fold.forecasts[method] for fold in folds])
                if not np.all(np.isfinite(forecast)):
                    out[key][method] = dict.fromkeys(("mae", "rmse", "smape", "mape", "mase"))
                    continue
                out[key][method] = {
                    "mae": mae(actual, forecast),
                    "rmse": rmse(actual, forecast),
                    "smape": smape(actual, forecast),
                    "mape": mape(actual, forecast),
                    "mase": float(np.mean([mase(f.actual, f.forecasts[method], f.scale) for f in folds])),
                }
        return out

    def scores(self) -> dict[str, dict[str, float | None]]:
        """Each measure per method, averaged over series (as M4 averages): a single series' own scores."""
        per_series = self.series_scores()
        out = {}
        for method in self.methods:
            out[method] = {}
            for measure in ("mae", "rmse", "smape", "mape", "mase"):
                values = [per_series[key][method][measure] for key in self.ids]
                out[method][measure] = None if any(v is None for v in values) else float(np.mean(values))
        return out

    def by_step(self) -> dict[str, list[float | None]]:
        """MAE at each step of the horizon, per method: over each series' folds, then over series
        (None at a step where the method could not forecast some fold)."""
        steps = {}
        for method in self.methods:
            per_series = []
            for key in self.ids:
                folds = [fold for fold in self.folds if fold.series_id == key]
                errors = np.abs(np.stack([f.forecasts[method] for f in folds]) - np.stack([f.actual for f in folds]))
                per_series.append(errors.mean(axis=0))
            steps[method] = _nan_to_none(np.mean(per_series, axis=0))
        return steps

    def coverage(self) -> dict[int, float]:
        """Share of actual values inside each level's interval, over every series, fold and step."""
        actual = np.concatenate([fold.actual for fold in self.folds])
        return {
            level: coverage(
                actual,
                np.concatenate([fold.bounds[level][0] for fold in self.folds]),
                np.concatenate([fold.bounds[level][1] for fold in self.folds]),
            )
            for level in self.levels
        }

    def coverage_by_basis(self) -> dict[int, dict[str, tuple[float, int]]]:
        """Per level, the coverage and count of the forecasts behind each way of calibrating a
        width (split-conformal, Student t): whether each reached its level where it applied."""
        out = {}
        for level in self.levels:
            inside = np.concatenate([(f.actual >= f.bounds[level][0]) & (f.actual <= f.bounds[level][1]) for f in self.folds])
            bases = np.concatenate([f.bases[level] for f in self.folds])
            out[level] = {basis: (float(inside[bases == basis].mean()), int(np.sum(bases == basis)))
                          for basis in BASES if np.any(bases == basis)}
        return out

    def training(self) -> dict:
        """Parameters, total training time, mean epochs and mean best validation loss over the folds,
        and the folds whose model forecast a baseline instead of a network."""
        runs = list({fold.number: fold.training for fold in self.folds}.values())  # one model per fold
        return {
            "parameters": runs[0]["parameters"],
            "train_seconds": float(sum(run["train_seconds"] for run in runs)),
            "epochs_run": float(np.mean([run["epochs_run"] for run in runs])),
            # None where a fold kept seasonal naive, which trained nothing.
            "best_val_loss": _mean_or_none([run["best_val_loss"] for run in runs]),
            # Folds where --window-norm auto kept a baseline, so "model" forecast it: baseline -> folds.
            "fell_back": dict(Counter(run["window_norm"] for run in runs if run["window_norm"] in BASELINE_CANDIDATES)),
            "folds": len(runs),
        }

    def table(self, id_col: str | None = None) -> pd.DataFrame:
        """Every forecast row of every fold, one row each, as statsforecast's and NeuralForecast's
        cross-validation return them: [`id_col`,] timestamp, cutoff (the last row the fold learnt
        from), fold, actual, the model, each reference, and the model's interval bounds."""
        frames = []
        for fold in self.folds:
            frame = pd.DataFrame({
                "timestamp": fold.timestamps,
                "cutoff": format_timestamp(self.targets[fold.series_id].index[fold.origin - 1], self.frequency),
                "fold": fold.number,
                "actual": fold.actual,
                **{method: fold.forecasts[method] for method in self.methods},
            })
            for level, (lower, upper) in sorted(fold.bounds.items()):
                frame[f"lower_{level}"], frame[f"upper_{level}"] = lower, upper
            if id_col is not None:
                frame.insert(0, id_column(id_col, frame.columns), fold.series_id)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def to_dict(self) -> dict:
        """Everything, JSON-ready: the same numbers the tables print."""
        return {
            "cell": self.cell,
            "target": self.target,
            "frequency": self.frequency,
            "horizon": self.horizon,
            "season": self.season,
            "series": self.ids,
            "scores": self.scores(),
            "series_scores": self.series_scores(),
            "by_step_mae": self.by_step(),
            "coverage": {str(level): value for level, value in self.coverage().items()},
            "coverage_by_basis": {
                str(level): {basis: {"coverage": share, "forecasts": count} for basis, (share, count) in bases.items()}
                for level, bases in self.coverage_by_basis().items()
            },
            "training": self.training(),
            "folds": [
                {
                    "series": fold.series_id,
                    "fold": fold.number,
                    "origin": fold.timestamps[0],
                    "timestamps": fold.timestamps,
                    "actual": fold.actual.tolist(),
                    "forecasts": {name: _nan_to_none(values) for name, values in fold.forecasts.items()},
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


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _mean_or_none(values: list) -> float | None:
    present = [value for value in values if value is not None]
    return float(np.mean(present)) if present else None


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
    panel: Panel,
    train_config: TrainConfig,
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    levels: Sequence[int] = (80, 95),
    log: Log = lambda message: None,
    references: dict | None = None,
) -> Backtest:
    """Train on the rows before each origin only, forecast `horizon` steps, and score them.

    Each series' origins count back from its own last row. Each fold fits the scalers and one
    model on the rows before the origins only, exactly as `forecast train` would on that data,
    and the baselines see the same rows.

    Args:
        references: forecasts of REFERENCES by (series, origin), filled as they are made; `compare`
            passes one dict to every cell's backtest so the statistical models fit once per fold.

    Raises:
        ForecastError: options or data that cannot support the folds asked for.
    """
    refuse("evaluate" if references is None else "compare", train_config.strategy)
    first = panel.first
    references = {} if references is None else references
    step = train_config.horizon if step is None else step
    season = season_length(first.frequency) if season is None else season
    if not isinstance(season, int) or season < 1:
        raise ConfigError(f"--season must be a whole number of at least 1. Received: {season}.")
    for level in levels:
        check_level(level)
    if not levels:  # refits only calibrate intervals; without them each fold's forecast is the same
        train_config = dataclasses.replace(train_config, interval_refits=0)
    origins = {key: plan_origins(len(s.frame), train_config.horizon, folds, step) for key, s in panel.series.items()}
    earliest = panel.head({key: o[0] for key, o in origins.items()})
    if train_config.lookback is None:
        # One lookback for every fold: the one training would choose on the earliest fold's data.
        shortest = min(len(s.frame) for s in earliest.series.values())
        lookback = choose_lookback(season_length(first.frequency), train_config.horizon, shortest)
        train_config = dataclasses.replace(train_config, lookback=lookback)
    _check_earliest_fold(earliest, folds, train_config)
    levels = sorted(set(levels))
    if first.future_features:
        log(f"future features {', '.join(first.future_features)}: each fold reads their actual values after its origin "
            "(an oracle setting; in use they would be forecasts, so expect larger errors)")

    results = []
    for number in range(1, folds + 1):
        cut = {key: o[number - 1] for key, o in origins.items()}
        fitted = fit(prepare(panel.head(cut), train_config))  # nothing at or after any origin
        config = fitted.prepared.config
        horizon = config.horizon
        forecaster = fitted.forecaster()
        rows = {key: s.frame.to_numpy() for key, s in panel.series.items()}
        stamps = {key: s.frame.index for key, s in panel.series.items()}
        forecasts = forecaster.forecast(rows, horizon, {key: [cut[key]] for key in rows}, stamps)  # per series (1, horizon)
        training = {key: getattr(fitted.metrics, key) for key in ("epochs_run", "best_val_loss", "val_mae", "train_seconds", "parameters")}
        training["window_norm"] = fitted.selection.chosen if fitted.selection else config.window_norm.value
        for key, series in panel.series.items():
            origin, target = cut[key], series.frame[series.target].to_numpy()
            forecast = forecasts[key][0]
            if (key, origin) not in references:
                references[(key, origin)] = reference_forecasts(target[:origin], horizon, season)
            by_method = {"model": forecast, **references[(key, origin)]}
            stamps = series.frame.index[origin : origin + horizon]
            results.append(Fold(
                series_id=key,
                number=number,
                origin=origin,
                timestamps=[format_timestamp(t, series.frequency) for t in stamps],
                actual=target[origin : origin + horizon],
                forecasts=by_method,
                bounds={level: forecaster.interval(key, forecast, level) for level in levels},
                bases={level: [fitted.calibration.basis(level, s) for s in range(1, horizon + 1)] for level in levels},
                scale=mase_scale(target[:origin], season),
                training=training,
            ))
        where = f"origin {results[-1].timestamps[0]}" if len(panel.series) == 1 else f"{len(panel.series)} series"
        log(
            f"fold {number}/{folds}: {where}, {sum(cut.values())} rows of history, "
            f"{training['epochs_run']} epochs in {training['train_seconds']:.1f} s"
        )
    return Backtest(
        cell=train_config.cell.value,
        target=first.target,
        ids=list(panel.series),
        frequency=first.frequency,
        horizon=horizon,
        season=season,
        levels=levels,
        folds=results,
        config={**config_to_dict(config), "folds": folds, "step": step},
        targets={key: s.frame[s.target] for key, s in panel.series.items()},
    )


def reference_forecasts(history: np.ndarray, horizon: int, season: int) -> dict[str, np.ndarray]:
    """The forecast of each of REFERENCES from `history`: (horizon,) each, NaN where a model cannot fit."""
    return {
        **{name: forecast_baseline(name, history, horizon, season) for name in BASELINES},
        **{name: forecast_statistical(name, history, horizon, season) for name in STATISTICAL},
    }


def compare(
    panel: Panel,
    train_config: TrainConfig,
    cells: Sequence[Cell],
    *,
    folds: int = 3,
    step: int | None = None,
    season: int | None = None,
    log: Log = lambda message: None,
) -> list[Backtest]:
    """The same backtest for each cell, on the same origins, baselines and statistical models."""
    if not cells:
        raise ConfigError("--cells must name at least one of lstm, gru, rnn. Received: nothing.")
    runs, references = [], {}
    for cell in cells:
        log(f"backtesting {Cell(cell).value}")
        config = dataclasses.replace(train_config, cell=Cell(cell))
        runs.append(backtest(panel, config, folds=folds, step=step, season=season, levels=(), log=log,
                             references=references))
    return runs


def _check_earliest_fold(earliest: Panel, folds: int, config: TrainConfig) -> None:
    """Refuse, before any training, folds that leave too little history."""
    rows = min(len(s.frame) for s in earliest.series.values())
    try:
        prepare(earliest, config)
    except DataError as exc:
        raise DataError(
            f"{exc} (The earliest of {folds} folds has {rows} rows of history: use fewer --folds or a smaller --step.)"
        ) from None
