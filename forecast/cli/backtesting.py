"""`forecast evaluate` and `forecast compare`: rolling-origin backtests against the baselines."""

from __future__ import annotations

import json
from typing import Annotated, List, Optional

import typer

from forecast.cli import logs
from forecast.cli.options import (
    AsJson, BacktestOutput, ConfigFile, Folds, Plot, Quiet, Season, Step, data_options, percentage, training_options,
)
from forecast.cli.output import REPORT, check_destinations, emit, report_format, result_table
from forecast.cli.running import run_command
from forecast.config import Cell, OutputFormat
from forecast.errors import ForecastError


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
        data, options = data_config(), train_config()
        check_destinations(output, plot, reads={"DATA": data.path, "--config": config})
        kind = report_format(output, as_json)
        from forecast.data.load import load_panel
        from forecast.evaluate import backtest
        from forecast.cli.report import backtest_report

        panel = load_panel(data, logs.notes(log))
        result = backtest(panel, options, folds=folds, step=step, season=season,
                          levels=level or (80, 95), log=logs.notes(log))
        if kind is OutputFormat.json:
            text = json.dumps(result.to_dict(), indent=2) + "\n"
        elif kind == REPORT:
            text = backtest_report(result) + "\n"
        else:
            text = result_table(result.table(panel.id_col), kind, "rows")
        emit(text, output, log, f"wrote the backtest to {output}")
        if plot:
            from forecast.cli.plots import plot_backtest

            plot_backtest(result, plot)
            log.info(f"wrote the backtest plot to {plot}")

    run_command(run)


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
        data, options = data_config(), train_config()
        chosen = _parse_cells(cells)
        check_destinations(output, None, reads={"DATA": data.path, "--config": config})
        kind = report_format(output, as_json)
        from forecast.data.load import load_panel
        from forecast.evaluate import compare as compare_cells
        from forecast.cli.report import compare_report

        panel = load_panel(data, logs.notes(log))
        results = compare_cells(panel, options, chosen, folds=folds, step=step, season=season, log=logs.notes(log))
        if kind is OutputFormat.json:
            text = json.dumps({"runs": [result.to_dict() for result in results]}, indent=2) + "\n"
        elif kind == REPORT:
            text = compare_report(results) + "\n"
        else:
            import pandas as pd

            rows = pd.concat([result.table(panel.id_col).assign(cell=result.cell) for result in results], ignore_index=True)
            text = result_table(rows, kind, "rows")
        emit(text, output, log, f"wrote the comparison to {output}")

    run_command(run)


def _parse_cells(text: str) -> list[Cell]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in Cell.__members__]
    if unknown or not names:
        raise ForecastError(f"--cells takes lstm, gru and rnn, comma-separated. Received: {text!r}.")
    return [Cell(name) for name in dict.fromkeys(names)]
