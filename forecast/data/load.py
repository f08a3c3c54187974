"""Read a series from a CSV file or a ticker and validate it: time column, target, order, gaps."""

from __future__ import annotations

import dataclasses
import os
from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import DataConfig, Fill
from forecast.data.frequency import (
    describe_frequency,
    format_timestamp,
    frequency_kind,
    infer_frequency,
    same_frequency,
    stamp_text,
    step_offset,
)
from forecast.data.calendars import Calendar, load_calendar, ticker_calendar
from forecast.data.datafile import STDIN, as_rows, index_as_column, line, line_of, read_table
from forecast.data.times import also_day_first, combine_time_parts, detect_time_column, parse_times, time_columns
from forecast.errors import ConfigError, DataError, names, quote

Log = Callable[[str], None]

# Values beyond this are refused: errors between them would overflow float64 once squared (RMSE).
LARGEST = 1e150
# Columns taken as the series id of a long-format file when --id-col is not given and their
# values repeat (compared lower-cased): NeuralForecast's and statsforecast's name, and two common others.
ID_NAMES = ("unique_id", "series_id", "item_id")
# Columns forecast by default, in this order, when present and --target is not given:
# NeuralForecast's and statsforecast's target, and a price file's adjusted or plain close.
TARGET_NAMES = ("y", "Adj Close", "Close")
# --fill drops duplicated timestamps up to this share of the rows (at least DUPLICATES_KEPT rows);
# more than that is not a stray repeated row but a file of several series or a broken export.
DUPLICATES_SHARE, DUPLICATES_KEPT = 0.01, 5
# --fill makes up missing timestamps up to this share of the filled series' rows (at least
# FILLED_KEPT rows): more is not a few gaps but misread dates (day first read month first) or the
# wrong frequency, and a series largely made up.
FILLED_SHARE, FILLED_KEPT = 0.10, 3


@dataclasses.dataclass
class Series:
    """A validated, regularly spaced series ready for windowing."""

    frame: pd.DataFrame  # DatetimeIndex; columns [target, *features], float64, no NaN
    target: str
    features: tuple[str, ...]  # every input column besides the target, the future features last
    frequency: str  # pandas offset alias, e.g. "MS", "B", "h"
    time_col: str
    source: dict  # where the data came from, as recorded in the bundle
    calendar: Calendar | None = None  # the exchange whose sessions a business-day series keeps
    future_features: tuple[str, ...] = ()  # the features whose values over the forecast period are supplied

    @property
    def step(self) -> pd.DateOffset:
        """One step of the series: its frequency, or one session of its exchange."""
        return step_offset(self.frequency, self.calendar)

    @property
    def columns(self) -> list[str]:
        return [self.target, *self.features]


@dataclasses.dataclass
class Panel:
    """One or more series trained together; a file without --id-col holds one, under the id ""."""

    series: dict[str, Series]
    id_col: str | None

    @property
    def first(self) -> Series:
        return next(iter(self.series.values()))

    def head(self, rows: dict[str, int]) -> Panel:
        """Each series cut to its first `rows[id]` rows: what was known before those points."""
        return Panel({key: dataclasses.replace(s, frame=s.frame.iloc[: max(rows[key], 0)]) for key, s in self.series.items()},
                     self.id_col)


def id_column(id_col: str, columns) -> str:
    """The name of the series id column in an output table: the input's own (store, unique_id),
    or `id` where that name is already one of the table's columns."""
    return "id" if id_col in columns else id_col


def load_panel(config: DataConfig, log: Log = lambda message: None, frequency: str | None = None) -> Panel:
    """Load every series that `config` describes: one, or one per value of the id column
    (`config.id_col`, or a column named as in `ID_NAMES` whose values repeat, with a note).

    In a long-format file (one row per series and time step) each series is validated on its
    own; all must share the target, features and frequency, since one model learns them all.
    `frequency`, where a model already knows it, serves series too short to tell it (one or two
    rows: yesterday's readings).

    Raises:
        DataError: a file, a series or the set of series cannot be used as given.
    """
    if config.ticker is not None:
        if config.id_col is not None:
            raise DataError("--id-col needs a CSV file of several series; a --ticker is one series. Drop --id-col.")
        panel = Panel({"": load_series(config, log)}, None)
        _log_read(panel, log)
        return panel
    return _panel(read_table(config.path, config.sep, log), config, _source(config), log, frequency)


