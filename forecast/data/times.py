"""Finding and parsing the time column: names, years, day-first dates and UTC offsets."""

from __future__ import annotations

import datetime as dt
import re
from typing import Callable

import numpy as np
import pandas as pd

from forecast.data.datafile import line
from forecast.data.frequency import FIRST_DATE, LAST_DATE
from forecast.errors import DataError, names, quote

Log = Callable[[str], None]

# Column names taken as the time column when --time-col is not given (compared lower-cased).
TIME_NAMES = ("date", "datetime", "timestamp", "time", "month", "week", "day", "year", "period", "ds")
# Columns that can hold the parts of one timestamp, as --time-col year,month,day,hour names them.
TIME_PARTS = ("year", "month", "day", "hour", "minute", "second")
# Offsets at the end of a time of day: "10:00+01:00", "10:00:00Z", "10:00 -0500".
_OFFSET = re.compile(r"\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$")
# Day and month as 1-2 digits before a year: 13/01/2020, 1.2.2020, 01-13-2020.
_DAY_MONTH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")


def time_columns(time_col: str) -> list[str]:
    """The columns a time column name stands for: itself, or the parts `year,month,day,hour` names."""
    return [part.strip() for part in time_col.split(",")] if "," in time_col else [time_col]


def detect_time_column(raw: pd.DataFrame, time_col: str | None) -> str:
    """The column holding timestamps: `time_col` if given (several comma-separated columns
    holding a timestamp's parts), else one with a time-like name."""
    if time_col is not None:
        missing = [column for column in time_columns(time_col) if column not in raw.columns]
        if time_col in raw.columns:
            return time_col
        if missing:
            raise DataError(
                f"time column {quote(missing[0])} is not in the data. Columns: {names(raw.columns)}. "
                "Fix --time-col."
            )
        return time_col
    parts = [column for column in raw.columns if str(column).strip().lower() in TIME_PARTS]
    if len(parts) >= 2 and not any(str(c).strip().lower() in TIME_NAMES and c not in parts for c in raw.columns):
        raise DataError(
            f"columns {names(parts)} look like the parts of one timestamp. Name them all with "
            f"--time-col {','.join(str(c) for c in parts)} to combine them."
        )
    for column in raw.columns:
        if str(column).strip().lower() in TIME_NAMES:
            return column
    # No telling name: take the first column of timestamps (a DataFrame's unnamed DatetimeIndex
    # becomes one named "index"), or of text whose values all parse as dates.
    for column in raw.columns:
        if pd.api.types.is_datetime64_any_dtype(raw[column]) and raw[column].notna().all():
            return column
        if raw[column].dtype == object or pd.api.types.is_string_dtype(raw[column]):
            try:
                parsed = pd.to_datetime(raw[column], errors="coerce", format="mixed")
            except ValueError:  # offsets that change from row to row: dates all the same
                parsed = pd.to_datetime(raw[column], errors="coerce", format="mixed", utc=True)
            except (OverflowError, pd.errors.OutOfBoundsDatetime):
                continue
            if parsed.notna().all():
                return column
    raise DataError(
        f"no time column found among {names(raw.columns)}. Name it with --time-col."
    )


