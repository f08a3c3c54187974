"""The `forecast` command line: parse options, call one library function, print the result."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import sys
from typing import Annotated, List, Optional

import typer

from forecast.version import __version__
from forecast.cli import logs
from forecast.cli.output import REPORT, report_format, table_format
from forecast.cli.options import (
    AsJson, BacktestOutput, ConfigFile, Folds, LockTimeout, ModelDir, OldVersion, Output, Plot, Quiet, Season, Step,
    Version, data_options, duration, percentage, training_options,
)
from forecast.config import Cell, DataConfig, Engine, LogFormat, OutputFormat, Promote, TrainConfig, config_to_dict
from forecast.errors import ForecastError, printable
from forecast.model import stopping

EXIT_CODES = """Exit codes: 0 success; 1 unexpected error (one log line, the traceback with --verbose);
2 bad input or options; 3 data source unavailable (download failed, empty or rate limited);
4 anomalies found (only `detect --exit-code`); 75 busy (another run holds the model directory past
--lock-timeout); 130 interrupted (Ctrl-C);
143 stopped by SIGTERM. A stopped or failed run never changes the current model."""

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
_state = {"verbose": False}
models_app = typer.Typer(help="List the model directory's versions, pick the current one, prune old ones.",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(models_app, name="models")

# Global options that may also come after the command (`forecast predict --verbose`), with how
# many values each takes; `cli` moves them in front of it, where the parser reads them.
GLOBAL_OPTIONS = {"--verbose": 0, "--log-format": 1, "--log-file": 1}


def cli(args: list[str] | None = None) -> None:
    """The `forecast` command: the app, with global options accepted after the command too."""
    app(args=globals_first(sys.argv[1:] if args is None else list(args)), prog_name="forecast")


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
    log_format: Annotated[LogFormat, typer.Option(envvar="FORECAST_LOG_FORMAT", help="Log lines as plain text or json: one object per line with time, level, command and message; a run's summary line adds its facts as fields (train: version, promoted, reason, val_mae, baseline_mae, beats_baselines; detect: rows, anomalies, alarms).")] = LogFormat.text,
    log_file: Annotated[Optional[str], typer.Option(envvar="FORECAST_LOG_FILE", help="Append the log lines to this file; warnings and errors still also go to stderr (cron mails them). If it cannot be written (a full disk), one warning says so and the lines go to stderr.", show_default=False)] = None,
) -> None:
    if version:
        typer.echo(f"forecast {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
    _state["verbose"] = verbose
    try:
        logs.configure(log_format.value, log_file)
    except OSError as exc:
        typer.echo(f"error: cannot open --log-file {log_file!r} ({exc.strerror}). Check the path and permissions.", err=True)
        raise typer.Exit(2) from None
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter


@app.command()
@data_options
@training_options
def train(
    data_config,
    train_config,
    model_dir: ModelDir = "model",
    promote: Annotated[Promote, typer.Option(help="When the new version becomes current. if-better: it and the current version forecast the same most recent windows (the new run's validation windows), each through its own scalers and lookback, and it is promoted only if its MAE is at most the current one's; otherwise it is kept as a candidate (exit 0). always: promote every complete run. Either way a model that does not beat naive there never replaces one that does.")] = Promote.if_better,
    lock_timeout: LockTimeout = 300.0,
    warm_start: Annotated[bool, typer.Option("--warm-start/--no-warm-start", help="Start from the current version's weights instead of fresh ones, for a nightly retrain that costs a fraction of a first one: only the network it kept trains (no --window-norm auto race), and early stopping waits a quarter as long and never keeps an epoch that does worse on validation than those weights. Scalers and interval calibration are refitted on this data, and promotion judges the result as usual. Where the current version does not fit (other columns, date inputs, lookback, horizon, cell, layers, units, ensemble, target transform; a baseline kept; none current), it trains from scratch with a note. The version records where it started (forecast info).")] = False,
    config: ConfigFile = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved options as TOML (the text saved as config.toml in each version) and exit without training.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Check the data, the options and --model-dir exactly as training would (before Keras is imported), print the windows it would train on, and exit without training or writing anything.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON instead of the summary: the version, whether it became current and why, its validation metrics, each baseline's, and whether the model beat them (beats_baselines).")] = False,
    plot: Plot = None,
    quiet: Quiet = False,
) -> None:
    """Train a model on DATA (or --ticker) and add it to --model-dir as a new version."""

    def run() -> None:
        log = logs.start("train", quiet)
        data, options = data_config(), train_config()
        resolved = _resolved_options(data, options, model_dir=model_dir, promote=promote, lock_timeout=lock_timeout,
                                     warm_start=warm_start)
        if print_config:
            from forecast.settings import to_toml

            typer.echo(to_toml(resolved), nl=False)
            return
        if not lock_timeout >= 0:  # also refuses nan
            raise ForecastError(f"--lock-timeout must be 0 or more seconds. Received: {lock_timeout:g}.")
        _check_destinations(None, plot)
        if check:
            from forecast.cli.report import check_summary
            from forecast.train import check as check_training

            typer.echo(check_summary(check_training(data, options, model_dir, logs.notes(log))))
            return
        from forecast.cli.report import training_record, training_summary
        from forecast.train import train as train_model

        progress = (0 if quiet else 1) if sys.stdout.isatty() else 2  # a bar at a terminal, log lines elsewhere
        result = train_model(data, options, model_dir, promote=promote, lock_timeout=lock_timeout,
                             log=logs.notes(log), verbose=progress, saved_config=resolved, warm_start=warm_start)
        state = "current" if result.verdict.promote else "a candidate"
        _state["published"] = f"this run's version {result.version_id} is complete and {state}"
        record = training_record(result)
        fields = {key: record[key] for key in ("version", "val_mae", "baseline_mae", "beats_baselines")}
        log.info(f"version {result.version_id} is {state}; validation MAE {record['val_mae']:.4g}, "
                 f"{'beating' if record['beats_baselines'] else 'not beating'} its baselines",
                 extra={"fields": {**fields, "promoted": result.verdict.promote, "reason": result.verdict.reason}})
        if as_json:
            typer.echo(json.dumps(record, indent=2))
        else:
            typer.echo(training_summary(result, options))
        if plot:
            from forecast.cli.plots import plot_loss

            plot_loss(result.fitted.loss_history, result.metrics.best_epoch, plot)
            log.info(f"wrote the loss plot to {plot}")

    _run(run)


def _resolved_options(data: DataConfig, options: TrainConfig, **extra) -> dict:
    """Every train option as it will be used, keyed like the command line and --config files."""
    data_options = config_to_dict(data)
    path = data_options.pop("path")
    return {"data": path, **data_options, **config_to_dict(options),
            **{k: (v.value if hasattr(v, "value") else v) for k, v in extra.items()}}


@app.command()
def predict(
    model_dir: ModelDir = "model",
    horizon: Annotated[Optional[int], typer.Option(help="Steps to forecast (default: the trained horizon). Beyond it the model feeds its forecasts back block by block (at most 1000 blocks); a model with --features refuses (one with only --future-features goes on, given their values for every step).", show_default=False)] = None,
    data: Annotated[Optional[str], typer.Option(help="A CSV with the training columns at the training frequency to forecast from (default: the end of the training data); forecasts start after its last row, scaled with the saved scalers, dated by its own frequency. A forecast that is not a finite number is refused.")] = None,
    future_data: Annotated[Optional[str], typer.Option(help="For a model trained with --future-features: a CSV or Parquet file with the time column (the id column for several series) and those columns, holding their values at every forecast step; other rows and columns are ignored. A missing row or empty value is refused (exit 2).", show_default=False)] = None,
    level: Annotated[Optional[List[int]], typer.Option(parser=percentage, help="Add a prediction interval at this percentage (1-99, or a share such as 0.8) as lower_<level> and upper_<level> columns; repeat for several. Calibrated on held-out errors at each step (the validation windows', or on a short series those of models retrained at earlier cutoffs: --interval-refits): split-conformal where there are enough for the level, Student t where too few, and past the steps the data reaches grown by the square root of the step; a note says which backs each step.", show_default=False)] = None,
    id: Annotated[Optional[List[str]], typer.Option("--id", help="For a model of several series: forecast only this one (default: every series); repeat for several. The output starts with the series id column, under the name it has in the data.", show_default=False)] = None,
    output: Output = None,
    format: Annotated[Optional[OutputFormat], typer.Option(help="csv (timestamp,forecast[,lower_80,upper_80,...]), json ({\"forecasts\": [...]}) or parquet (default: from --output's extension, else csv).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Write the forecasts as JSON: the same as --format json.")] = False,
    model_version: Version = None,
    old_version: OldVersion = None,
    engine: Annotated[Engine, typer.Option(help="What runs the network: litert (the bundle's model.tflite on the LiteRT interpreter, no TensorFlow, under a second), keras (model.keras, with TensorFlow), or auto (litert when the bundle has the artifact and ai-edge-litert is installed; an artifact that does not load falls back to Keras with a warning).")] = Engine.auto,
    plot: Plot = None,
    quiet: Quiet = False,
) -> None:
    """Forecast the next --horizon steps from the current model (or --model-version)."""

    def run() -> None:
        log = logs.start("predict", quiet)
        version = _model_version(model_version, old_version, log)
        _check_destinations(output, plot)
        if as_json and format not in (None, OutputFormat.json):
            raise ForecastError(f"--json is --format json; --format {format.value} asks for another. Drop one of them.")
        chosen = table_format(output, OutputFormat.json if as_json else format)
        from forecast.predict import predict as forecast_steps

        result = forecast_steps(model_dir, steps=horizon, data_path=data, future_data=future_data, levels=level or (), ids=id or (),
                                version=version, engine=engine, log=logs.notes(log))
        if plot and len(result.recent) > 1:
            raise ForecastError(f"--plot draws one series; this forecast has {len(result.recent)}. Pick one with --id.")
        _emit(_table(result.frame, chosen, "forecasts"), output, log, f"wrote {len(result.frame)} forecasts to {output}")
        if plot:
            from forecast.cli.plots import plot_forecast

            (recent,) = result.recent.values()
            plot_forecast(recent, result.frame, result.target, plot)
            log.info(f"wrote the forecast plot to {plot}")

    _run(run)


@app.command()
@data_options
@training_options
def detect(
    ctx: typer.Context,
    data_config,
    train_config,
    model_dir: ModelDir = "model",
    train_fraction: Annotated[Optional[float], typer.Option(help="Train a new version on the first share of each series of DATA (0.15: the first 15%) into --model-dir, with DATA's columns and the training options, then score the rest of DATA with it (the version is promoted as train's --promote if-better allows; detection uses it either way). Without it, the current version (or --model-version) scores DATA, read with the columns it was trained on, and the data and training options are refused.", show_default=False)] = None,
    step: Annotated[int, typer.Option(help="Judge each row by the forecast made this many steps before it (1 to the trained horizon): a larger step catches slow drifts that one-step forecasts follow.")] = 1,
    level: Annotated[Optional[int], typer.Option(parser=percentage, help="The interval (1-99 percent or a share such as 0.99, calibrated on the validation errors at that step) that the score is measured against: lower_<level> and upper_<level> columns, and score = |actual - forecast| / the interval's half-width at that step. Where it is wider, the interval is this quantile of the errors of the last N rows instead, N the larger of the validation errors' count and 10 / (1 - level/100) (1,000 at 99). Default: 99.", show_default=False)] = None,
    threshold: Annotated[float, typer.Option(help="A row is an anomaly when its score is above this: 1 flags every row outside the --level interval (1% of normal rows at 99), 2 only rows twice as far from the forecast (about one normal row in 10,000 when errors are heavy-tailed).")] = 2.0,
    sustained_threshold: Annotated[float, typer.Option(help="A row is also an anomaly when the mean score of its last 10 rows (before widening, leaving out rows above --threshold) lies more than this many standard deviations above the usual mean of 10 rows over the same N rows as --level's widening: the sustained column. It catches departures that last, such as a shifted level or denser spikes, whose rows each stay inside the --threshold. 4.26 is a one-sided Gaussian tail of 1e-5; the rule applies after the first 100 scored rows.")] = 4.26,
    id: Annotated[Optional[List[str]], typer.Option("--id", help="For a model of several series: score only this one (default: every series in DATA); repeat for several.", show_default=False)] = None,
    only_anomalies: Annotated[bool, typer.Option("--only-anomalies", help="Output only the rows flagged as anomalies.")] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit with code 4 when any row is flagged (after writing the output), so a cron line can alert; 0 otherwise.")] = False,
    output: Output = None,
    format: Annotated[Optional[OutputFormat], typer.Option(help="csv (timestamp,actual,forecast,lower_<level>,upper_<level>,score,sustained,anomaly,alarm; alarm marks each anomaly with none in the 10 rows before it, where an episode starts) json ({\"rows\": [...]}) or parquet (default: from --output's extension, else csv).", show_default=False)] = None,
    model_version: Version = None,
    old_version: OldVersion = None,
    engine: Annotated[Engine, typer.Option(help="What runs the network: litert, keras or auto, as for predict. LiteRT forecasts one window per call (0.2 ms each here), keras 1,024 per call after TensorFlow's 6 s start-up: keras is faster above about 40,000 rows.")] = Engine.auto,
    lock_timeout: LockTimeout = 300.0,
    plot: Plot = None,
    config: ConfigFile = None,
    quiet: Quiet = False,
) -> None:
    """Flag the rows of DATA that the model did not expect: each is forecast from the rows before it and scored by its distance outside the calibrated interval."""

    def run() -> None:
        log = logs.start("detect", quiet)
        version = _model_version(model_version, old_version, log)
        data, options = data_config(), train_config()
        _check_destinations(output, plot)
        chosen = table_format(output, format)
        detect_options = dict(step=step, level=level, threshold=threshold, sustained_threshold=sustained_threshold, ids=id or (), engine=engine, log=logs.notes(log))
        if train_fraction is None:
            _refuse_training_options(ctx, data, options)
            from forecast.detect import detect as detect_rows

            result = detect_rows(model_dir, data.path, version=version, **detect_options)
        else:
            if version is not None:
                raise ForecastError("--model-version picks a trained version to score with; --train-fraction trains a new one. Drop one of them.")
            if not lock_timeout >= 0:
                raise ForecastError(f"--lock-timeout must be 0 or more seconds. Received: {lock_timeout:g}.")
            from forecast.detect import train_and_detect

            resolved = _resolved_options(data, options, model_dir=model_dir)
            result = train_and_detect(data, options, model_dir, train_fraction, lock_timeout=lock_timeout,
                                      saved_config=resolved, **detect_options)
        if plot and len(result.history) > 1:
            raise ForecastError(f"--plot draws one series; DATA has {len(result.history)}. Pick one with --id.")
        log.info(_detection_summary(result), extra={"fields": {
            "rows": len(result.frame), "anomalies": len(result.anomalies), "alarms": len(result.alarms)}})
        frame = result.anomalies if only_anomalies else result.frame
        _emit(_table(frame, chosen, "rows"), output, log, f"wrote {len(frame)} rows to {output}")
        if plot:
            from forecast.cli.plots import plot_detection

            (history,) = result.history.values()
            plot_detection(history, result.frame, result.target, result.level, plot)
            log.info(f"wrote the detection plot to {plot}")
        if exit_code and len(result.anomalies):
            raise typer.Exit(4)

    _run(run)


def _model_version(given: str | None, old: str | None, log) -> str | None:
    """--model-version, or the old --version spelling with a warning that it is going."""
    if old is None:
        return given
    if given is not None:
        raise ForecastError("--version is the old spelling of --model-version; give only --model-version.")
    log.warning("--version here is now --model-version (the global --version prints the tool's version); "
                "the old spelling will stop working in a later release")
    return old


def _refuse_training_options(ctx: typer.Context, data: DataConfig, options: TrainConfig) -> None:
    """Without --train-fraction the model's own columns and settings apply: refuse any given on
    the command line (a --config file's wait for a run that trains)."""
    if data.ticker is not None:
        raise ForecastError("detect scores the rows of a CSV file; a --ticker cannot be scored. Give DATA as a file.")
    defaults = {**config_to_dict(DataConfig(path=data.path)), **config_to_dict(TrainConfig())}
    from_file = {name for name in defaults if getattr(ctx.get_parameter_source(name), "name", None) == "DEFAULT_MAP"}
    given = [name for name, value in {**config_to_dict(data), **config_to_dict(options)}.items()
             if value != defaults[name] and name not in from_file]  # a --config file's training options wait for training
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise ForecastError(
            f"{flag} applies only with --train-fraction: a trained version reads DATA with its own columns and settings. "
            f"Drop {flag}, or add --train-fraction to train a new version."
        )


def _detection_summary(result) -> str:
    """Rows scored, anomalies, alarms, and the largest score, on one line."""
    flagged, alarms = result.anomalies, result.alarms
    reach = f"the {result.level}% interval's reach"
    rule = f"outside {reach}" if result.threshold == 1 else f"more than {result.threshold:g} times {reach} from the forecast"
    text = (f"{len(flagged)} of {len(result.frame)} rows flagged ({rule}, or in a departure sustained beyond "
            f"{result.sustained_threshold:g} standard deviations) in {len(alarms)} alarm{'' if len(alarms) == 1 else 's'}")
    if len(result.frame):
        top = result.frame.loc[result.frame["score"].idxmax()]
        where = f"series {top[result.id_column]} at " if result.id_column else ""
        text += (f"; the largest: {where}{top['timestamp']}, actual {top['actual']:.6g} against {top['forecast']:.6g} expected "
                 f"(score {top['score']:.3g})")
    return text


@app.command()
@data_options
@training_options
def tune(
    data_config,
    train_config,
    trials: Annotated[Optional[int], typer.Option(help="Trials to finish in all, counting those of earlier runs on the same --study journal; with --budget, whichever ends first.", show_default="20 without --budget")] = None,
    budget: Annotated[Optional[float], typer.Option(parser=duration, metavar="DURATION", help="Time this run may take: 90s, 20m, 1.5h, 1h30m. No trial starts that the mean trial so far would not finish within it.", show_default=False)] = None,
    folds: Annotated[int, typer.Option(help="Validation folds each trial trains and is scored on, a horizon apart, inside the rows before --holdout.")] = 3,
    holdout: Annotated[Optional[int], typer.Option(help="Rows at the end of each series the search never reads: where `forecast evaluate` tests (its default 3 folds of one horizon are 3 horizons of rows, the default here).", show_default=False)] = None,
    study: Annotated[str, typer.Option(help="Journal file of the search's trials (Optuna's). Run the same command again to resume it, after an interruption or with more --trials; a journal of another search is refused.")] = "tune.journal",
    output: Annotated[str, typer.Option(help="Write the best options here as TOML, which `forecast train --config` (and evaluate, compare, detect) reads: the options given (data and training) with the best trial's in place of the searched ones.")] = "best.toml",
    config: ConfigFile = None,
    quiet: Quiet = False,
) -> None:
    """Search lookback, cell, layers, units, dropout, learning rate, window norm, linear path, cycle inputs and target transform on validation folds before --holdout, and write the best as a --config file."""

    def run() -> None:
        log = logs.start("tune", quiet)
        data, options = data_config(), train_config()
        from forecast.cli.output import check_destination

        check_destination(output, "--output")
        if output == "-":
            raise ForecastError("--output must name a file for the TOML options, not -. Name a file such as best.toml.")
        _state["published"] = f"the finished trials are in {study}: run the same command to resume the search"
        from forecast.cli.report import tune_report
        from forecast.settings import to_toml
        from forecast.tune import best_options
        from forecast.tune import tune as search

        result = search(data, options, trials=20 if trials is None and budget is None else trials, budget=budget,
                        folds=folds, holdout=holdout, study_path=study, log=logs.notes(log))
        chosen = best_options(data, options, result)
        header = (f"# forecast tune: trial {result.best.number} of {len(result.trials)}, mean validation MASE "
                  f"{result.best.mase:.4g} over {result.folds} folds before the last {result.holdout} rows "
                  f"(the options as given: {_score_text(result.defaults)})\n")
        _emit(header + to_toml(chosen), output, log, f"wrote the best options to {output}")
        typer.echo(tune_report(result))

    _run(run)


def _score_text(trial) -> str:
    return f"{trial.mase:.4g}" if trial.state == "complete" and trial.mase is not None else trial.state


@app.command()
def info(
    model_dir: ModelDir = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole metadata (metadata.json) instead of the summary.")] = False,
    model_version: Version = None,
    old_version: OldVersion = None,
) -> None:
    """Describe the current model (or --model-version): data, frequency, configuration and metrics."""

    def run() -> None:
        log = logs.start("info", quiet=False)
        version = _model_version(model_version, old_version, log)
        from forecast.cli.report import describe_bundle
        from forecast.store.versions import Store

        bundle = Store(model_dir).open(version)
        typer.echo(json.dumps(bundle.metadata.to_dict(), indent=2) if as_json else describe_bundle(bundle))

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
    level: Annotated[Optional[List[int]], typer.Option(parser=percentage, help="Interval levels whose coverage is reported, as percentages or shares (default: 80 and 95), for each way their widths were calibrated (split-conformal, Student t); repeat for several.", show_default=False)] = None,
    as_json: AsJson = False,
    output: BacktestOutput = None,
    plot: Plot = None,
    config: ConfigFile = None,
    quiet: Quiet = False,
) -> None:
    """Backtest from several origins: the model against naive, seasonal naive, drift, AutoETS and AutoTheta."""

    def run() -> None:
        log = logs.start("evaluate", quiet)
        data, config = data_config(), train_config()
        _check_destinations(output, plot)
        kind = report_format(output, as_json)
        from forecast.data.load import load_panel
        from forecast.evaluate import backtest
        from forecast.cli.report import backtest_report

        panel = load_panel(data, logs.notes(log))
        result = backtest(panel, config, folds=folds, step=step, season=season,
                          levels=level or (80, 95), log=logs.notes(log))
        if kind is OutputFormat.json:
            text = json.dumps(result.to_dict(), indent=2) + "\n"
        elif kind == REPORT:
            text = backtest_report(result) + "\n"
        else:
            text = _table(result.table(panel.id_col), kind, "rows")
        _emit(text, output, log, f"wrote the backtest to {output}")
        if plot:
            from forecast.cli.plots import plot_backtest

            plot_backtest(result, plot)
            log.info(f"wrote the backtest plot to {plot}")

    _run(run)


