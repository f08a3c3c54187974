"""Options shared by several commands, declared once: help texts, types and the decorators
that give a command every data or training option and build its config from them."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import typing
from typing import Annotated, Optional

import typer

from forecast.cli.configfile import load_config_file
from forecast.config import DataConfig, Fill, TrainConfig, config_to_dict
from forecast.errors import ForecastError

# Help for every TrainConfig field; commands that train get them all through @training_options.
# These texts are the only description of each option: `--help` prints them and the README's
# reference is generated from them (forecast.cli.reference).
_TRAIN_HELP = {
    "lookback": "Past steps the model reads for each forecast (default: two seasons or two horizons, whichever is longer, "
                "capped so the shortest series keeps three horizons of rows).",
    "horizon": "Future steps the model forecasts at once (a direct multi-output head).",
    "val_fraction": "Last share of the windows used for validation, in (0, 1).",
    "cell": "Recurrent cell: lstm, gru, or rnn (SimpleRNN, kept for comparison).",
    "layers": "Stacked recurrent layers.",
    "units": "Units in each recurrent layer.",
    "dropout": "Dropout after each recurrent layer, in [0, 1).",
    "window_norm": "How the network sees each window. revin: subtracts the window's mean and divides by its standard "
                   "deviation, and undoes it on the forecast. seasonal: the network learns a correction to the "
                   "window's own seasonal naive forecast (the last value when the season does not fit the "
                   "lookback) from a head that starts at zero, so an untrained model forecasts seasonal naive. "
                   "auto: races both (each for the patience epochs, then the one with the lower validation MAE to the "
                   "end) and keeps the one with the lower validation MAE if it beats seasonal "
                   "naive and naive there, and the baseline kept (seasonal naive, or naive if clearly better) by "
                   "more than one standard error; otherwise that baseline itself. last: subtracts the window's last value. none.",
    "cycle_inputs": "auto: the network also reads where each step falls in the cycles its frequency has, as a sine "
                    "and cosine of the time of day and day of week (hourly and finer), the day of week and day of "
                    "year (daily), the day of year (weekly) or the month of year (monthly, quarterly), computed from "
                    "the timestamps, so they are known for future steps too: the network reads them over the lookback "
                    "and at every forecast step. none.",
    "holidays": "Public holidays of a country or subdivision (US, US-CA, GB-SCT, DE-BY; from the holidays package) as "
                "inputs for daily and finer data: per step, whether its date is a holiday and the days to the next "
                "and since the last (up to a week), over the lookback and at every forecast step. The dates, to ten "
                "years past the data, are stored with the model, so predict computes them offline.",
    "linear_path": "Add a linear map of the whole (normalised) window straight to the forecast beside the recurrent "
                   "stack's output, starting at zero (LSTNet's highway): it learns the linear part of the pattern, which "
                   "a stack reading hundreds of steps learns slowly. Off by default; its measured effect is in "
                   "docs/accuracy.md.",
    "target_transform": "What the target goes through before scaling. log: its natural logarithm, so the network "
                        "learns relative changes (seasonal swings that grow with the level become constant ones) and "
                        "forecasts and intervals come back through the exponential; every value must be above zero. "
                        "none (the default: on the sample series, log helped some and hurt others; see docs/accuracy.md).",
    "ensemble": "Members trained side by side in one model from different initial weights, each fitted on its own; "
                "--ensemble-combine makes their forecasts one. Costs about that many times the training time.",
    "ensemble_combine": "How an ensemble's forecasts become one, at each step: median (one member that learnt badly "
                        "cannot drag it far; the mean of the middle two for an even count) or mean.",
    "ensemble_cells": "The members' cells: same (every member a --cell stack) or mixed (LSTM and GRU in turn).",
    "loss": "Training loss on the scaled target: mse, mae or huber.",
    "learning_rate": "Adam's initial learning rate (halved when validation loss stalls for half the patience).",
    "clipnorm": "Clip each gradient to this norm.",
    "epochs": "Ceiling on epochs; early stopping usually ends sooner.",
    "patience": "Epochs without a better validation loss before stopping; the best weights are restored. When an epoch "
                "is only a few gradient steps (a short series), patience is raised to cover at least 300 steps.",
    "batch_size": "Windows per gradient step (default: 32 up to 2,047 training windows, then the power of two that keeps "
                  "at least 32 steps per pass, capped at 256 on a CPU and 1024 on a GPU or TPU; logged and stored).",
    "epoch_windows": "Training windows drawn at random for each epoch (all of them when there are fewer), so an epoch "
                     "of a large file takes bounded time; early stopping watches a fixed sample of this many "
                     "validation windows, the metrics and intervals use them all.",
    "interval_refits": "Models retrained on the rows before each of the last K blocks of horizon origins, whose forecasts "
                       "from them calibrate the intervals: errors of the whole training recipe on data it never saw, "
                       "where the validation windows' errors run small because they chose the epoch and the window norm. "
                       "Costs K more trainings. Default: 3 when the validation part has fewer than 99 origins "
                       "(as many as the history allows), else 0, which calibrates on the validation errors.",
    "seed": "Fixes initial weights, dropout and shuffling: the same data, machine and seed give the same model "
            "(0 to 4294967295).",
    "strategy": "Where training runs: auto picks a TPU, several workers (TF_CONFIG), several GPUs, or one device; "
                "cpu, gpu, tpu, mirrored and multiworker force one (exit 2 when it cannot apply).",
}
_DATA_PARAMETERS = [
    ("data", Optional[str], None, typer.Argument(
        help="Data file with a time column and numeric columns: CSV (UTF-8, header row; comma, semicolon, tab or pipe "
             "separated, sniffed from the first lines; a yfinance export's extra header rows are skipped) or Parquet "
             "(.parquet); - reads standard input, and a pipe works. A file that keeps changing while read is refused "
             "(exit 3).", metavar="DATA", show_default=False)),
    ("ticker", Optional[str], None, typer.Option(
        help="Yahoo Finance symbol (AAPL, BRK-B, ^GSPC, EURUSD=X) downloaded through yfinance instead of a CSV: "
             "adjusted prices, three tries, and a local cache ($FORECAST_CACHE_DIR, else ~/.cache/forecast/tickers) "
             "used with a warning when the download fails.")),
    ("start", Optional[str], None, typer.Option(help="First date for --ticker (default: ten years before --end).")),
    ("end", Optional[str], None, typer.Option(help="End date (exclusive) for --ticker (default: today).")),
    ("interval", str, "1d", typer.Option(help="Bar size for --ticker: 1d, 1wk, 1mo or 3mo (no intraday bars).")),
    ("time_col", Optional[str], None, typer.Option(
        help="Time column (default: detected by name, such as date, time, month, year or ds, or as the first column "
             "whose values all parse as dates; whole numbers 1000-9999 are years). Several comma-separated columns "
             "holding a timestamp's parts are combined: year,month[,day[,hour[,minute[,second]]]].")),
    ("sep", Optional[str], None, typer.Option(
        help="A CSV file's separator: , ; \\t (tab) or | (default: the one its first lines use). With ; a decimal "
             "comma (1,5) is read too.", show_default=False)),
    ("time_format", Optional[str], None, typer.Option(
        help="strftime format every timestamp follows, such as %d/%m/%Y %H:%M (default: each value parsed on its "
             "own; offsets become UTC).", show_default=False)),
    ("dayfirst", bool, False, typer.Option("--dayfirst/--no-dayfirst", help="Read dates such as 01/02/2020 day first "
             "(1 February). Without it they are read day first only when some day is above 12 (a note says so).")),
    ("calendar", Optional[str], None, typer.Option(
        help="Exchange whose trading sessions date a business-day series, by ISO code (XNYS New York, XLON London, "
             "XTKS Tokyo, ...; from exchange-calendars): its holidays in the history are closed days, not gaps, and "
             "forecasts skip them. Default: a ticker's own exchange (by its suffix: AAPL XNYS, VOD.L XLON, 7203.T XTKS; "
             "none for crypto and currencies), and none for a file. none: every weekday.", show_default=False)),
    ("id_col", Optional[str], None, typer.Option(
        help="Series id column of a long-format file (one row per series and step): one model learns every series, "
             "each scaled on its own training part; all share the target, features and frequency (default: a column "
             "named unique_id, series_id or item_id whose values repeat, with a note).")),
    ("target", Optional[str], None, typer.Option(
        help="Column to forecast (default: Close for tickers; else a column named y, Adj Close or Close, in that "
             "order; else the only or last numeric column not named in --features; the choice is printed).")),
    ("features", Optional[str], None, typer.Option(
        help="Extra input columns, comma-separated (Volume,Open); the target is always an input too. Their future "
             "values are unknown, so such a model forecasts at most its trained horizon.")),
    ("future_features", Optional[str], None, typer.Option(
        help="Input columns whose values over the forecast period you will supply, comma-separated (promo,price): "
             "the network reads their past in the lookback and their future at every forecast step. predict then "
             "needs --future-data; evaluate reads their actual future values from the data (an oracle setting: "
             "its scores assume perfectly known futures).", show_default=False)),
    ("fill", Optional[Fill], None, typer.Option(
        help="ffill or interpolate (linear in time): fill missing timestamps (up to 10% of the rows, at least 3) "
             "and empty cells, keep the last of duplicated timestamps (up to 1% of the rows), drop leading rows with "
             "nothing to fill from (default: refuse them).")),
    ("offline", bool, False, typer.Option("--offline/--no-offline", help="With --ticker: read the local download cache only, no network (exit 3 if nothing is cached).")),
]

ModelDir = Annotated[str, typer.Option(envvar="FORECAST_MODEL_DIR", help="Model directory: one bundle per training run under versions/, and which one is current.")]
Version = Annotated[Optional[str], typer.Option("--model-version", help="Use this version instead of the current one (see `forecast models list`). Its old spelling, --version, still works for now, with a warning.", show_default=False)]
# --model-version's spelling until it collided with the global --version: accepted with a warning.
OldVersion = Annotated[Optional[str], typer.Option("--version", hidden=True, show_default=False,
                                                   help="The old spelling of --model-version (a warning says so).")]
LockTimeout = Annotated[float, typer.Option(help="Seconds to wait while another run holds the model directory; then exit 75.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no notes; results, warnings and errors still print.")]
Plot = Annotated[Optional[str], typer.Option(help="Also draw a plot to this file: PNG, SVG or PDF as its extension says (PNG without one; another is refused). Written as --output is; - (PNG) only when --output names a file.", show_default=False)]
Output = Annotated[Optional[str], typer.Option(
    help="Write here instead of standard output (-), in the format the extension names: .csv, .json or .parquet "
         "for tables (CSV without an extension; another is refused unless --format says). A regular file is replaced only once the new one is complete "
         "(a failed write leaves the old file), keeping its permissions; a new file gets the umask's. A symbolic link "
         "is followed; a FIFO or device (/dev/stdout) is written through, never replaced.", show_default=False)]
ConfigFile = Annotated[Optional[str], typer.Option(
    "--config", help="TOML file of any of these options, keyed by the long option names (horizon = 30, model-dir = "
                     "\"/srv/m\", features = [\"Volume\"]). The command line wins, then environment variables, then the "
                     "file, then the defaults; a value of the wrong type is refused (exit 2). One file serves train, "
                     "detect, evaluate and compare: each takes the options it has.",
    is_eager=True, callback=load_config_file, show_default=False)]
BacktestOutput = Annotated[Optional[str], typer.Option(
    "--output", help="Write here instead of standard output (-), as the extension says: the text report (.txt or no "
                     "extension), JSON (.json, as --json), or every forecast row of every fold in one flat table (.csv "
                     "or .parquet: [series id,] timestamp, cutoff, fold, actual, model, each baseline and statistical "
                     "model, interval bounds), as cross-validation tables are. Written as predict's --output is.",
    show_default=False)]
Folds = Annotated[int, typer.Option(help="Forecast origins in the backtest; the last fold's horizon ends at the last row.")]
Step = Annotated[Optional[int], typer.Option(help="Rows between consecutive origins (default: the horizon).", show_default=False)]
Season = Annotated[Optional[int], typer.Option(
    help="Seasonal period for seasonal naive, AutoETS, AutoTheta and MASE (default: from the frequency: 24 hourly, 7 daily, 5 business-day, "
         "52 weekly, 12 monthly, 4 quarterly, 1 yearly).", show_default=False)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the full result as JSON instead of tables.")]


def percentage(text: str) -> int:
    """An interval level as a whole percentage: 80, or 0.8 as Prophet and Darts write it."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    share = value * 100 if 0 < value < 1 else value
    if not math.isfinite(share) or abs(share - round(share)) > 1e-9:
        raise typer.BadParameter(f"a level is a whole percentage (80) or a share (0.8); received {text!r}")
    return int(round(share))


