"""Putting a series' rows on its regular grid: duplicated, shuffled or newest-first rows, gaps and
missing values (refused, or filled within limits), and an exchange's sessions for business days."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import Fill
from forecast.data.calendars import Calendar, load_calendar
from forecast.data.datafile import line_of
from forecast.data.frequency import describe_frequency, frequency_kind, stamp_text, step_offset
from forecast.errors import ConfigError, DataError, quote

Log = Callable[[str], None]

# --fill drops duplicated timestamps up to this share of the rows (at least DUPLICATES_KEPT rows);
# more than that is not a stray repeated row but a file of several series or a broken export.
DUPLICATES_SHARE, DUPLICATES_KEPT = 0.01, 5
# --fill makes up missing timestamps up to this share of the filled series' rows (at least
# FILLED_KEPT rows): more is not a few gaps but misread dates (day first read month first) or the
# wrong frequency, and a series largely made up.
FILLED_SHARE, FILLED_KEPT = 0.10, 3


def order(values: pd.DataFrame, lines: pd.Index, fill: Fill | None, several: str | None, log: Log) -> pd.DataFrame:
    """Refuse duplicated and shuffled timestamps; reverse a newest-first file.

    Args:
        lines: the labels of the rows, naming their lines (or rows) in messages.
        several: a column that looks like series ids; duplicates then mean several series.
    """
    duplicated = values.index.duplicated(keep="last")
    if duplicated.any():
        first, count = values.index[duplicated][0], int(duplicated.sum())
        said = f"timestamp {stamp_text(first)} in column {quote(values.index.name)} appears more than once ({count} duplicated rows)"
        if several is not None:
            raise DataError(
                f"{said}, and column {quote(several)} repeats its values: this looks like several series in one file. "
                f"Pass --id-col {several} to learn them all in one model, or remove the duplicates."
            )
        if fill is None:
            raise DataError(f"{said}. Remove the duplicates, or pass --fill to keep the last row of each timestamp.")
        allowed = max(DUPLICATES_KEPT, int(DUPLICATES_SHARE * len(values)))
        if count > allowed:
            raise DataError(
                f"{said}; --fill drops at most {allowed} (1% of the rows), since more is not a stray repeated row. "
                "Check the file: it may hold several series (then pass --id-col) or a broken export."
            )
        log(f"dropped {count} duplicated rows, keeping the last of each timestamp")
        values, lines = values[~duplicated], lines[~duplicated]
    index = values.index
    if index.is_monotonic_increasing:
        return values
    if index.is_monotonic_decreasing:
        log("rows run newest first; reversed them into time order")
        return values.iloc[::-1]
    position = int(np.flatnonzero(np.diff(index.asi8) < 0)[0]) + 1
    raise DataError(
        f"timestamps are out of order: {stamp_text(index[position])} ({line_of(lines, position)}) comes after "
        f"{stamp_text(index[position - 1])} ({line_of(lines, position - 1)}). Sort the file by its time column."
    )


def exchange_sessions(name: str, frequency: str, index: pd.DatetimeIndex, log: Log) -> Calendar:
    """Exchange `name`'s sessions over the series, for business-day data only."""
    if frequency_kind(frequency) not in ("B", "D") or pd.tseries.frequencies.to_offset(frequency).n != 1:
        raise ConfigError(f"--calendar dates daily business-day data by an exchange's sessions; this series is "
                          f"{describe_frequency(frequency)}. Drop --calendar, or pass --calendar none.")
    calendar = load_calendar(name, index[0], index[-1])
    inside = sum(index[0] <= pd.Timestamp(day) <= index[-1] for day in calendar.closed)
    log(f"{calendar.name} sessions: {inside} weekdays the exchange was closed are not gaps; forecasts skip its holidays")
    return calendar


def regularise(values: pd.DataFrame, frequency: str, fill: Fill | None, log: Log,
                calendar: Calendar | None = None, misread: Callable[[], bool] = lambda: False) -> pd.DataFrame:
    """Refuse (or fill, up to FILLED_SHARE of the rows) gaps and missing values on the inferred
    frequency's grid, or on the sessions of `calendar`.

    Args:
        misread: whether the dates, read month first, would also read day first (asked only
            when timestamps are missing, to suggest --dayfirst).
    """
    grid = pd.date_range(values.index[0], values.index[-1], freq=step_offset(frequency, calendar))
    off_grid = values.index.difference(grid)
    if len(off_grid) and calendar is not None:
        raise DataError(
            f"the series has a row on {stamp_text(off_grid[0])}, when {calendar.name} was closed ({len(off_grid)} such "
            "rows). Remove them, or pass --calendar none (or another exchange's code)."
        )
    if len(off_grid):
        raise DataError(
            f"timestamp {stamp_text(off_grid[0])} does not fall on the series' {describe_frequency(frequency)} "
            f"grid ({len(off_grid)} such rows). Resample the data to one regular frequency."
        )
    missing = grid.difference(values.index)
    empty = values.isna()  # missing values in the rows as given, before any reindexing
    if len(missing) and (frequency != "B" or calendar is not None):
        day_first = misread()
        dayfirst_fix = "pass --dayfirst if they are written day first (01/02/2020 for 1 February)"
        if fill is None:
            said = f"{len(missing)} {describe_frequency(frequency)} timestamps are missing (first: {stamp_text(missing[0])})"
            if day_first:
                raise DataError(f"{said}, but the dates, read month first, also read day first: {dayfirst_fix}; else add "
                                "the rows, or pass --fill ffill|interpolate.")
            raise DataError(f"{said}. Add the rows, or pass --fill ffill|interpolate.")
        allowed = max(FILLED_KEPT, int(FILLED_SHARE * len(grid)))
        if len(missing) > allowed:
            fix = (f"The dates, read month first, also read day first: {dayfirst_fix}." if day_first else
                   "Check the time column (--time-format, --dayfirst) and the data's spacing, or add the rows.")
            raise DataError(
                f"--fill would make up {len(missing)} of the {len(grid)} {describe_frequency(frequency)} rows "
                f"({len(missing) / len(grid):.0%}); it makes up at most {allowed} (10% of the rows), since more means "
                f"misread dates or the wrong frequency, not a few gaps. {fix}"
            )
        log(f"filled {len(missing)} missing timestamps ({fill.value})")
        values = values.reindex(grid.rename(values.index.name))
    elif len(missing):
        # Trading calendars skip weekday holidays; those are not gaps in a business-day series.
        log(f"business-day series: {len(missing)} missing weekdays treated as holidays")

    if empty.to_numpy().any():
        column = empty.any().idxmax()
        if fill is None:
            first = empty.index[empty[column].to_numpy()][0]
            raise DataError(
                f"column {quote(column)} has {int(empty[column].sum())} missing values (first at {stamp_text(first)}). "
                "Fill them in the file, or pass --fill ffill|interpolate."
            )
        log(f"filled {int(empty.to_numpy().sum())} missing values ({fill.value})")
    if values.isna().to_numpy().any():
        values = values.ffill() if fill is Fill.ffill else values.interpolate(method="time")
        leading = values.isna().any(axis=1)
        if leading.all():
            raise DataError("every row has a missing value, so there is nothing to fill from. Check the data.")
        if leading.any():
            # Nothing comes before the first value, so neither method can fill these.
            start = int(np.argmin(leading.to_numpy()))
            log(f"dropped {start} leading rows that had no earlier value to fill from")
            values = values.iloc[start:]
    return values
