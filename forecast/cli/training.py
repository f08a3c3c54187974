"""`forecast train` and `forecast tune`: the commands that add versions to a model directory or search for their options."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from forecast.cli import logs, running
from forecast.cli.options import (
    ConfigFile, LockTimeout, ModelDir, Plot, Quiet, data_options, duration, resolved_options, training_options,
)
from forecast.cli.output import check_destinations, emit
from forecast.cli.running import run_command
from forecast.config import Promote
from forecast.errors import ForecastError


@data_options
@training_options
def train(
    data_config,
    train_config,
    model_dir: ModelDir = "model",
    promote: Annotated[Promote, typer.Option(help="When the new version becomes current. if-better: it and the current version forecast the same most recent windows (the new run's validation windows) of the series both know, each through its own columns, scalers and lookback, and it is promoted only if its MAE is at most the current one's (equal within a millionth counts as as good); where the current version cannot be scored on this data (another target, columns or series the data lacks) it must beat naive instead; and a run whose data lacks a series the current version forecasts is never promoted. Otherwise it is kept as a candidate (exit 0). always: promote every complete run, dropping such series on purpose. Either way a model that does not beat naive there never replaces one that does.")] = Promote.if_better,
    lock_timeout: LockTimeout = 300.0,
    worker_timeout: Annotated[float, typer.Option(help="With TF_CONFIG naming several workers: seconds to wait for all of them to join before giving up (exit 3, nothing written; retry later). A worker that dies while training is noticed by the others within about a minute, with the same exit. SIGTERM stops a worker at any point, waiting included.")] = 300.0,
    warm_start: Annotated[bool, typer.Option("--warm-start/--no-warm-start", help="Start from the current version's weights instead of fresh ones, for a nightly retrain that costs a fraction of a first one: only the network it kept trains (no --window-norm auto race), and early stopping waits a quarter as long and never keeps an epoch that does worse on validation than those weights. Scalers and interval calibration are refitted on this data, and promotion judges the result as usual. Where the current version does not fit (other columns, date inputs, lookback, horizon, cell, layers, units, ensemble, target transform; a baseline kept; none current), it trains from scratch with a note. The version records where it started (forecast info).")] = False,
    config: ConfigFile = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved options as TOML (the text saved as config.toml in each version) and exit without training.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Check the data, the options and --model-dir exactly as training would (before Keras is imported), print the windows it would train on, and exit without training or writing anything.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON instead of the summary: the version, whether it became current and why, its validation metrics, each baseline's, whether a network beat them (beats_baselines) and the baseline --window-norm auto kept instead of a network (fell_back_to, else null).")] = False,
    plot: Plot = None,
    quiet: Quiet = False,
) -> None:
    """Train a model on DATA (or --ticker) and add it to --model-dir as a new version."""

    def run() -> None:
        log = logs.start("train", quiet)
        data, options = data_config(), train_config()
        resolved = resolved_options(data, options, model_dir=model_dir, promote=promote, lock_timeout=lock_timeout,
                                     warm_start=warm_start)
        if print_config:
            from forecast.settings import to_toml

            typer.echo(to_toml(resolved), nl=False)
            return
        if not lock_timeout >= 0:  # also refuses nan
            raise ForecastError(f"--lock-timeout must be 0 or more seconds. Received: {lock_timeout:g}.")
        if not worker_timeout > 0:
            raise ForecastError(f"--worker-timeout must be above 0 seconds. Received: {worker_timeout:g}.")
        check_destinations(None, plot, reads={"DATA": data.path, "--config": config}, model_dir=model_dir)
        if check:
            from forecast.cli.report import check_summary
            from forecast.train import check as check_training

            typer.echo(check_summary(check_training(data, options, model_dir, logs.notes(log))))
            return
        from forecast.cli import workers
        from forecast.model.cluster import this_worker

        worker = this_worker(options.strategy)
        if worker is not None and not workers.supervised():
            raise typer.Exit(workers.supervise(worker, worker_timeout))
        from forecast.cli.report import training_record, training_summary
        from forecast.train import train as train_model

        progress = (0 if quiet else 1) if sys.stdout.isatty() else 2  # a bar at a terminal, log lines elsewhere
        result = train_model(data, options, model_dir, promote=promote, lock_timeout=lock_timeout,
                             log=logs.notes(log), verbose=progress, saved_config=resolved, warm_start=warm_start)
        if not result.wrote:  # a cluster's worker other than the chief
            chief = result.worker.addresses[0]
            log.info(f"{result.worker.describe()} of {result.worker.size}: trained its share; the chief ({chief}) "
                     "writes the version")
            return
        state = "current" if result.verdict.promote else "a candidate"
        running.state.published = f"this run's version {result.version_id} is complete and {state}"
        record = training_record(result)
        fields = {key: record[key] for key in ("version", "val_mae", "baseline_mae", "beats_baselines", "fell_back_to")}
        outcome = (f"forecasting {record['fell_back_to']} (no network kept)" if record["fell_back_to"]
                   else f"{'beating' if record['beats_baselines'] else 'not beating'} its baselines")
        log.info(f"version {result.version_id} is {state}; validation MAE {record['val_mae']:.4g}, {outcome}",
                 extra={"fields": {**fields, "promoted": result.verdict.promote, "reason": result.verdict.reason}})
        if as_json:
            typer.echo(json.dumps(record, indent=2))
        else:
            typer.echo(training_summary(result, options))
        if plot:
            from forecast.cli.plots import plot_loss

            plot_loss(result.fitted, plot)
            log.info(f"wrote the loss plot to {plot}")

    run_command(run)


@data_options
@training_options
def tune(
    data_config,
    train_config,
    trials: Annotated[Optional[int], typer.Option(help="Trials to finish in all, counting those of earlier runs on the same --study journal; with --budget, whichever ends first.", show_default="20 without --budget")] = None,
    budget: Annotated[Optional[float], typer.Option(parser=duration, metavar="DURATION", help="Time this run may take: 90s, 20m, 1.5h, 1h30m. A trial still training when it runs out is stopped (after the current batch) and runs again first when the search resumes.", show_default=False)] = None,
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
        check_destinations(output, None, reads={"DATA": data.path, "--config": config, "--study": study})
        if output == "-":
            raise ForecastError("--output must name a file for the TOML options, not -. Name a file such as best.toml.")
        running.state.published = f"the finished trials are in {study}: run the same command to resume the search"
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
        emit(header + to_toml(chosen), output, log, f"wrote the best options to {output}")
        typer.echo(tune_report(result))

    run_command(run)


def _score_text(trial) -> str:
    return f"{trial.mase:.4g}" if trial.state == "complete" and trial.mase is not None else trial.state
