"""`forecast predict` and `forecast detect`: the commands that run a trained version on data."""

from __future__ import annotations

from typing import Annotated, List, Optional

import typer

from forecast.cli import logs
from forecast.cli.options import (
    ConfigFile, LockTimeout, ModelDir, OldVersion, Output, Plot, Quiet, Version, data_options, percentage,
    resolve_version, resolved_options, training_options,
)
from forecast.cli.output import check_destinations, emit, result_table, table_format
from forecast.cli.running import run_command
from forecast.config import DataConfig, Engine, OutputFormat, TrainConfig, config_to_dict
from forecast.errors import ForecastError


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
    engine: Annotated[Engine, typer.Option(help="What runs the network: litert (the bundle's model.tflite, exported from a model trained on TensorFlow, on the LiteRT interpreter), onnx (its model.onnx, exported from a model trained on JAX or PyTorch, on ONNX Runtime), both without Keras and under a second; keras (model.keras, with Keras and its backend); or auto (the bundle's artifact when its runtime is installed; an artifact that does not load falls back to Keras with a warning).")] = Engine.auto,
    plot: Plot = None,
    quiet: Quiet = False,
) -> None:
    """Forecast the next --horizon steps from the current model (or --model-version)."""

    def run() -> None:
        log = logs.start("predict", quiet)
        version = resolve_version(model_version, old_version, log)
        check_destinations(output, plot, reads={"--data": data, "--future-data": future_data}, model_dir=model_dir)
        if as_json and format not in (None, OutputFormat.json):
            raise ForecastError(f"--json is --format json; --format {format.value} asks for another. Drop one of them.")
        chosen = table_format(output, OutputFormat.json if as_json else format)
        from forecast.predict import predict as forecast_steps

        result = forecast_steps(model_dir, steps=horizon, data_path=data, future_data=future_data, levels=level or (), ids=id or (),
                                version=version, engine=engine, log=logs.notes(log))
        if plot and len(result.recent) > 1:
            raise ForecastError(f"--plot draws one series; this forecast has {len(result.recent)}. Pick one with --id.")
        emit(result_table(result.frame, chosen, "forecasts"), output, log, f"wrote {len(result.frame)} forecasts to {output}")
        if plot:
            from forecast.cli.plots import plot_forecast

            (recent,) = result.recent.values()
            plot_forecast(recent, result.frame, result.target, plot)
            log.info(f"wrote the forecast plot to {plot}")

    run_command(run)


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
    sustained_threshold: Annotated[float, typer.Option(help="A row is also an anomaly when the mean score of its last 10 rows (before widening, leaving out rows above --threshold) lies more than this many standard deviations above the usual mean of 10 rows over the same N rows as --level's widening (at least 100): the sustained column. It catches departures that last, such as a shifted level or denser spikes, whose rows each stay inside the --threshold. 4.26 is a one-sided Gaussian tail of 1e-5; the rule applies after the first 100 scored rows.")] = 4.26,
    id: Annotated[Optional[List[str]], typer.Option("--id", help="For a model of several series: score only this one (default: every series in DATA); repeat for several.", show_default=False)] = None,
    only_anomalies: Annotated[bool, typer.Option("--only-anomalies", help="Output only the rows flagged as anomalies.")] = False,
    exit_code: Annotated[bool, typer.Option("--exit-code", help="Exit with code 4 when any row is flagged (after writing the output), so a cron line can alert; 0 otherwise.")] = False,
    output: Output = None,
    format: Annotated[Optional[OutputFormat], typer.Option(help="csv (timestamp,actual,forecast,lower_<level>,upper_<level>,score,sustained,anomaly,alarm; alarm marks each anomaly with none in the 10 rows before it, where an episode starts) json ({\"rows\": [...]}) or parquet (default: from --output's extension, else csv).", show_default=False)] = None,
    model_version: Version = None,
    old_version: OldVersion = None,
    engine: Annotated[Engine, typer.Option(help="What runs the network: litert, onnx, keras or auto, as for predict. LiteRT forecasts one window per call (0.2 ms each here), keras 1,024 per call after TensorFlow's 6 s start-up: keras is faster above about 40,000 rows.")] = Engine.auto,
    lock_timeout: LockTimeout = 300.0,
    plot: Plot = None,
    config: ConfigFile = None,
    quiet: Quiet = False,
) -> None:
    """Flag the rows of DATA that the model did not expect: each is forecast from the rows before it and scored by its distance outside the calibrated interval."""

    def run() -> None:
        log = logs.start("detect", quiet)
        version = resolve_version(model_version, old_version, log)
        data, options = data_config(), train_config()
        check_destinations(output, plot, reads={"DATA": data.path, "--config": config}, model_dir=model_dir)
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

            resolved = resolved_options(data, options, model_dir=model_dir)
            result = train_and_detect(data, options, model_dir, train_fraction, lock_timeout=lock_timeout,
                                      saved_config=resolved, **detect_options)
        if plot and len(result.history) > 1:
            raise ForecastError(f"--plot draws one series; DATA has {len(result.history)}. Pick one with --id.")
        log.info(_detection_summary(result), extra={"fields": {
            "rows": len(result.frame), "anomalies": len(result.anomalies), "alarms": len(result.alarms)}})
        frame = result.anomalies if only_anomalies else result.frame
        emit(result_table(frame, chosen, "rows"), output, log, f"wrote {len(frame)} rows to {output}")
        if plot:
            from forecast.cli.plots import plot_detection

            (history,) = result.history.values()
            plot_detection(history, result.frame, result.target, result.level, plot)
            log.info(f"wrote the detection plot to {plot}")
        if exit_code and len(result.anomalies):
            raise typer.Exit(4)

    run_command(run)


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
