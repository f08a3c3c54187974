"""Read a series from a CSV file or a ticker, validate it and infer its frequency."""

from __future__ import annotations

import dataclasses
import io
import os
import time
import warnings
from collections import Counter
from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import DataConfig, Fill
from forecast.errors import DataError, SourceError

Log = Callable[[str], None]

# Column names taken as the time column when --time-col is not given (compared lower-cased).
TIME_NAMES = ("date", "datetime", "timestamp", "time", "month", "week", "day", "year", "period", "ds")


@dataclasses.dataclass
class Series:
    """A validated, regularly spaced series ready for windowing."""

    frame: pd.DataFrame  # DatetimeIndex; columns [target, *features], float64, no NaN
    target: str
    features: tuple[str, ...]
    frequency: str  # pandas offset alias, e.g. "MS", "B", "h"
    time_col: str
    source: dict  # where the data came from, as recorded in the bundle

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


def load_panel(config: DataConfig, log: Log = lambda message: None) -> Panel:
    """Load every series that `config` describes: one, or one per value of `config.id_col`.

    In a long-format file (one row per series and time step) each series is validated on its
    own; all must share the target, features and frequency, since one model learns them all.

    Raises:
        DataError: a file, a series or the set of series cannot be used as given.
    """
    if config.id_col is None:
        panel = Panel({"": load_series(config, log)}, None)
        _log_read(panel, log)
        return panel
    if config.ticker is not None:
        raise DataError("--id-col needs a CSV file of several series; a --ticker is one series. Drop --id-col.")
    raw = read_csv(config.path)
    if config.id_col not in raw.columns:
        raise DataError(
            f"id column {config.id_col!r} is not in the data. Columns: {_names(raw.columns)}. Fix --id-col."
        )
    ids = raw[config.id_col]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(f"id column {config.id_col!r} is empty at line {row + 2}. Give every row its series id.")
    body = raw.drop(columns=[config.id_col])
    time_col = detect_time_column(body, config.time_col)
    target = choose_target(body, time_col, config.target, log)
    source = {"kind": "csv", "path": os.path.abspath(config.path), "id_col": config.id_col}
    series = {}
    for key, group in body.groupby(ids.astype(str), sort=False):
        note = lambda message, key=key: log(f"series {key}: {message}")  # noqa: E731
        try:
            series[key] = prepare(
                group, time_col=time_col, target=target, features=config.features, fill=config.fill,
                source=source, log=note,
            )
        except DataError as exc:
            raise DataError(f"series {key!r}: {exc}") from None
    first = next(iter(series))
    kind = frequency_kind(series[first].frequency)
    other = next((name for name in series if frequency_kind(series[name].frequency) != kind), None)
    if other is not None:
        raise DataError(
            f"series {first!r} is {describe_frequency(series[first].frequency)} but {other!r} is "
            f"{describe_frequency(series[other].frequency)}; one model needs one frequency. Split the file by frequency."
        )
    panel = Panel(series, config.id_col)
    _log_read(panel, log)
    return panel


def _log_read(panel: Panel, log: Log) -> None:
    """One line saying what was read: source, rows, dates and frequency."""
    source = panel.first.source
    where = source.get("path") or f"ticker {source.get('ticker')} ({source.get('interval')} bars)"
    frames = [s.frame for s in panel.series.values()]
    first = min(f.index[0] for f in frames)
    last = max(f.index[-1] for f in frames)
    stamp = lambda t: format_timestamp(t, panel.first.frequency)  # noqa: E731
    of = f" in {len(frames)} series by {panel.id_col}" if panel.id_col else ""
    log(f"read {where}: {sum(len(f) for f in frames)} rows{of}, {stamp(first)} to {stamp(last)}, "
        f"{describe_frequency(panel.first.frequency)}")