def load_frame(frame: pd.DataFrame, config: DataConfig, log: Log = lambda message: None,
               frequency: str | None = None) -> Panel:
    """The series in a DataFrame, read and validated as a file's rows are by `load_panel`. A
    DatetimeIndex (or any named index) is taken as a column; `config.path` only names the source.

    Raises:
        DataError: the frame cannot be used as given.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame or a file path. Received: {type(frame).__name__}.")
    raw = index_as_column(frame)
    if raw.shape[1] < 2 or raw.empty:
        raise DataError(f"the DataFrame has {raw.shape[1]} columns and {len(raw)} rows; forecast needs a time column, "
                        "a value column and rows.")
    raw = as_rows(raw)
    return _panel(raw, config, {"kind": "dataframe"}, log, frequency)


def _panel(raw: pd.DataFrame, config: DataConfig, source: dict, log: Log, frequency: str | None = None) -> Panel:
    """The series in the rows `raw` of a file or frame; see `load_panel`."""
    id_col = config.id_col or _named_id_column(raw, config, log)
    if id_col is not None:
        check_name(id_col, "id")
    if id_col is None:
        panel = Panel({"": _prepare_file(raw, config, source, log, frequency)}, None)
        _log_read(panel, log)
        return panel
    if id_col not in raw.columns:
        raise DataError(
            f"id column {quote(id_col)} is not in the data. Columns: {names(raw.columns)}. Fix --id-col."
        )
    ids = raw[id_col]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(f"id column {quote(id_col)} is empty at {line(ids, row)}. Give every row its series id.")
    body = raw.drop(columns=[id_col])
    time_col = detect_time_column(body, config.time_col)
    target = choose_target(body, time_col, config.target, log, config.input_columns)
    source = {**source, "id_col": id_col}
    series = {}
    for key, group in body.groupby(ids.astype(str), sort=False):
        note = lambda message, key=key: log(f"series {key}: {message}")  # noqa: E731
        try:
            series[key] = _prepare_file(group, dataclasses.replace(config, time_col=time_col, target=target), source, note,
                                        frequency)
        except DataError as exc:
            raise DataError(f"series {quote(key)}: {exc}") from None
    first = next(iter(series))
    other = next((name for name in series if not same_frequency(series[name].frequency, series[first].frequency)), None)
    if other is not None:
        raise DataError(
            f"series {quote(first)} is {describe_frequency(series[first].frequency, exact=True)} but {quote(other)} is "
            f"{describe_frequency(series[other].frequency, exact=True)}; one model needs one frequency. Split the file by frequency."
        )
    panel = Panel(series, id_col)
    _log_read(panel, log)
    return panel


def _named_id_column(raw: pd.DataFrame, config: DataConfig, log: Log) -> str | None:
    """A column named as series ids are (unique_id, ...) whose values repeat, unless it is the
    time, target or a feature column."""
    used = {config.time_col, config.target, *config.input_columns}
    for column in raw.columns:
        if str(column).strip().lower() in ID_NAMES and column not in used and raw[column].nunique() < len(raw):
            log(f"series ids: column {column} (by its name; --id-col names another)")
            return column
    return None


def _source(config: DataConfig) -> dict:
    """Where a file's rows came from, as the bundle records it."""
    return {"kind": "csv", "path": "<stdin>" if config.path == STDIN else os.path.abspath(config.path)}


def _prepare_file(raw: pd.DataFrame, config: DataConfig, source: dict, log: Log, frequency: str | None = None) -> Series:
    return prepare(raw, time_col=config.time_col, target=config.target, features=config.features,
                   future_features=config.future_features, fill=config.fill,
                   source=source, log=log, time_format=config.time_format, dayfirst=config.dayfirst,
                   calendar=None if config.calendar in (None, "none") else config.calendar, frequency=frequency)


