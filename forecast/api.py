"""The Python API: `train` and `predict` on pandas DataFrames (or files), as the command line
runs them, returning the objects it prints from.

    from forecast.api import predict, train
    result = train(frame, model_dir="m", target="Passengers", horizon=12)
    print(result.version_id, result.metrics.val_mae)
    predict("m", levels=[80]).frame      # timestamp, forecast, lower_80, upper_80

Options are the command line's, with underscores: any data option (target, time_col, id_col,
features, fill, ...) and any training option (horizon, lookback, cell, epochs, ...). Errors are
the command line's too, raised as `forecast.errors.ForecastError` (its `exit_code` is the one the
command would exit with).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from forecast.config import DataConfig, Engine, Promote, TrainConfig
from forecast.errors import ConfigError, quote

Log = Callable[[str], None]
DATAFRAME = "<DataFrame>"  # the data path a model trained on a DataFrame records
_DATA = {field.name for field in dataclasses.fields(DataConfig)} - {"path", "ticker", "start", "end", "interval", "offline"}
_TRAIN = {field.name for field in dataclasses.fields(TrainConfig)}


def train(data: pd.DataFrame | str | Path, *, model_dir: str | Path = "model", promote: str = "if-better",
          lock_timeout: float = 300.0, warm_start: bool = False, log: Log = lambda message: None, **options):
    """Train a model on `data` (a DataFrame with a time column or DatetimeIndex, or a data file)
    and add it to `model_dir` as a new version, promoted as `promote` allows ("if-better" or
    "always"), from the current version's weights with `warm_start` (as `--warm-start`). Returns a
    `forecast.train.TrainResult`: `version_id`, `metrics` (validation MAE and the baselines'),
    `verdict` (promoted or not, and why), `promotion` (that decision as the bundle stores it),
    `bundle_dir`. In a TF_CONFIG cluster every worker calls it; only the chief writes, and the
    others get a result whose `version_id` is None. (Joining the cluster has no time limit here:
    `forecast train --worker-timeout` runs each worker under a supervisor that gives one.)

    Raises:
        ForecastError: unusable data or options, a busy model directory, ...
    """
    from forecast.data.load import load_frame
    from forecast.train import train as train_model

    unknown = sorted(set(options) - _DATA - _TRAIN)
    if unknown:
        raise ConfigError(f"train() has no option {unknown[0]!r}. Options are the command line's with underscores, "
                          f"such as horizon, target or time_col.")
    data_options = {name: value for name, value in options.items() if name in _DATA}
    _check_column_options(data_options)
    for name in ("features", "future_features"):
        if isinstance(data_options.get(name), str):
            data_options[name] = tuple(part.strip() for part in data_options[name].split(",") if part.strip())
        elif name in data_options:
            data_options[name] = tuple(data_options[name])
    train_config = TrainConfig(**{name: value for name, value in options.items() if name in _TRAIN})
    frame = data if isinstance(data, pd.DataFrame) else None
    data_config = DataConfig(path=DATAFRAME if frame is not None else str(data), **data_options)
    panel = None if frame is None else load_frame(frame, data_config, log)
    return train_model(data_config, train_config, str(model_dir), promote=Promote(promote), lock_timeout=lock_timeout,
                       log=log, panel=panel, warm_start=warm_start, frame=frame)


def _check_column_options(options: dict) -> None:
    """Column options name columns by text, as a bundle records them (a list of names or one
    comma-separated string for the features).

    Raises:
        ConfigError: a column option that is not a name (an int, as pandas numbers unnamed columns).
    """
    for name in ("target", "time_col", "id_col", "features", "future_features"):
        value = options.get(name)
        given = [value] if value is None or isinstance(value, str) or name not in ("features", "future_features") else value
        for column in given:
            if column is not None and not isinstance(column, str):
                raise ConfigError(f"train()'s {name} must be a column name (text). Received: {quote(column, quotes=False)}, "
                                  f"of type {type(column).__name__}. Name the DataFrame's columns (df.columns = ['date', "
                                  "'sales', ...]) and pass those names.")


def predict(model_dir: str | Path = "model", *, horizon: int | None = None, data: pd.DataFrame | str | Path | None = None,
            future_data: pd.DataFrame | str | Path | None = None, levels: Sequence[int] = (), ids: Sequence[str] = (), version: str | None = None, engine: str = "auto",
            log: Log = lambda message: None):
    """Forecast `horizon` steps (default: the trained horizon) after the end of the training
    data, or of `data` (a DataFrame or file with the training columns); a model with future
    features reads their values at each step from `future_data`. Returns a
    `forecast.predict.Prediction`, whose `frame` is the table `forecast predict` prints.

    Raises:
        ForecastError: a missing or damaged model, unusable data, horizon, level or id.
    """
    from forecast.predict import predict as forecast_steps

    path = data if data is None or isinstance(data, pd.DataFrame) else str(data)
    future = future_data if future_data is None or isinstance(future_data, pd.DataFrame) else str(future_data)
    return forecast_steps(str(model_dir), steps=horizon, data_path=path, future_data=future, levels=tuple(levels), ids=tuple(ids),
                          version=version, engine=Engine(engine), log=log)