def frequency_kind(frequency: str) -> str:
    """The kind of step of a frequency, without its anchor or multiple: "W-SUN" -> "W", "15min" -> "min"."""
    return pd.tseries.frequencies.to_offset(frequency).rule_code.split("-")[0]


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
    if config.ticker is not None:
        from forecast.ticker import fetch_ticker, ticker_source

        raw, source = fetch_ticker(config, log), ticker_source(config)
        default_target = "Close"
    else:
        raw, source = read_csv(config.path), {"kind": "csv", "path": os.path.abspath(config.path)}
        default_target = None
    return prepare(
        raw,
        time_col=config.time_col,
        target=config.target or default_target,
        features=config.features,
        fill=config.fill,
        source=source,
        log=log,
    )


def read_csv(path: str) -> pd.DataFrame:
    """Read a CSV file as UTF-8, turning every reading failure into a `DataError`."""
    if not os.path.exists(path):
        raise DataError(f"data file {path!r} does not exist. Check the path.")
    if os.path.isdir(path):
        raise DataError(f"data path {path!r} is a directory, not a CSV file. Name the file itself.")
    if os.path.getsize(path) == 0:
        raise DataError(f"data file {path!r} is empty. Supply a CSV with a header row and data rows.")
    try:
        frame = pd.read_csv(io.BytesIO(_read_settled(path)), encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path!r} is not UTF-8 text (byte {exc.start}: {exc.reason}). "
            "Save it as UTF-8 CSV (a spreadsheet must be exported to CSV first)."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path!r} has no columns. Supply a CSV with a header row.") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise DataError(f"data file {path!r} is not valid CSV ({detail}). Fix the file's rows.") from None
    if frame.shape[1] < 2:
        raise DataError(
            f"data file {path!r} has {frame.shape[1]} column; forecast needs a time column and a value "
            "column, comma-separated. Check the delimiter and the header row."
        )
    if frame.empty:
        raise DataError(f"data file {path!r} has a header but no data rows. Add the series' rows.")
    return frame


def _read_settled(path: str, attempts: int = 3, pause: float = 0.5) -> bytes:
    """The file's bytes, read while nothing changed it: a file that changes during the read (a
    writer still at work) is read again, and refused if it keeps changing.

    Raises:
        SourceError: the file kept changing while it was read.
    """
    for attempt in range(attempts):
        before = os.stat(path)
        with open(path, "rb") as handle:
            data = handle.read()
        after = os.stat(path)
        same = (before.st_ino, before.st_size, before.st_mtime_ns) == (after.st_ino, after.st_size, after.st_mtime_ns)
        if same and len(data) == after.st_size:
            return data
        if attempt < attempts - 1:
            time.sleep(pause)
    raise SourceError(
        f"data file {path!r} changed while it was being read ({attempts} tries); something is still writing it. "
        "Retry when the writer has finished (writers should write a temporary file and rename it into place)."
    )


def prepare(
    raw: pd.DataFrame,
    *,
    time_col: str | None,
    target: str | None,
    features: tuple[str, ...] = (),
    fill: Fill | None = None,
    source: dict | None = None,
    log: Log = lambda message: None,
) -> Series:
    """Validate a raw frame and turn it into a regular `Series`.

    Raises:
        DataError: with the rule, what was found and the fix.
    """
    time_col = detect_time_column(raw, time_col)
    times = parse_times(raw[time_col], time_col)
    target = choose_target(raw, time_col, target, log)
    columns = [target, *features]
    for column in features:
        if column not in raw.columns:
            raise DataError(
                f"feature column {column!r} is not in the data. Columns: {_names(raw.columns)}. "
                "Fix --features."
            )
    values = pd.DataFrame({column: _numeric(raw[column], column, times) for column in columns})
    values.index = pd.DatetimeIndex(times, name=time_col)

    values = _order(values, fill, log)
    frequency = infer_frequency(values.index)
    values = _regularise(values, frequency, fill, log)
    return Series(
        frame=values.astype("float64"),
        target=target,
        features=tuple(features),
        frequency=frequency,
        time_col=time_col,
        source=source or {},
    )