def _log_read(panel: Panel, log: Log) -> None:
    """One line saying what was read: source, rows, dates and frequency."""
    source = panel.first.source
    where = source.get("path") or ("a DataFrame" if source.get("kind") == "dataframe" else
                                   f"ticker {source.get('ticker')} ({source.get('interval')} bars)")
    frames = [s.frame for s in panel.series.values()]
    first = min(f.index[0] for f in frames)
    last = max(f.index[-1] for f in frames)
    stamp = lambda t: format_timestamp(t, panel.first.frequency)  # noqa: E731
    of = f" in {len(frames)} series by {panel.id_col}" if panel.id_col else ""
    log(f"read {where}: {sum(len(f) for f in frames)} rows{of}, {stamp(first)} to {stamp(last)}, "
        f"{describe_frequency(panel.first.frequency)}")


def load_series(config: DataConfig, log: Log = lambda message: None) -> Series:
    """Load and validate the series that `config` describes.

    Args:
        config: the data source and column choices.
        log: receives one-line notes on choices made (target picked, rows filled, ...).

    Returns:
        A `Series` with a regular DatetimeIndex and numeric, finite columns.

    Raises:
        DataError: the file or its contents cannot be used as given.
        TickerError: the ticker download returned nothing usable.
    """
    if config.ticker is None:
        return _prepare_file(read_table(config.path, config.sep, log), config, _source(config), log)
    from forecast.data.ticker import fetch_ticker, ticker_source

    calendar = ticker_calendar(config.ticker) if config.calendar is None and config.interval == "1d" else config.calendar
    return prepare(fetch_ticker(config, log), time_col=config.time_col, target=config.target or "Close",
                   features=config.features, future_features=config.future_features, fill=config.fill,
                   source=ticker_source(config), log=log,
                   calendar=None if calendar == "none" else calendar)


def prepare(
    raw: pd.DataFrame,
    *,
    time_col: str | None,
    target: str | None,
    features: tuple[str, ...] = (),
    future_features: tuple[str, ...] = (),
    fill: Fill | None = None,
    source: dict | None = None,
    log: Log = lambda message: None,
    time_format: str | None = None,
    dayfirst: bool = False,
    calendar: str | None = None,
    frequency: str | None = None,
) -> Series:
    """Validate a raw frame and turn it into a regular `Series`; `frequency`, where known, serves
    a frame too short to tell it.

    Raises:
        DataError: with the rule, what was found and the fix.
    """
    time_col = detect_time_column(raw, time_col)
    if time_col in raw.columns:
        times = parse_times(raw[time_col], time_col, log, time_format=time_format, dayfirst=dayfirst)
    else:
        times = combine_time_parts(raw, time_col)
    target = choose_target(raw, time_col, target, log, (*features, *future_features))
    columns = [target, *features, *future_features]
    for column, role in [*((c, "time") for c in _time_parts(raw, time_col)), (target, "target"),
                         *((c, "feature") for c in (*features, *future_features))]:
        check_name(column, role)
    for column, flag in [*((c, "--features") for c in features), *((c, "--future-features") for c in future_features)]:
        if column not in raw.columns:
            raise DataError(
                f"feature column {quote(column)} is not in the data. Columns: {names(raw.columns)}. "
                f"Fix {flag}."
            )
    values = pd.DataFrame({column: _numeric(raw[column], column, times) for column in columns})
    values.index = pd.DatetimeIndex(times, name=time_col)

    several = _likely_id_column(raw, [*_time_parts(raw, time_col), *columns]) if values.index.has_duplicates else None
    values = _order(values, raw.index, fill, several, log)
    frequency = frequency if frequency is not None and len(values) < 3 else infer_frequency(values.index)
    sessions = _calendar(calendar, frequency, values.index, log) if calendar else None
    def misread() -> bool:  # asked only when timestamps are missing: might reading day first close the gaps?
        return time_format is None and not dayfirst and time_col in raw.columns and also_day_first(raw[time_col])

    values = _regularise(values, frequency, fill, log, sessions, misread)
    return Series(
        frame=values.astype("float64"),
        target=target,
        features=(*features, *future_features),
        future_features=tuple(future_features),
        frequency=frequency,
        time_col=time_col,
        source=source or {},
        calendar=sessions,
    )