def combine_time_parts(raw: pd.DataFrame, time_col: str) -> pd.DatetimeIndex:
    """The timestamps that the columns `time_col` names (year,month[,day[,hour[,minute[,second]]]])
    make up; without a day column, each row is the first of its month.

    Raises:
        DataError: a column that is not a part, no year or month, or values that do not make a date.
    """
    columns = time_columns(time_col)
    units = {column: str(column).strip().lower() for column in columns}
    unknown = [column for column, unit in units.items() if unit not in TIME_PARTS]
    if unknown or not {"year", "month"} <= set(units.values()) or len(set(units.values())) < len(units):
        raise DataError(
            f"--time-col {time_col} names several columns, which must be the parts of a timestamp: year and month, "
            "then any of day, hour, minute and second, each once. Rename the columns, or name one time column."
        )
    parts = raw[columns].rename(columns=units)
    numbers = parts.apply(pd.to_numeric, errors="coerce")
    if "day" not in numbers:
        numbers["day"] = 1
    ranges = {"month": (1, 12), "day": (1, 31), "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}
    outside = [(numbers[unit] < low) | (numbers[unit] > high) for unit, (low, high) in ranges.items() if unit in numbers]
    bad = np.array((numbers.isna() | (numbers % 1 != 0)).any(axis=1) | np.logical_or.reduce(outside))
    try:
        stamps = pd.to_datetime(numbers.mask(pd.Series(bad, index=numbers.index), 1).astype("int64"), errors="coerce")
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        stamps = pd.Series(pd.NaT, index=raw.index)
    bad |= np.array(stamps.isna())
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        values = ", ".join(f"{column}={raw[column].iloc[row]}" for column in columns)
        raise DataError(
            f"time columns {time_col} do not make a date at {line(raw[columns[0]], row)} ({values}). "
            "Fix or remove that row."
        )
    return pd.DatetimeIndex(stamps)


def parse_times(column: pd.Series, name: str, log: Log = lambda message: None, *, time_format: str | None = None,
                dayfirst: bool = False) -> pd.DatetimeIndex:
    """Parse a time column; whole numbers between 1000 and 9999 are read as years.

    With `time_format` every value must match it. Without it, day-first dates (13/01/2020) are
    recognised by a day above 12, or read so throughout when `dayfirst`; timestamps whose UTC
    offset changes (daylight saving) are converted to UTC, and `log` is told either choice.

    Raises:
        DataError: a value that is not a date, a date outside years 1-9999, or offsets on some
            timestamps only.
    """
    if time_format is not None:
        return _formatted(column, name, time_format, log)
    if pd.api.types.is_numeric_dtype(column):
        whole = column.dropna()
        if len(whole) == len(column) and (whole % 1 == 0).all() and whole.between(1000, 9999).all():
            return pd.DatetimeIndex(pd.to_datetime(column.astype(int).astype(str), format="%Y"))
        raise DataError(
            f"time column {quote(name)} holds numbers, not dates. Use a column of dates or years, "
            "or name the right one with --time-col."
        )
    text = column.astype("string").str.strip()
    dayfirst = dayfirst or _day_first(text, name, log)
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst)
        if getattr(parsed.dt, "tz", None) is not None:  # one offset on every row
            parsed = _with_offsets(parsed.dt.tz_localize(None), parsed.dt.tz_convert("UTC").dt.tz_localize(None), name, log)
    except ValueError:  # "Mixed timezones detected": offsets differ from row to row
        parsed = _changing_offsets(text, name, dayfirst, log)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        parsed = pd.Series(pd.NaT, index=text.index)
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"time column {quote(name)} has a value that is not a date at {line(column, row)}: "
            f"{quote(column.iloc[row])}. Fix or remove that row, or name the right column with --time-col."
        )
    outside = ((parsed < FIRST_DATE) | (parsed > LAST_DATE)).to_numpy()
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"time column {quote(name)} has a date outside the years 1 to 9999 at {line(column, row)}: "
            f"{quote(column.iloc[row])}. Fix or remove that row."
        )
    return pd.DatetimeIndex(parsed)


def _formatted(column: pd.Series, name: str, time_format: str, log: Log) -> pd.DatetimeIndex:
    """The column parsed with the strftime `time_format`; each value must match it."""
    text = column.astype("string").str.strip()
    try:
        try:
            parsed = pd.to_datetime(text, format=time_format, errors="coerce")
        except ValueError:  # the format reads an offset (%z) that changes from row to row
            utc = pd.to_datetime(text, format=time_format, errors="coerce", utc=True)
            if utc.isna().any():
                raise
            local = pd.to_datetime([dt.datetime.strptime(value, time_format).replace(tzinfo=None) for value in text])
            parsed = _with_offsets(pd.Series(local, index=text.index), utc.dt.tz_localize(None), name, log)
    except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime) as exc:
        raise DataError(f"--time-format {time_format!r} cannot be used: {quote(str(exc), quotes=False)}. Fix the format.") from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"time column {quote(name)} has a value that does not match --time-format {time_format!r} at "
            f"{line(column, row)}: {quote(column.iloc[row])}. Fix the value, or the format."
        )
    if getattr(parsed.dt, "tz", None) is not None:  # the format reads an offset (%z)
        parsed = _with_offsets(parsed.dt.tz_localize(None), parsed.dt.tz_convert("UTC").dt.tz_localize(None), name, log)
    return pd.DatetimeIndex(parsed)