@app.command()
@data_options
@training_options(skip=("cell",))
def compare(
    data_config,
    train_config,
    cells: Annotated[str, typer.Option(help="Cells to backtest on the same origins, comma-separated.")] = "lstm,gru,rnn",
    folds: Folds = 3,
    step: Step = None,
    season: Season = None,
    as_json: AsJson = False,
    output: BacktestOutput = None,
    config: ConfigFile = None,
    quiet: Quiet = False,
) -> None:
    """Backtest several cells on the same origins and tabulate them beside the baselines and statistical models."""

    def run() -> None:
        log = logs.start("compare", quiet)
        data, config = data_config(), train_config()
        chosen = _parse_cells(cells)
        _check_destinations(output, None)
        kind = report_format(output, as_json)
        from forecast.data.load import load_panel
        from forecast.evaluate import compare as compare_cells
        from forecast.cli.report import compare_report

        panel = load_panel(data, logs.notes(log))
        results = compare_cells(panel, config, chosen, folds=folds, step=step, season=season, log=logs.notes(log))
        if kind is OutputFormat.json:
            text = json.dumps({"runs": [result.to_dict() for result in results]}, indent=2) + "\n"
        elif kind == REPORT:
            text = compare_report(results) + "\n"
        else:
            import pandas as pd

            rows = pd.concat([result.table(panel.id_col).assign(cell=result.cell) for result in results], ignore_index=True)
            text = _table(rows, kind, "rows")
        _emit(text, output, log, f"wrote the comparison to {output}")

    _run(run)