def choose_target(raw: pd.DataFrame, time_col: str, target: str | None, log: Log, features: tuple[str, ...] = ()) -> str:
    """The column to forecast: `target` if given, else the first of `TARGET_NAMES` present, else
    the only or last numeric column that is not one of `features` (a column is an input or the
    target, not both)."""
    if target is not None:
        if target not in raw.columns:
            raise DataError(
                f"target column {quote(target)} is not in the data. Columns: {names(raw.columns)}. "
                "Name one with --target."
            )
        return target
    skipped = {*_time_parts(raw, time_col), *features}
    named = next((c for name in TARGET_NAMES for c in raw.columns if c == name and c not in skipped and _mostly_numeric(raw[c])), None)
    if named is not None:
        log(f"target: {named} (by its name; --target picks another)")
        return named
    numeric = [c for c in raw.columns if c not in skipped and _mostly_numeric(raw[c])]
    if not numeric:
        besides = " besides --features" if features else ""
        raise DataError(
            f"no numeric column to forecast{besides} among {names(raw.columns)}. "
            "Name the target with --target (its values must be numbers)."
        )
    chosen = numeric[-1]
    why = "the only numeric column" if len(numeric) == 1 else "the last numeric column"
    why += " that is not a feature" if features else ""
    log(f"target: {chosen} ({why}; --target picks another)")
    return chosen


def check_name(column, role: str) -> None:
    """Refuse a column the run uses (`role`: time, target, feature, id) whose name is not text:
    a bundle records its columns by name, and commands find them by name.

    Raises:
        DataError: an empty name, or one that is not a string (an int as header=None reads, a
            pivot's tuple, None, NaN).
    """
    if isinstance(column, str) and column.strip():
        return
    what = f"an empty name ({quote(column)})" if isinstance(column, str) else \
        f"the name {quote(column, quotes=False)}, of type {type(column).__name__}, not text"
    raise DataError(f"the {role} column has {what}; a model records its columns by name. Give every column a name: "
                    "in the file's header, or for a DataFrame with df.columns = ['date', 'sales', ...].")


def _time_parts(raw: pd.DataFrame, time_col: str) -> list[str]:
    """The columns the time column stands for: itself, or the parts --time-col year,month,... names."""
    return [time_col] if time_col in raw.columns else time_columns(time_col)


def _mostly_numeric(column: pd.Series) -> bool:
    """Numbers, perhaps with a few typos: such a column is a candidate target, and its typos get
    a precise error later rather than the column being silently passed over."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    present = column.dropna()
    return len(present) > 0 and _to_number(present).notna().mean() >= 0.9


def _to_number(column: pd.Series) -> pd.Series:
    """Numbers as float64, anything else NaN; integers too long for float64 (pandas keeps them
    as Python ints and then overflows) become infinities, refused as too large."""
    try:
        return pd.to_numeric(column, errors="coerce").astype("float64")
    except (OverflowError, TypeError, ValueError):
        return pd.to_numeric(column.astype("string"), errors="coerce").astype("float64")


def _numeric(column: pd.Series, name: str, times: pd.DatetimeIndex) -> np.ndarray:
    values = _to_number(column)
    bad = values.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"column {quote(name)} has a non-numeric value {quote(column.iloc[row])} at {line(column, row)} "
            f"({stamp_text(times[row])}). Fix the value, or leave the cell empty and pass --fill."
        )
    array = values.to_numpy(dtype="float64")
    unusable = ~(np.abs(array) <= LARGEST) & ~np.isnan(array)  # infinite, or too large to square
    if unusable.any():
        row = int(np.flatnonzero(unusable)[0])
        where = f"at {line(column, row)} ({stamp_text(times[row])})"
        if str(column.iloc[row]).strip().lower().lstrip("+-") in ("inf", "infinity"):
            raise DataError(
                f"column {quote(name)} has an infinite value {where}. "
                "Replace it with a number, or leave the cell empty and pass --fill."
            )
        raise DataError(
            f"column {quote(name)} has a value too large to model {where}: beyond ±{LARGEST:.0e}, errors "
            "overflow once squared. Rescale the column (divide it by a power of ten)."
        )
    return array


def _likely_id_column(raw: pd.DataFrame, used: list[str]) -> str | None:
    """A column that looks like series ids (text, values repeating), for advice on duplicates."""
    for column in raw.columns:
        if column in used or _mostly_numeric(raw[column]):
            continue
        distinct = raw[column].nunique(dropna=True)
        if 2 <= distinct < len(raw):
            return column
    return None


def _order(values: pd.DataFrame, lines: pd.Index, fill: Fill | None, several: str | None, log: Log) -> pd.DataFrame:
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


def _calendar(name: str, frequency: str, index: pd.DatetimeIndex, log: Log) -> Calendar:
    """Exchange `name`'s sessions over the series, for business-day data only."""
    if frequency_kind(frequency) not in ("B", "D") or pd.tseries.frequencies.to_offset(frequency).n != 1:
        raise ConfigError(f"--calendar dates daily business-day data by an exchange's sessions; this series is "
                          f"{describe_frequency(frequency)}. Drop --calendar, or pass --calendar none.")
    calendar = load_calendar(name, index[0], index[-1])
    inside = sum(index[0] <= pd.Timestamp(day) <= index[-1] for day in calendar.closed)
    log(f"{calendar.name} sessions: {inside} weekdays the exchange was closed are not gaps; forecasts skip its holidays")
    return calendar


