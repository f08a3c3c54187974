"""Options shared by several commands, declared once: help texts, types and the decorators
that give a command every data or training option and build its config from them."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from typing import Annotated, Optional

import typer

from forecast.config import DataConfig, Fill, TrainConfig

# Help for every TrainConfig field; commands that train get them all through @training_options.
_TRAIN_HELP = {
    "lookback": "Past steps the model reads for each forecast (default: two seasons or two horizons, whichever is longer).",
    "horizon": "Future steps forecast at once by the model's direct output.",
    "val_fraction": "Last share of the windows held out for validation (0-1).",
    "cell": "Recurrent cell: lstm, gru, or rnn (SimpleRNN, for comparison).",
    "layers": "Stacked recurrent layers.",
    "units": "Units in each recurrent layer.",
    "dropout": "Dropout after each recurrent layer, in [0, 1).",
    "window_norm": "Normalise each window inside the model: none, last (subtract its last value) or revin (its mean and std).",
    "ensemble": "Members trained side by side from different initial weights; the forecast is their mean.",
    "ensemble_cells": "Cells of the ensemble's members: same (all --cell) or mixed (LSTM and GRU in turn).",
    "loss": "Training loss: mse, mae or huber.",
    "learning_rate": "Adam's initial learning rate.",
    "clipnorm": "Clip each gradient to this norm.",
    "epochs": "Most epochs to train; early stopping usually ends sooner.",
    "patience": "Epochs without a better validation loss before stopping (raised to cover at least 300 gradient steps).",
    "batch_size": "Windows per gradient step (default: 32 for small series, more as training windows grow, up to 256 on a CPU and 1024 on a GPU).",
    "epoch_windows": "Training windows drawn at random for each epoch (all of them when there are fewer).",
    "seed": "Random seed: the same data, machine and seed give the same model.",
    "strategy": "Device strategy; auto picks TPU, workers, GPUs or CPU.",
}
_DATA_PARAMETERS = [
    ("data", Optional[str], None, typer.Argument(help="CSV file: a time column and numeric columns.", show_default=False)),
    ("ticker", Optional[str], None, typer.Option(help="Yahoo Finance symbol to download instead of a CSV.")),
    ("start", Optional[str], None, typer.Option(help="First date for --ticker (default: ten years before --end).")),
    ("end", Optional[str], None, typer.Option(help="End date (exclusive) for --ticker (default: today).")),
    ("interval", str, "1d", typer.Option(help="Bar size for --ticker: 1d, 1wk, 1mo or 3mo.")),
    ("time_col", Optional[str], None, typer.Option(help="Time column (default: detected by name or content).")),
    ("id_col", Optional[str], None, typer.Option(help="Series id column of a long-format file: one model learns every series.")),
    ("target", Optional[str], None, typer.Option(help="Column to forecast (default: Close for tickers, else the last numeric).")),
    ("features", Optional[str], None, typer.Option(help="Extra input columns, comma-separated.")),
    ("fill", Optional[Fill], None, typer.Option(help="Repair gaps, duplicates and missing values instead of refusing them.")),
    ("offline", bool, False, typer.Option("--offline/--no-offline", help="For --ticker: use the local cache of earlier downloads only.")),
]

ModelDir = Annotated[str, typer.Option(envvar="FORECAST_MODEL_DIR", help="Model directory: its versions and which one is current.")]
Version = Annotated[Optional[str], typer.Option("--version", help="Use this version instead of the current one (see `forecast models list`).", show_default=False)]
LockTimeout = Annotated[float, typer.Option(help="Seconds to wait while another run holds the model directory; then exit 75.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes; errors and results only.")]
Plot = Annotated[Optional[str], typer.Option(help="Also draw a PNG plot to this file (written as --output is; - only when --output names a file).", show_default=False)]
Output = Annotated[Optional[str], typer.Option(help="Write here instead of standard output (-). A file is replaced only once the new one is complete; a link is followed, a FIFO or device written through.", show_default=False)]
Folds = Annotated[int, typer.Option(help="Forecast origins in the backtest.")]
Step = Annotated[Optional[int], typer.Option(help="Rows between origins (default: the horizon).", show_default=False)]
Season = Annotated[Optional[int], typer.Option(help="Seasonal period for seasonal naive and MASE (default: from the frequency).", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def data_options(command):
    """Give `command` the data source options; it receives a `data_config()` factory."""

    def build(options: dict) -> DataConfig:
        features = tuple(p.strip() for p in (options.pop("features") or "").split(",") if p.strip())
        return DataConfig(path=options.pop("data"), features=features, **options)

    extra = [_parameter(name, kind, default, info) for name, kind, default, info in _DATA_PARAMETERS]
    return _inject(command, "data_config", extra, build)


def training_options(command=None, *, skip: tuple[str, ...] = ()):
    """Give `command` every training option, declared once; it receives a `train_config(**overrides)` factory."""
    if command is None:
        return functools.partial(training_options, skip=skip)
    hints = typing.get_type_hints(TrainConfig)
    fields = [f for f in dataclasses.fields(TrainConfig) if f.name not in skip]
    extra = [_parameter(f.name, hints[f.name], f.default, typer.Option(help=_TRAIN_HELP[f.name])) for f in fields]
    return _inject(command, "train_config", extra, lambda options: TrainConfig(**options))


def _parameter(name, kind, default, info) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info])


def _inject(command, argument, extra, build):
    """Replace `command`'s `argument` parameter by the options in `extra`.

    The command receives a factory rather than the config itself, so that the config is
    built inside the command, where an invalid value becomes a one-line error.
    """
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)  # resolve the string annotations
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in signature.parameters.values()
        if p.name != argument
    ]
    names = [p.name for p in extra]

    @functools.wraps(command)
    def wrapper(**kwargs):
        options = {name: kwargs.pop(name) for name in names}
        return command(**kwargs, **{argument: lambda **overrides: build({**options, **overrides})})

    wrapper.__signature__ = signature.replace(parameters=extra + own)  # shared options first, the command's last
    return wrapper
