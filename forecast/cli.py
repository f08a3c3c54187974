"""The `forecast` command line: parse options, call one library function, print the result."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Annotated, Optional

import typer

from forecast import __version__
from forecast.config import Cell, DataConfig, Fill, OutputFormat, Strategy, TrainConfig
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
_DEFAULTS = TrainConfig()

# Options shared by every command that trains, declared once.
Lookback = Annotated[int, typer.Option(help="Past steps the model reads for each forecast.")]
Horizon = Annotated[int, typer.Option(help="Future steps forecast at once by the model's direct output.")]
ValFraction = Annotated[float, typer.Option(help="Last share of the windows held out for validation (0-1).")]
CellOpt = Annotated[Cell, typer.Option(help="Recurrent cell: lstm, gru, or rnn (SimpleRNN, for comparison).")]
Layers = Annotated[int, typer.Option(help="Stacked recurrent layers.")]
Units = Annotated[int, typer.Option(help="Units in each recurrent layer.")]
Dropout = Annotated[float, typer.Option(help="Dropout after each recurrent layer, in [0, 1).")]
LearningRate = Annotated[float, typer.Option(help="Adam's initial learning rate.")]
Clipnorm = Annotated[float, typer.Option(help="Clip each gradient to this norm.")]
Epochs = Annotated[int, typer.Option(help="Most epochs to train; early stopping usually ends sooner.")]
Patience = Annotated[int, typer.Option(help="Epochs without a better validation loss before stopping.")]
BatchSize = Annotated[int, typer.Option(help="Windows per gradient step.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same data, machine and seed give the same model.")]
StrategyOpt = Annotated[Strategy, typer.Option(help="Device strategy; auto picks TPU, workers, GPUs or CPU.")]
DataArg = Annotated[Optional[str], typer.Argument(help="CSV file: a time column and numeric columns.", show_default=False)]
Ticker = Annotated[Optional[str], typer.Option(help="Yahoo Finance symbol to download instead of a CSV.")]
Start = Annotated[Optional[str], typer.Option(help="First date for --ticker (default: ten years before --end).")]
End = Annotated[Optional[str], typer.Option(help="End date (exclusive) for --ticker (default: today).")]
Interval = Annotated[str, typer.Option(help="Bar size for --ticker: 1d, 1wk, 1mo or 3mo.")]
TimeCol = Annotated[Optional[str], typer.Option(help="Time column (default: detected by name or content).")]
Target = Annotated[Optional[str], typer.Option(help="Column to forecast (default: Close for tickers, else the last numeric).")]
Features = Annotated[Optional[str], typer.Option(help="Extra input columns, comma-separated.")]
FillOpt = Annotated[Optional[Fill], typer.Option(help="Repair gaps, duplicates and missing values instead of refusing them.")]
ModelDir = Annotated[str, typer.Option(envvar="FORECAST_MODEL_DIR", help="Bundle directory.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notes; errors and results only.")]


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
def train(
    data: DataArg = None,
    ticker: Ticker = None,
    start: Start = None,
    end: End = None,
    interval: Interval = "1d",
    time_col: TimeCol = None,
    target: Target = None,
    features: Features = None,
    fill: FillOpt = None,
    lookback: Lookback = _DEFAULTS.lookback,
    horizon: Horizon = _DEFAULTS.horizon,
    val_fraction: ValFraction = _DEFAULTS.val_fraction,
    cell: CellOpt = _DEFAULTS.cell,
    layers: Layers = _DEFAULTS.layers,
    units: Units = _DEFAULTS.units,
    dropout: Dropout = _DEFAULTS.dropout,
    learning_rate: LearningRate = _DEFAULTS.learning_rate,
    clipnorm: Clipnorm = _DEFAULTS.clipnorm,
    epochs: Epochs = _DEFAULTS.epochs,
    patience: Patience = _DEFAULTS.patience,
    batch_size: BatchSize = _DEFAULTS.batch_size,
    seed: Seed = _DEFAULTS.seed,
    strategy: StrategyOpt = _DEFAULTS.strategy,
    model_dir: ModelDir = "model",
    quiet: Quiet = False,
) -> None:
    """Train a model on DATA (or --ticker) and save it as a bundle in --model-dir."""

    def run() -> None:
        data_config = DataConfig(
            path=data, ticker=ticker, start=start, end=end, interval=interval, time_col=time_col,
            target=target, features=_split_list(features), fill=fill,
        )
        train_config = TrainConfig(
            lookback=lookback, horizon=horizon, val_fraction=val_fraction, cell=cell, layers=layers,
            units=units, dropout=dropout, learning_rate=learning_rate, clipnorm=clipnorm, epochs=epochs,
            patience=patience, batch_size=batch_size, seed=seed, strategy=strategy,
        )
        from forecast.train import train as train_model

        progress = 0 if quiet else (1 if sys.stdout.isatty() else 2)
        result = train_model(data_config, train_config, model_dir, log=_notes(quiet), verbose=progress)
        typer.echo(_summary(result, train_config))

    _run(run)


@app.command()
def predict(
    model_dir: ModelDir = "model",
    horizon: Annotated[Optional[int], typer.Option(help="Steps to forecast (default: the trained horizon).", show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option(help="Recent history (same columns) to forecast from; default: the end of the training data.")] = None,
    output: Annotated[Optional[str], typer.Option(help="Write here instead of standard output.")] = None,
    format: Annotated[Optional[OutputFormat], typer.Option(help="csv or json (default: from --output's extension, else csv).", show_default=False)] = None,
    quiet: Quiet = False,
) -> None:
    """Forecast the next --horizon steps from a trained bundle."""

    def run() -> None:
        from forecast.predict import predict as forecast_steps

        frame = forecast_steps(model_dir, horizon=horizon, data_path=data, log=_notes(quiet))
        chosen = format or (OutputFormat.json if output and output.lower().endswith(".json") else OutputFormat.csv)
        if chosen is OutputFormat.csv:
            text = frame.to_csv(index=False, float_format="%.6g")
        else:
            text = json.dumps({"forecasts": frame.to_dict(orient="records")}, indent=2) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            _write_atomically(output, text)
            _notes(quiet)(f"wrote {len(frame)} forecasts to {output}")

    _run(run)


@app.command()
def info(
    model_dir: ModelDir = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole metadata as JSON.")] = False,
) -> None:
    """Describe the bundle in --model-dir: data, frequency, configuration and metrics."""

    def run() -> None:
        from forecast.bundle import read_bundle

        bundle = read_bundle(model_dir)
        if as_json:
            typer.echo(json.dumps(bundle.metadata, indent=2))
        else:
            typer.echo(_describe(bundle))

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
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
            "(rerun with --verbose for the traceback)",
            err=True,
        )
        raise typer.Exit(1) from None


def _notes(quiet: bool):
    return (lambda message: None) if quiet else (lambda message: typer.echo(message, err=True))


def _split_list(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ForecastError(f"--output directory {directory!r} does not exist. Create it or choose another path.")
    try:
        handle, staging = tempfile.mkstemp(prefix=".forecast-", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(staging, path)
    except OSError as exc:
        raise ForecastError(f"cannot write --output {path!r} ({exc.strerror}). Choose another path.") from None


def _summary(result, config: TrainConfig) -> str:
    m = result.metrics
    stopped = "early stopping" if m["epochs_run"] < config.epochs else "epoch ceiling"
    lines = [
        f"trained {config.layers}x{config.units} {config.cell.value} on {m['train_windows']} windows "
        f"({m['val_windows']} for validation) in {m['train_seconds']:.1f} s on {result.placement}",
        f"epochs run: {m['epochs_run']} of {config.epochs} ({stopped}); best epoch {m['best_epoch']}, "
        f"validation loss {m['best_val_loss']:.4g} (scaled MSE)",
        f"validation MAE: {m['val_mae']:.4g} (naive last value: {m['naive_mae']:.4g})",
    ]
    if m["val_mae"] < m["naive_mae"]:
        lines.append(f"the model beats the naive forecast by {1 - m['val_mae'] / m['naive_mae']:.0%} on validation")
    else:
        lines.append("the model does NOT beat the naive last-value forecast on validation; prefer the naive forecast")
    lines.append(f"bundle: {result.bundle_dir}")
    return "\n".join(lines)


def _describe(bundle) -> str:
    meta = bundle.metadata
    config, metrics, source = meta["config"], meta.get("metrics", {}), meta.get("source", {})
    where = source.get("path") or f"ticker {source.get('ticker')} ({source.get('interval')})"
    lines = [
        f"bundle:     {bundle.path} (format {meta['format_version']}, forecast {meta.get('forecast_version')})",
        f"created:    {meta.get('created')} with keras {meta.get('keras_version')} on {meta.get('backend')}",
        f"data:       {where}",
        f"series:     {meta['target']}"
        + (f" with features {', '.join(meta['features'])}" if meta["features"] else "")
        + f", {meta.get('rows')} rows at frequency {meta['frequency']}, "
        f"{meta.get('first_timestamp')} to {meta['last_timestamp']}",
        f"model:      {config['layers']}x{config['units']} {config['cell']}, lookback {config['lookback']}, "
        f"horizon {config['horizon']}, dropout {config['dropout']}, seed {config['seed']}",
    ]
    if metrics:
        lines.append(
            f"validation: MAE {metrics['val_mae']:.4g} vs naive {metrics['naive_mae']:.4g}, "
            f"{metrics['epochs_run']} epochs, {metrics['train_seconds']:.1f} s"
        )
    return "\n".join(lines)