def duration(text: str) -> float:
    """Seconds from a duration: 90s, 20m, 1.5h, 1h30m, or a plain number of seconds."""
    import re

    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    seconds = None
    if parts and any(parts.groups()):
        hours, minutes, rest = (float(g) if g else 0.0 for g in parts.groups())
        seconds = hours * 3600 + minutes * 60 + rest
    if seconds is None or not 0 < seconds < 1e7:
        raise typer.BadParameter(f"a duration is a positive number of seconds or one such as 90s, 20m, 1.5h or 1h30m; received {text!r}")
    return seconds


def resolved_options(data: DataConfig, options: TrainConfig, **extra) -> dict:
    """Every train option as it will be used, keyed like the command line and --config files."""
    data_options = config_to_dict(data)
    path = data_options.pop("path")
    return {"data": path, **data_options, **config_to_dict(options),
            **{k: (v.value if hasattr(v, "value") else v) for k, v in extra.items()}}


def resolve_version(given: str | None, old: str | None, log) -> str | None:
    """--model-version, or the old --version spelling with a warning that it is going."""
    if old is None:
        return given
    if given is not None:
        raise ForecastError("--version is the old spelling of --model-version; give only --model-version.")
    log.warning("--version here is now --model-version (the global --version prints the tool's version); "
                "the old spelling will stop working in a later release")
    return old


def shared_option_names() -> set[str]:
    """The parameter names every command that trains shares (data and training options)."""
    return {name for name, *_ in _DATA_PARAMETERS} | {field.name for field in dataclasses.fields(TrainConfig)}


def data_options(command):
    """Give `command` the data source options; it receives a `data_config()` factory."""

    def build(options: dict) -> DataConfig:
        lists = {name: tuple(p.strip() for p in (options.pop(name) or "").split(",") if p.strip())
                 for name in ("features", "future_features")}
        return DataConfig(path=options.pop("data"), **lists, **options)

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
