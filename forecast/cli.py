"""The `forecast` command line: parse options, call one library function, print the result."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import sys
import tempfile
import typing
from typing import Annotated, List, Optional

import typer

from forecast import __version__
from forecast.config import Cell, DataConfig, Fill, OutputFormat, TrainConfig
from forecast.errors import ForecastError

app = typer.Typer(
    name="forecast",
    help="Train stacked LSTM/GRU models on a time series (a CSV file or a ticker) and forecast from them.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
_state = {"verbose": False}

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
    "patience": "Epochs without a better validation loss before stopping.",
    "batch_size": "Windows per gradient step.",
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
]

ModelDir = Annotated[str, typer.Option(envvar="FORECAST_MODEL_DIR", help="Bundle directory.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes; errors and results only.")]
Plot = Annotated[Optional[str], typer.Option(help="Also draw a PNG plot to this file.", show_default=False)]
Output = Annotated[Optional[str], typer.Option(help="Write here instead of standard output.", show_default=False)]
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


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show tracebacks and TensorFlow's logs.")] = False,
) -> None:
    if version:
        typer.echo(f"forecast {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
    _state["verbose"] = verbose
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter


@app.command()
@data_options
@training_options
def train(data_config, train_config, model_dir: ModelDir = "model", plot: Plot = None, quiet: Quiet = False) -> None:
    """Train a model on DATA (or --ticker) and save it as a bundle in --model-dir."""

    def run() -> None:
        data, config = data_config(), train_config()
        _check_file_destination(plot, "--plot")
        from forecast.report import training_summary
        from forecast.train import train as train_model

        progress = 0 if quiet else (1 if sys.stdout.isatty() else 2)
        result = train_model(data, config, model_dir, log=_notes(quiet), verbose=progress)
        typer.echo(training_summary(result, config))
        if plot:
            from forecast.plots import plot_loss

            plot_loss(result.fitted.history, result.metrics["best_epoch"], plot)
            _notes(quiet)(f"wrote the loss plot to {plot}")

    _run(run)


@app.command()
def predict(
    model_dir: ModelDir = "model",
    horizon: Annotated[Optional[int], typer.Option(help="Steps to forecast (default: the trained horizon).", show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option(help="Recent history (same columns) to forecast from; default: the end of the training data.")] = None,
    level: Annotated[Optional[List[int]], typer.Option(help="Add a prediction interval at this percentage; repeat for several.", show_default=False)] = None,
    id: Annotated[Optional[List[str]], typer.Option("--id", help="Forecast only this series of a several-series model; repeat for several.", show_default=False)] = None,
    output: Output = None,
    format: Annotated[Optional[OutputFormat], typer.Option(help="csv or json (default: from --output's extension, else csv).", show_default=False)] = None,
    plot: Plot = None,
    quiet: Quiet = False,
) -> None:
    """Forecast the next --horizon steps from a trained bundle."""

    def run() -> None:
        _check_file_destination(output, "--output")
        _check_file_destination(plot, "--plot")
        from forecast.predict import predict as forecast_steps

        result = forecast_steps(model_dir, horizon=horizon, data_path=data, levels=level or (), ids=id or (), log=_notes(quiet))
        if plot and len(result.recent) > 1:
            raise ForecastError(f"--plot draws one series; this forecast has {len(result.recent)}. Pick one with --id.")
        chosen = format or (OutputFormat.json if output and output.lower().endswith(".json") else OutputFormat.csv)
        if chosen is OutputFormat.csv:
            text = result.frame.to_csv(index=False, float_format="%.6g")
        else:
            text = json.dumps({"forecasts": result.frame.to_dict(orient="records")}, indent=2) + "\n"
        _emit(text, output, quiet, f"wrote {len(result.frame)} forecasts to {output}")
        if plot:
            from forecast.plots import plot_forecast

            (recent,) = result.recent.values()
            plot_forecast(recent, result.frame, result.target, plot)
            _notes(quiet)(f"wrote the forecast plot to {plot}")

    _run(run)


@app.command()
def info(
    model_dir: ModelDir = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole metadata as JSON.")] = False,
) -> None:
    """Describe the bundle in --model-dir: data, frequency, configuration and metrics."""

    def run() -> None:
        from forecast.bundle import read_bundle
        from forecast.report import describe_bundle

        bundle = read_bundle(model_dir)
        typer.echo(json.dumps(bundle.metadata, indent=2) if as_json else describe_bundle(bundle))

    _run(run)


@app.command()
@data_options
@training_options
def evaluate(
    data_config,
    train_config,
    folds: Folds = 3,
    step: Step = None,
    season: Season = None,
    level: Annotated[Optional[List[int]], typer.Option(help="Interval levels whose coverage is reported (default: 80 and 95).", show_default=False)] = None,
    as_json: AsJson = False,
    output: Output = None,
    plot: Plot = None,
    quiet: Quiet = False,
) -> None:
    """Backtest from several origins: the model against naive, seasonal naive and drift."""

    def run() -> None:
        data, config = data_config(), train_config()
        _check_file_destination(output, "--output")
        _check_file_destination(plot, "--plot")
        from forecast.data import load_panel
        from forecast.evaluate import backtest
        from forecast.report import backtest_report

        panel = load_panel(data, _notes(quiet))
        result = backtest(panel, config, folds=folds, step=step, season=season,
                          levels=level or (80, 95), log=_notes(quiet))
        text = json.dumps(result.to_dict(), indent=2) + "\n" if as_json or _is_json(output) else backtest_report(result) + "\n"
        _emit(text, output, quiet, f"wrote the backtest to {output}")
        if plot:
            from forecast.plots import plot_backtest

            plot_backtest(result, plot)
            _notes(quiet)(f"wrote the backtest plot to {plot}")

    _run(run)


@app.command()
@data_options
@training_options(skip=("cell",))
def compare(
    data_config,
    train_config,
    cells: Annotated[str, typer.Option(help="Cells to compare, comma-separated.")] = "lstm,gru,rnn",
    folds: Folds = 3,
    step: Step = None,
    season: Season = None,
    as_json: AsJson = False,
    output: Output = None,
    quiet: Quiet = False,
) -> None:
    """Backtest several cells on the same origins and tabulate them beside the baselines."""

    def run() -> None:
        data, config = data_config(), train_config()
        chosen = _parse_cells(cells)
        _check_file_destination(output, "--output")
        from forecast.data import load_panel
        from forecast.evaluate import compare as compare_cells
        from forecast.report import compare_report

        panel = load_panel(data, _notes(quiet))
        results = compare_cells(panel, config, chosen, folds=folds, step=step, season=season, log=_notes(quiet))
        if as_json or _is_json(output):
            text = json.dumps({"runs": [result.to_dict() for result in results]}, indent=2) + "\n"
        else:
            text = compare_report(results) + "\n"
        _emit(text, output, quiet, f"wrote the comparison to {output}")

    _run(run)


def _run(body) -> None:
    """Run a command body, turning failures into one line on stderr and an exit code."""
    try:
        body()
    except ForecastError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("error: interrupted; nothing was replaced.", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if _state["verbose"]:
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        typer.echo(f"error: unexpected {type(exc).__name__}: {detail} (rerun with --verbose for the traceback)", err=True)
        raise typer.Exit(1) from None


def _notes(quiet: bool):
    return (lambda message: None) if quiet else (lambda message: typer.echo(message, err=True))


def _parse_cells(text: str) -> list[Cell]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in Cell.__members__]
    if unknown or not names:
        raise ForecastError(f"--cells takes lstm, gru and rnn, comma-separated. Received: {text!r}.")
    return [Cell(name) for name in dict.fromkeys(names)]


def _is_json(path: str | None) -> bool:
    return bool(path) and path.lower().endswith(".json")


def _check_file_destination(path: str | None, flag: str) -> None:
    """Refuse an output path whose directory is missing, before any work is done."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ForecastError(f"{flag} directory {directory!r} does not exist. Create it or choose another path.")
    if os.path.isdir(path):
        raise ForecastError(f"{flag} {path!r} is a directory. Name a file.")


def _emit(text: str, output: str | None, quiet: bool, note: str) -> None:
    """Print `text`, or write it to `output` atomically."""
    if output is None:
        typer.echo(text, nl=False)
        return
    directory = os.path.dirname(os.path.abspath(output))
    try:
        handle, staging = tempfile.mkstemp(prefix=".forecast-", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(staging, output)
    except OSError as exc:
        raise ForecastError(f"cannot write --output {output!r} ({exc.strerror}). Choose another path.") from None
    _notes(quiet)(note)