def detect_time_column(raw: pd.DataFrame, time_col: str | None) -> str:
    """The column holding timestamps: `time_col` if given, else one with a time-like name."""
    if time_col is not None:
        if time_col not in raw.columns:
            raise DataError(
                f"time column {time_col!r} is not in the data. Columns: {_names(raw.columns)}. "
                "Fix --time-col."
            )
        return time_col
    for column in raw.columns:
        if str(column).strip().lower() in TIME_NAMES:
            return column
    # No telling name: take the first text column whose values all parse as dates.
    for column in raw.columns:
        if raw[column].dtype == object or pd.api.types.is_string_dtype(raw[column]):
            parsed = pd.to_datetime(raw[column], errors="coerce", format="mixed")
            if parsed.notna().all():
                return column
    raise DataError(
        f"no time column found among {_names(raw.columns)}. Name it with --time-col."
    )


def parse_times(column: pd.Series, name: str) -> pd.DatetimeIndex:
    """Parse a time column; whole numbers between 1000 and 9999 are read as years."""
    if pd.api.types.is_numeric_dtype(column):
        whole = column.dropna()
        if len(whole) == len(column) and (whole % 1 == 0).all() and whole.between(1000, 9999).all():
            return pd.DatetimeIndex(pd.to_datetime(column.astype(int).astype(str), format="%Y"))
        raise DataError(
            f"time column {name!r} holds numbers, not dates. Use a column of dates or years, "
            "or name the right one with --time-col."
        )
    text = column.astype("string").str.strip()
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"time column {name!r} has a value that is not a date at line {_line(column, row)}: "
            f"{column.iloc[row]!r}. Fix or remove that row, or name the right column with --time-col."
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return pd.DatetimeIndex(parsed)


def choose_target(raw: pd.DataFrame, time_col: str, target: str | None, log: Log) -> str:
    """The column to forecast: `target` if given, else the only or last numeric column."""
    if target is not None:
        if target not in raw.columns:
            raise DataError(
                f"target column {target!r} is not in the data. Columns: {_names(raw.columns)}. "
                "Name one with --target."
            )
        return target
    numeric = [c for c in raw.columns if c != time_col and _mostly_numeric(raw[c])]
    if not numeric:
        raise DataError(
            f"no numeric column to forecast among {_names(raw.columns)}. "
            "Name the target with --target (its values must be numbers)."
        )
    chosen = numeric[-1]
    why = "the only numeric column" if len(numeric) == 1 else "the last numeric column"
    log(f"target: {chosen} ({why}; --target picks another)")
    return chosen


def _mostly_numeric(column: pd.Series) -> bool:
    """Numbers, perhaps with a few typos: such a column is a candidate target, and its typos get
    a precise error later rather than the column being silently passed over."""
    if pd.api.types.is_numeric_dtype(column):
        return True
    present = column.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().mean() >= 0.9


def _numeric(column: pd.Series, name: str, times: pd.DatetimeIndex) -> np.ndarray:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"column {name!r} has a non-numeric value {column.iloc[row]!r} at line {_line(column, row)} "
            f"({_stamp(times[row])}). Fix the value, or leave the cell empty and pass --fill."
        )
    array = values.to_numpy(dtype="float64")
    infinite = np.isinf(array)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise DataError(
            f"column {name!r} has an infinite value at line {_line(column, row)} ({_stamp(times[row])}). "
            "Replace it with a number, or leave the cell empty and pass --fill."
        )
    return array


def _order(values: pd.DataFrame, fill: Fill | None, log: Log) -> pd.DataFrame:
    """Refuse duplicated and shuffled timestamps; reverse a newest-first file."""
    duplicated = values.index.duplicated(keep="last")
    if duplicated.any():
        first = values.index[duplicated][0]
        if fill is None:
            raise DataError(
                f"timestamp {_stamp(first)} in column {values.index.name!r} appears more than once "
                f"({int(duplicated.sum())} duplicated rows). "
                "Remove the duplicates, or pass --fill to keep the last row of each timestamp."
            )
        log(f"dropped {int(duplicated.sum())} duplicated rows, keeping the last of each timestamp")
        values = values[~duplicated]
    index = values.index
    if index.is_monotonic_increasing:
        return values
    if index.is_monotonic_decreasing:
        log("rows run newest first; reversed them into time order")
        return values.iloc[::-1]
    position = int(np.flatnonzero(np.diff(index.asi8) < 0)[0]) + 1
    raise DataError(
        f"timestamps are out of order: {_stamp(index[position])} comes after "
        f"{_stamp(index[position - 1])} (data row {position + 1}). Sort the file by its time column."
    )


