"""Read a series from a data file, a DataFrame or a ticker and validate it: time column, target, values
(its rows are put on their regular grid by forecast.data.regular)."""

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
    infer_frequency,
    same_frequency,
    stamp_text,
    step_offset,
)
from forecast.data.calendars import Calendar, ticker_calendar
from forecast.data.datafile import STDIN, as_rows, index_as_column, line, read_table
from forecast.data.regular import exchange_sessions, order, regularise
from forecast.data.times import also_day_first, combine_time_parts, detect_time_column, parse_times, time_columns
from forecast.errors import DataError, names, quote

Log = Callable[[str], None]

# Values beyond this are refused: errors between them would overflow float64 once squared (RMSE).
LARGEST = 1e150
# Columns taken as the series id of a long-format file when --id-col is not given and their
# values repeat (compared lower-cased): NeuralForecast's and statsforecast's name, and two common others.
ID_NAMES = ("unique_id", "series_id", "item_id")
# Columns forecast by default, in this order, when present and --target is not given:
# NeuralForecast's and statsforecast's target, and a price file's adjusted or plain close.
TARGET_NAMES = ("y", "Adj Close", "Close")


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
    values = order(values, raw.index, fill, several, log)
    frequency = frequency if frequency is not None and len(values) < 3 else infer_frequency(values.index)
    sessions = exchange_sessions(calendar, frequency, values.index, log) if calendar else None
    def misread() -> bool:  # asked only when timestamps are missing: might reading day first close the gaps?
        return time_format is None and not dayfirst and time_col in raw.columns and also_day_first(raw[time_col])

    values = regularise(values, frequency, fill, log, sessions, misread)
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
    return len(present) > 0 and to_number(present).notna().mean() >= 0.9


def to_number(column: pd.Series) -> pd.Series:
    """Numbers as float64, anything else NaN; integers too long for float64 (pandas keeps them
    as Python ints and then overflows) become infinities, refused as too large."""
    try:
        return pd.to_numeric(column, errors="coerce").astype("float64")
    except (OverflowError, TypeError, ValueError):
        return pd.to_numeric(column.astype("string"), errors="coerce").astype("float64")


def _numeric(column: pd.Series, name: str, times: pd.DatetimeIndex) -> np.ndarray:
    values = to_number(column)
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