def _day_first(text: pd.Series, name: str, log: Log) -> bool:
    """Whether dd/mm/yyyy dates are day-first: some have a first number above 12 (no such month)."""
    present = text.dropna()
    if present.empty or not _DAY_MONTH.match(str(present.iloc[0])):
        return False
    parts = present.str.extract(_DAY_MONTH).dropna().astype(int)
    days_first = parts.index[parts[0] > 12]  # labels of rows whose first number cannot be a month
    months_first = parts.index[parts[1] > 12]
    where = lambda label: f"{quote(text[label])} at {line(text, text.index.get_loc(label))}"  # noqa: E731
    if len(days_first) and len(months_first):
        raise DataError(
            f"time column {quote(name)} mixes day-first dates ({where(days_first[0])}) and month-first ones "
            f"({where(months_first[0])}). Write every date one way, preferably as YYYY-MM-DD."
        )
    if len(days_first):
        log(f"dates read day-first: {where(days_first[0])} has no month {parts[0][days_first[0]]}")
        return True
    differ = parts.index[parts[0] != parts[1]]
    if not len(months_first) and len(differ):
        log(f"dates read month-first, as no day above 12 tells otherwise: {where(differ[0])} is "
            f"month {parts[0][differ[0]]}, day {parts[1][differ[0]]} (--dayfirst reads them day first)")
    return False


def also_day_first(column: pd.Series) -> bool:
    """Whether a column of dd/mm/yyyy-like dates, read month first for want of a day above 12,
    would read day first as well (no number above 12 in either place, and some that differ): a
    gap in it may come from reading it the wrong way round."""
    text = column.astype("string").str.strip().dropna()
    if text.empty or not _DAY_MONTH.match(str(text.iloc[0])):
        return False
    parts = text.str.extract(_DAY_MONTH).dropna().astype(int)
    return bool(len(parts)) and not (parts > 12).to_numpy().any() and bool((parts[0] != parts[1]).any())


def _changing_offsets(text: pd.Series, name: str, dayfirst: bool, log: Log) -> pd.Series:
    """Timestamps whose UTC offset changes from row to row (daylight saving), read by `_with_offsets`."""
    marked = text.str.contains(_OFFSET, na=False)
    if not marked.all():
        row = int(np.flatnonzero(~marked.to_numpy())[0])
        raise DataError(
            f"time column {quote(name)} gives a UTC offset on some timestamps but not at {line(text, row)} "
            f"({quote(text.iloc[row])}). Give every timestamp an offset, or none."
        )
    local = pd.to_datetime(text.str.replace(r"\s*(?:Z|[+-]\d\d(?::?\d\d)?)$", "", regex=True),
                           errors="coerce", format="mixed", dayfirst=dayfirst)
    utc = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst, utc=True).dt.tz_localize(None)
    return _with_offsets(local, utc, name, log)


def _with_offsets(local: pd.Series, utc: pd.Series, name: str, log: Log) -> pd.Series:
    """One rule for timestamps that carry UTC offsets, one offset throughout or several: times of
    day go to UTC, so the same instant reads the same whichever offset (or Z) wrote it, and a file
    that spans a daylight-saving change agrees with one that does not; where every time is
    midnight they are dates, and the local dates they name are kept."""
    if local.notna().all() and (local == local.dt.normalize()).all():
        log(f"time column {name}: the timestamps carry UTC offsets but every time is midnight, so their local dates are used")
        return local
    log(f"time column {name}: timestamps with UTC offsets converted to UTC")
    return utc