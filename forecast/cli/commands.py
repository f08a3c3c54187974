"""The `forecast` command line: the app, its global options, and its commands in order (each
command parses its options, calls one library function and prints the result)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated, Optional

import typer

from forecast.version import __version__
from forecast.cli import backtesting, forecasting, logs, models, running, training
from forecast.config import LogFormat

EXIT_CODES = """Exit codes: 0 success; 1 unexpected error (one log line, the traceback with --verbose);
2 bad input or options; 3 data source unavailable (download failed, empty or rate limited);
4 anomalies found (only `detect --exit-code`); 75 busy (another run holds the model directory past
--lock-timeout); 130 interrupted (Ctrl-C);
143 stopped by SIGTERM. A stopped or failed run never changes the current model; a signal
that comes once a run is saving its version is noted and the run completes."""

app = typer.Typer(
    name="forecast",
    help="Train stacked LSTM/GRU models on a time series (a CSV file or a ticker) and forecast from them.",
    epilog=EXIT_CODES,
    add_completion=True,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
# Registered here, in the order `--help` lists them; each module holds its commands' bodies.
for command in (training.train, forecasting.predict, forecasting.detect, training.tune, models.info,
                backtesting.evaluate, backtesting.compare):
    app.command()(command)
models_app = typer.Typer(help="List the model directory's versions, pick the current one, prune old ones.",
                         no_args_is_help=True, rich_markup_mode=None)
for name, command in (("list", models.models_list), ("use", models.models_use), ("prune", models.models_prune)):
    models_app.command(name)(command)
app.add_typer(models_app, name="models")

# Global options that may also come after the command (`forecast predict --verbose`), with how
# many values each takes; `cli` moves them in front of it, where the parser reads them.
GLOBAL_OPTIONS = {"--verbose": 0, "--log-format": 1, "--log-file": 1}


def cli(args: list[str] | None = None) -> None:
    """The `forecast` command: the app, with global options accepted after the command too."""
    try:
        app(args=globals_first(sys.argv[1:] if args is None else list(args)), prog_name="forecast")
    finally:
        # The command has ended and said how; a signal now would only turn its exit code into
        # 143 while the interpreter tears down (seconds, with TensorFlow loaded).
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)


def globals_first(args: list[str]) -> list[str]:
    """`args` with the global options given after the command moved before it."""
    command = next((i for i, arg in enumerate(args) if not arg.startswith("-") and (i == 0 or GLOBAL_OPTIONS.get(args[i - 1]) != 1)), None)
    if command is None:
        return args
    moved, kept, i = [], args[: command + 1], command + 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            kept += args[i:]
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            takes = GLOBAL_OPTIONS[name] if "=" not in arg else 0
            moved += args[i : i + 1 + takes]
            i += 1 + takes
            continue
        kept.append(arg)
        i += 1
    return moved + kept


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's own log lines and, for unexpected errors, the full traceback.")] = False,
    log_format: Annotated[LogFormat, typer.Option(envvar="FORECAST_LOG_FORMAT", help="Log lines as plain text or json: one object per line with time, level, command and message; a run's summary line adds its facts as fields (train: version, promoted, reason, val_mae, baseline_mae, beats_baselines, fell_back_to; detect: rows, anomalies, alarms).")] = LogFormat.text,
    log_file: Annotated[Optional[str], typer.Option(envvar="FORECAST_LOG_FILE", help="Append the log lines to this file; warnings and errors still also go to stderr (cron mails them). If it cannot be written (a full disk), one warning says so and the lines go to stderr.", show_default=False)] = None,
) -> None:
    if version:
        typer.echo(f"forecast {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
    running.state.verbose = verbose
    try:
        logs.configure(log_format.value, log_file)
    except OSError as exc:
        typer.echo(f"error: cannot open --log-file {log_file!r} ({exc.strerror}). Check the path and permissions.", err=True)
        raise typer.Exit(2) from None
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