def _regularise(values: pd.DataFrame, frequency: str, fill: Fill | None, log: Log,
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


def load_future(
    source: str | pd.DataFrame,
    config: DataConfig,
    stamps: dict[str, pd.DatetimeIndex],
    log: Log = lambda message: None,
    name: str = "--future-data",
) -> dict[str, np.ndarray]:
    """The future features' values at the timestamps a forecast needs, from a file (or DataFrame)
    holding the time column, the id column for several series, and `config.future_features`.
    Rows at other timestamps, other columns and other series are ignored.

    Args:
        source: the file's path, or a DataFrame from the Python API.
        config: the training data's columns and time parsing (time_col, id_col, future_features,
            sep, time_format, dayfirst).
        stamps: per series id, the forecast's timestamps.
        name: what messages call the data.

    Returns:
        Per series id, (len(stamps), future features) in the data's units.

    Raises:
        DataError: an unreadable file, a missing column, series or row, a timestamp given twice,
            or a value that is missing or not a number.
    """
    raw = as_rows(index_as_column(source, name)) if isinstance(source, pd.DataFrame) else read_table(source, config.sep, log)
    columns = list(config.future_features)
    wanted = [*time_columns(config.time_col), *([config.id_col] if config.id_col else []), *columns]
    missing = [column for column in wanted if column not in raw.columns]
    if missing:
        raise DataError(f"{name} has no column {quote(missing[0])}. Columns: {names(raw.columns)}. It needs "
                        f"{', '.join(quote(c) for c in wanted)}, one row per forecast step.")
    if config.time_col in raw.columns:
        times = parse_times(raw[config.time_col], config.time_col, log, time_format=config.time_format, dayfirst=config.dayfirst)
    else:
        times = combine_time_parts(raw, config.time_col)
    keys = raw[config.id_col].astype(str) if config.id_col else pd.Series("", index=raw.index)
    out = {}
    for key, needed in stamps.items():
        label = f"{name} for series {quote(key)}" if key else name
        rows = np.flatnonzero((keys == key).to_numpy())
        at = pd.DatetimeIndex(times[rows])
        if at.has_duplicates:
            raise DataError(f"{label} gives {stamp_text(at[at.duplicated()][0])} twice. Give each forecast step one row.")
        where = at.get_indexer(needed)
        if (where < 0).any():
            first = needed[int(np.flatnonzero(where < 0)[0])]
            raise DataError(
                f"{label} has no row for {stamp_text(first)}: the forecast needs the values of "
                f"{', '.join(quote(c) for c in columns)} at each of its {len(needed)} steps, "
                f"{stamp_text(needed[0])} to {stamp_text(needed[-1])}. Add the missing rows."
            )
        picked = raw.iloc[rows[where]]
        values = np.stack([_to_number(picked[column]).to_numpy() for column in columns], axis=1)
        unusable = ~(np.abs(values) <= LARGEST)  # empty, text, infinite or too large
        if unusable.any():
            step, column = map(int, np.argwhere(unusable)[0])
            cell = picked[columns[column]].iloc[step]
            what = "empty" if pd.isna(cell) else f"{quote(cell)}, not a number {'' if np.isnan(values[step, column]) else 'it can model '}"
            raise DataError(f"{label}: column {quote(columns[column])} is {what.rstrip()} at {stamp_text(needed[step])} "
                            f"({line(picked[columns[column]], step)}). Every forecast step needs a number: fix it.")
        out[key] = values
    return out