@models_app.command("list")
def models_list(
    model_dir: ModelDir = "model",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Every version, oldest first: created, data range, validation metrics, which is current."""

    def run() -> None:
        logs.start("models list", quiet=False)
        from forecast.cli.report import versions_table, versions_to_dicts
        from forecast.store.versions import Store

        store = Store(model_dir)
        store.check_exists()
        rows = versions_to_dicts(store)
        typer.echo(json.dumps({"versions": rows}, indent=2) if as_json else versions_table(rows))

    _run(run)


@models_app.command("use")
def models_use(
    version_id: Annotated[str, typer.Argument(metavar="VERSION", help="The version to make current.", show_default=False)],
    model_dir: ModelDir = "model",
    lock_timeout: LockTimeout = 300.0,
) -> None:
    """Make VERSION current: roll back to an earlier model or forward to a candidate."""

    def run() -> None:
        log = logs.start("models use", quiet=False)
        from forecast.store.versions import Store

        store = Store(model_dir)
        store.open(version_id)  # refuse a damaged version before pointing at it
        with store.lock(lock_timeout, logs.notes(log)):
            previous = store.current_id()
            store.set_current(version_id)
        log.info(f"version {printable(version_id)} is now current (was {printable(str(previous))})")

    _run(run)


@models_app.command("prune")
def models_prune(
    keep: Annotated[int, typer.Option(help="Newest versions to keep; the current one is kept as well.")],
    model_dir: ModelDir = "model",
    lock_timeout: LockTimeout = 300.0,
) -> None:
    """Delete all but the newest --keep versions, never the current one."""

    def run() -> None:
        log = logs.start("models prune", quiet=False)
        from forecast.store.versions import Store

        if keep < 1:
            raise ForecastError(f"--keep must be at least 1. Received: {keep}.")
        store = Store(model_dir)
        store.resolve()  # refuses a directory with no models
        with store.lock(lock_timeout, logs.notes(log)):
            removed = store.prune(keep)
        log.info(f"removed {len(removed)} version(s)" + (f": {', '.join(map(printable, removed))}" if removed else ""))

    _run(run)


def _run(body) -> None:
    """Run a command body, turning failures into one log line and an exit code."""
    logger = logging.getLogger(logs.LOGGER)
    _state["published"] = None  # set once a run has published a version; stops after it say so
    stopping.reset()
    previous = {signum: signal.signal(signum, stopping.handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        body()
    except ForecastError as exc:
        logger.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except (KeyboardInterrupt, stopping.Stopped) as exc:
        code = getattr(exc, "exit_code", 130)
        how = "stopped by SIGTERM" if code == 143 else "interrupted (Ctrl-C)"
        logger.error(f"{how}; {_state.get('published') or 'the current model is unchanged'}.")
        raise typer.Exit(code) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if _state["verbose"]:
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        logger.error(f"unexpected {type(exc).__name__}: {detail} (rerun with --verbose for the traceback)")
        raise typer.Exit(1) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _parse_cells(text: str) -> list[Cell]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in Cell.__members__]
    if unknown or not names:
        raise ForecastError(f"--cells takes lstm, gru and rnn, comma-separated. Received: {text!r}.")
    return [Cell(name) for name in dict.fromkeys(names)]


def _table(frame, chosen: OutputFormat, key: str) -> str | bytes:
    """A result table as CSV (6 significant digits), JSON ({key: [one object per row]}, a value
    that is not a finite number as null) or Parquet (every digit, typed columns)."""
    if chosen is OutputFormat.csv:
        return frame.to_csv(index=False, float_format="%.6g")
    if chosen is OutputFormat.parquet:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return json.dumps({key: json.loads(frame.to_json(orient="records", double_precision=15))}, indent=2) + "\n"


def _check_destinations(output: str | None, plot: str | None) -> None:
    """Refuse unwritable destinations and unknown plot formats before any work; the plot goes to
    stdout only when the text does not."""
    from forecast.cli.output import STDOUT, check_destination, plot_format

    check_destination(output, "--output")
    check_destination(plot, "--plot", stdout=output not in (None, STDOUT))
    if plot is not None:
        plot_format(plot)
    if output not in (None, STDOUT) and plot is not None and os.path.realpath(output) == os.path.realpath(plot):
        raise ForecastError(f"--output and --plot both name {output!r}; one would overwrite the other. Name two files.")


def _emit(text: str | bytes, output: str | None, log, note: str) -> None:
    """Print `text`, or write it to `output` (see forecast.cli.output)."""
    from forecast.cli.output import STDOUT, write_output

    write_output(STDOUT if output is None else output, text, "--output")
    if output not in (None, STDOUT):
        log.info(note)