def infer_frequency(index: pd.DatetimeIndex) -> str:
    """The series' pandas frequency alias, inferred even when a few timestamps are missing.

    `pd.infer_freq` needs a perfectly regular index, so with gaps (or market holidays) the
    frequency is taken by vote over short runs of consecutive rows.
    """
    if len(index) < 3:
        raise DataError(
            f"the series has {len(index)} rows; at least 3 are needed to tell its frequency. "
            "Supply more history."
        )
    frequency = _infer_freq(index)
    if frequency is None:
        # Runs of 8 span a weekend, so business days read as "B", not "D"; shorter runs are
        # the fallback for short series.
        for run in (8, 5, 3):
            step = max(1, (len(index) - run) // 200)
            votes = Counter(
                _infer_freq(index[start : start + run]) for start in range(0, max(1, len(index) - run + 1), step)
            )
            votes.pop(None, None)
            if votes:
                break
        if not votes:
            raise DataError(
                f"could not infer a frequency from the timestamps ({_stamp(index[0])}, "
                f"{_stamp(index[1])}, {_stamp(index[2])}, ...): they are irregular. "
                "Resample the data to a regular frequency first."
            )
        frequency = votes.most_common(1)[0][0]
    return frequency


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 announces that infer_freq will return an offset
        found = pd.infer_freq(index)
    return None if found is None else pd.tseries.frequencies.to_offset(found).freqstr


def _regularise(values: pd.DataFrame, frequency: str, fill: Fill | None, log: Log) -> pd.DataFrame:
    """Refuse (or fill) gaps and missing values on the inferred frequency's grid."""
    grid = pd.date_range(values.index[0], values.index[-1], freq=frequency)
    off_grid = values.index.difference(grid)
    if len(off_grid):
        raise DataError(
            f"timestamp {_stamp(off_grid[0])} does not fall on the series' {describe_frequency(frequency)} "
            f"grid ({len(off_grid)} such rows). Resample the data to one regular frequency."
        )
    missing = grid.difference(values.index)
    empty = values.isna()  # missing values in the rows as given, before any reindexing
    if len(missing) and frequency != "B":
        if fill is None:
            raise DataError(
                f"{len(missing)} {describe_frequency(frequency)} timestamps are missing "
                f"(first: {_stamp(missing[0])}). Add the rows, or pass --fill ffill|interpolate."
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
                f"column {column!r} has {int(empty[column].sum())} missing values (first at {_stamp(first)}). "
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


def describe_frequency(frequency: str) -> str:
    """A word for a pandas frequency alias: "MS" -> "monthly"."""
    words = {
        "min": "minutely", "h": "hourly", "D": "daily", "B": "business-day", "W": "weekly",
        "MS": "monthly", "ME": "monthly", "M": "monthly", "QS": "quarterly", "QE": "quarterly",
        "Q": "quarterly", "YS": "yearly", "YE": "yearly", "Y": "yearly", "s": "secondly",
    }
    if pd.tseries.frequencies.to_offset(frequency).n != 1:
        return frequency  # "15min", "2h": the alias says it best
    return words.get(frequency_kind(frequency), frequency)


def format_timestamp(stamp: pd.Timestamp, frequency: str) -> str:
    """ISO text for a timestamp: the date alone for daily and coarser series."""
    offset = pd.tseries.frequencies.to_offset(frequency)
    daily_or_coarser = pd.Timestamp("2000-01-03") + offset >= pd.Timestamp("2000-01-04")
    if daily_or_coarser and stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat(sep=" ")


def _line(column: pd.Series, row: int) -> int:
    """The file line of a row: the header is line 1 and the frame keeps the file's row labels."""
    label = column.index[row]
    return int(label) + 2 if isinstance(label, (int, np.integer)) else row + 2


def _stamp(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat(sep=" ")


def _names(columns) -> str:
    return ", ".join(str(c) for c in columns)
