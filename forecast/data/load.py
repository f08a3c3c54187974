"""Read a series from a CSV file or a ticker, validate it and infer its frequency."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
import stat
import time
import warnings
from collections import Counter
from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import DataConfig, Fill
from forecast.errors import DataError, SourceError, printable

Log = Callable[[str], None]

# Column names taken as the time column when --time-col is not given (compared lower-cased).
TIME_NAMES = ("date", "datetime", "timestamp", "time", "month", "week", "day", "year", "period", "ds")
# Values beyond this are refused: errors between them would overflow float64 once squared (RMSE).
LARGEST = 1e150
# The dates forecast can write: Python's datetime range, which ISO text and strftime need.
FIRST_DATE, LAST_DATE = pd.Timestamp("0001-01-01"), pd.Timestamp("9999-12-31 23:59:59")
# --fill drops duplicated timestamps up to this share of the rows (at least DUPLICATES_KEPT rows);
# more than that is not a stray repeated row but a file of several series or a broken export.
DUPLICATES_SHARE, DUPLICATES_KEPT = 0.01, 5
# Offsets at the end of a time of day: "10:00+01:00", "10:00:00Z", "10:00 -0500".
_OFFSET = re.compile(r"\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$")
# Day and month as 1-2 digits before a year: 13/01/2020, 1.2.2020, 01-13-2020.
_DAY_MONTH = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-]\d{2,4}\b")


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
            f"id column {_quote(config.id_col)} is not in the data. Columns: {_names(raw.columns)}. Fix --id-col."
        )
    ids = raw[config.id_col]
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(f"id column {_quote(config.id_col)} is empty at line {_line(ids, row)}. Give every row its series id.")
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
            raise DataError(f"series {_quote(key)}: {exc}") from None
    first = next(iter(series))
    other = next((name for name in series if not same_frequency(series[name].frequency, series[first].frequency)), None)
    if other is not None:
        raise DataError(
            f"series {_quote(first)} is {describe_frequency(series[first].frequency, exact=True)} but {_quote(other)} is "
            f"{describe_frequency(series[other].frequency, exact=True)}; one model needs one frequency. Split the file by frequency."
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


def same_frequency(first: str, second: str) -> bool:
    """Whether two frequencies take the same steps: "W-SUN" and "W-MON" do (the anchor is only
    where the week starts); "MS" and "2MS", or month starts and month ends, do not."""
    offsets = pd.tseries.frequencies.to_offset(first), pd.tseries.frequencies.to_offset(second)
    return offsets[0].n == offsets[1].n and frequency_kind(first) == frequency_kind(second)


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
        from forecast.data.ticker import fetch_ticker, ticker_source

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
    """Read a CSV file as UTF-8, turning every reading failure into a `DataError`.

    The frame's index holds each row's line in the file (the header is line 1), so that errors
    name the line a person finds in an editor, blank lines and quoted line breaks included.
    """
    data = _read_bytes(path)
    if not data.strip():
        raise DataError(f"data file {path!r} is empty. Supply a CSV with a header row and data rows.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"data file {path!r} is not UTF-8: it starts with a UTF-16 byte-order mark. Save it as UTF-8 CSV.")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"data file {path!r} is not UTF-8 text: it holds NUL bytes (the first at byte {nul}), "
            "as UTF-16 text without a byte-order mark does. Save it as UTF-8 CSV."
        )
    try:
        frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path!r} is not UTF-8 text (byte {exc.start}: {exc.reason}). "
            "Save it as UTF-8 CSV (a spreadsheet must be exported to CSV first)."
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path!r} has no columns. Supply a CSV with a header row.") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        detail = _quote(str(exc).strip().splitlines()[-1], quotes=False)
        raise DataError(f"data file {path!r} is not valid CSV ({detail}). Fix the file's rows.") from None
    if frame.shape[1] < 2:
        raise DataError(
            f"data file {path!r} has {frame.shape[1]} column; forecast needs a time column and a value "
            "column, comma-separated. Check the delimiter and the header row."
        )
    if frame.empty:
        raise DataError(f"data file {path!r} has a header but no data rows. Add the series' rows.")
    frame.index = _record_lines(data, len(frame))
    return frame


def _read_bytes(path: str) -> bytes:
    """The file's bytes: a regular file read while nothing changes it, a pipe (`<(command)`) read once.

    Raises:
        DataError: missing, a directory or device, or unreadable.
    """
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"data path {path!r} is a directory, not a CSV file. Name the file itself.")
        if stat.S_ISREG(mode):
            return _read_settled(path)
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            with open(path, "rb") as handle:
                return handle.read()
        raise DataError(f"data path {path!r} is a device, not a CSV file. Name a file or a pipe.")
    except FileNotFoundError:
        raise DataError(f"data file {path!r} does not exist. Check the path.") from None
    except OSError as exc:
        raise DataError(
            f"cannot read data file {path!r} ({exc.strerror or exc}). Check its permissions, or copy it somewhere readable."
        ) from None


def _record_lines(data: bytes, rows: int) -> np.ndarray:
    """The file line each data row starts on. Counting is needed only when blank lines or quoted
    fields (which may hold line breaks) make rows and lines part ways; if pandas and the csv
    module disagree on the rows, the plain count is kept."""
    plain = np.arange(rows) + 2
    if b'"' not in data and b"\n\n" not in data and b"\n\r\n" not in data and not data.startswith((b"\n", b"\r\n")):
        return plain
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
    starts, previous = [], 0
    try:
        for record in reader:
            if record and any(cell.strip() for cell in record):
                starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error:
        return plain
    return np.asarray(starts[1:]) if len(starts) == rows + 1 else plain


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
    times = parse_times(raw[time_col], time_col, log)
    target = choose_target(raw, time_col, target, log)
    columns = [target, *features]
    for column in features:
        if column not in raw.columns:
            raise DataError(
                f"feature column {_quote(column)} is not in the data. Columns: {_names(raw.columns)}. "
                "Fix --features."
            )
    values = pd.DataFrame({column: _numeric(raw[column], column, times) for column in columns})
    values.index = pd.DatetimeIndex(times, name=time_col)

    several = _likely_id_column(raw, [time_col, *columns]) if values.index.has_duplicates else None
    values = _order(values, np.asarray(raw.index), fill, several, log)
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
                f"time column {_quote(time_col)} is not in the data. Columns: {_names(raw.columns)}. "
                "Fix --time-col."
            )
        return time_col
    for column in raw.columns:
        if str(column).strip().lower() in TIME_NAMES:
            return column
    # No telling name: take the first text column whose values all parse as dates.
    for column in raw.columns:
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
        f"no time column found among {_names(raw.columns)}. Name it with --time-col."
    )


def parse_times(column: pd.Series, name: str, log: Log = lambda message: None) -> pd.DatetimeIndex:
    """Parse a time column; whole numbers between 1000 and 9999 are read as years.

    Day-first dates (13/01/2020) are recognised by a day above 12; timestamps whose UTC offset
    changes (daylight saving) are converted to UTC, and `log` is told either choice.

    Raises:
        DataError: a value that is not a date, a date outside years 1-9999, or offsets on some
            timestamps only.
    """
    if pd.api.types.is_numeric_dtype(column):
        whole = column.dropna()
        if len(whole) == len(column) and (whole % 1 == 0).all() and whole.between(1000, 9999).all():
            return pd.DatetimeIndex(pd.to_datetime(column.astype(int).astype(str), format="%Y"))
        raise DataError(
            f"time column {_quote(name)} holds numbers, not dates. Use a column of dates or years, "
            "or name the right one with --time-col."
        )
    text = column.astype("string").str.strip()
    dayfirst = _day_first(text, name, log)
    try:
        parsed = pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst)
    except ValueError:  # "Mixed timezones detected": offsets differ from row to row
        parsed = _changing_offsets(text, name, dayfirst, log)
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        parsed = pd.Series(pd.NaT, index=text.index)
    bad = parsed.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"time column {_quote(name)} has a value that is not a date at line {_line(column, row)}: "
            f"{_quote(column.iloc[row])}. Fix or remove that row, or name the right column with --time-col."
        )
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    outside = ((parsed < FIRST_DATE) | (parsed > LAST_DATE)).to_numpy()
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"time column {_quote(name)} has a date outside the years 1 to 9999 at line {_line(column, row)}: "
            f"{_quote(column.iloc[row])}. Fix or remove that row."
        )
    return pd.DatetimeIndex(parsed)


def _day_first(text: pd.Series, name: str, log: Log) -> bool:
    """Whether dd/mm/yyyy dates are day-first: some have a first number above 12 (no such month)."""
    present = text.dropna()
    if present.empty or not _DAY_MONTH.match(str(present.iloc[0])):
        return False
    parts = present.str.extract(_DAY_MONTH).dropna().astype(int)
    days_first = parts.index[parts[0] > 12]  # labels of rows whose first number cannot be a month
    months_first = parts.index[parts[1] > 12]
    where = lambda label: f"{_quote(text[label])} at line {_line(text, text.index.get_loc(label))}"  # noqa: E731
    if len(days_first) and len(months_first):
        raise DataError(
            f"time column {_quote(name)} mixes day-first dates ({where(days_first[0])}) and month-first ones "
            f"({where(months_first[0])}). Write every date one way, preferably as YYYY-MM-DD."
        )
    if len(days_first):
        log(f"dates read day-first: {where(days_first[0])} has no month {parts[0][days_first[0]]}")
        return True
    return False


def _changing_offsets(text: pd.Series, name: str, dayfirst: bool, log: Log) -> pd.Series:
    """Timestamps whose UTC offset changes: on UTC for times of day, the local dates for dates."""
    marked = text.str.contains(_OFFSET, na=False)
    if not marked.all():
        row = int(np.flatnonzero(~marked.to_numpy())[0])
        raise DataError(
            f"time column {_quote(name)} gives a UTC offset on some timestamps but not at line {_line(text, row)} "
            f"({_quote(text.iloc[row])}). Give every timestamp an offset, or none."
        )
    local = pd.to_datetime(text.str.replace(r"\s*(?:Z|[+-]\d\d(?::?\d\d)?)$", "", regex=True),
                           errors="coerce", format="mixed", dayfirst=dayfirst)
    if local.notna().all() and (local == local.dt.normalize()).all():
        log(f"time column {name}: UTC offsets change between rows; all times are midnight, so the local dates are used")
        return local
    log(f"time column {name}: UTC offsets change between rows (daylight saving?); timestamps converted to UTC")
    return pd.to_datetime(text, errors="coerce", format="mixed", dayfirst=dayfirst, utc=True)


def choose_target(raw: pd.DataFrame, time_col: str, target: str | None, log: Log) -> str:
    """The column to forecast: `target` if given, else the only or last numeric column."""
    if target is not None:
        if target not in raw.columns:
            raise DataError(
                f"target column {_quote(target)} is not in the data. Columns: {_names(raw.columns)}. "
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
            f"column {_quote(name)} has a non-numeric value {_quote(column.iloc[row])} at line {_line(column, row)} "
            f"({_stamp(times[row])}). Fix the value, or leave the cell empty and pass --fill."
        )
    array = values.to_numpy(dtype="float64")
    unusable = ~(np.abs(array) <= LARGEST) & ~np.isnan(array)  # infinite, or too large to square
    if unusable.any():
        row = int(np.flatnonzero(unusable)[0])
        where = f"at line {_line(column, row)} ({_stamp(times[row])})"
        if str(column.iloc[row]).strip().lower().lstrip("+-") in ("inf", "infinity"):
            raise DataError(
                f"column {_quote(name)} has an infinite value {where}. "
                "Replace it with a number, or leave the cell empty and pass --fill."
            )
        raise DataError(
            f"column {_quote(name)} has a value too large to model {where}: beyond ±{LARGEST:.0e}, errors "
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


def _order(values: pd.DataFrame, lines: np.ndarray, fill: Fill | None, several: str | None, log: Log) -> pd.DataFrame:
    """Refuse duplicated and shuffled timestamps; reverse a newest-first file.

    Args:
        lines: the file line of each row, for messages.
        several: a column that looks like series ids; duplicates then mean several series.
    """
    duplicated = values.index.duplicated(keep="last")
    if duplicated.any():
        first, count = values.index[duplicated][0], int(duplicated.sum())
        said = f"timestamp {_stamp(first)} in column {_quote(values.index.name)} appears more than once ({count} duplicated rows)"
        if several is not None:
            raise DataError(
                f"{said}, and column {_quote(several)} repeats its values: this looks like several series in one file. "
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
        f"timestamps are out of order: {_stamp(index[position])} (line {_line_of(lines, position)}) comes after "
        f"{_stamp(index[position - 1])} (line {_line_of(lines, position - 1)}). Sort the file by its time column."
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
                f"column {_quote(column)} has {int(empty[column].sum())} missing values (first at {_stamp(first)}). "
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


def describe_frequency(frequency: str, exact: bool = False) -> str:
    """A word for a pandas frequency alias: "MS" -> "monthly" ("monthly (month starts)" when
    `exact`, to tell month starts from month ends)."""
    words = {
        "min": "minutely", "h": "hourly", "D": "daily", "B": "business-day", "W": "weekly",
        "MS": "monthly", "ME": "monthly", "M": "monthly", "QS": "quarterly", "QE": "quarterly",
        "Q": "quarterly", "YS": "yearly", "YE": "yearly", "Y": "yearly", "s": "secondly",
    }
    if pd.tseries.frequencies.to_offset(frequency).n != 1:
        return frequency  # "15min", "2h": the alias says it best
    kind = frequency_kind(frequency)
    word = words.get(kind, frequency)
    if exact and len(kind) == 2 and kind[0] in "MQY" and kind[1] in "SE":
        period = {"M": "month", "Q": "quarter", "Y": "year"}[kind[0]]
        word += f" ({period} {'starts' if kind[1] == 'S' else 'ends'})"
    return word


def check_forecast_end(last: pd.Timestamp, horizon: int, frequency: str, name: str) -> None:
    """Refuse a forecast whose dates would run past the last date forecast can write.

    Raises:
        DataError: `horizon` steps after `last` (the newest point of `name`) pass LAST_DATE.
    """
    try:
        beyond = last + horizon * pd.tseries.frequencies.to_offset(frequency) > LAST_DATE
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        beyond = True
    if beyond:
        raise DataError(
            f"a {horizon}-step {describe_frequency(frequency)} forecast after {format_timestamp(last, frequency)} "
            f"({name}'s newest point) would run past {LAST_DATE:%Y-%m-%d}, the last date forecast can write. "
            "Use a smaller --horizon."
        )


def format_timestamp(stamp: pd.Timestamp, frequency: str) -> str:
    """ISO text for a timestamp: the date alone for daily and coarser series."""
    offset = pd.tseries.frequencies.to_offset(frequency)
    daily_or_coarser = pd.Timestamp("2000-01-03") + offset >= pd.Timestamp("2000-01-04")
    if daily_or_coarser and stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat(sep=" ")


def _line(column: pd.Series, row: int) -> int:
    """The file line of a row: read_csv labels rows by line; other frames count from line 2."""
    return _line_of(np.asarray(column.index), row)


def _line_of(lines: np.ndarray, row: int) -> int:
    label = lines[row]
    return int(label) if isinstance(label, (int, np.integer)) else row + 2


def _stamp(stamp: pd.Timestamp) -> str:
    try:
        return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat(sep=" ")
    except ValueError:  # years pandas holds but cannot format
        return str(stamp)


def _quote(value, limit: int = 60, quotes: bool = True) -> str:
    """A value for a message: repr'd (so control characters show as escapes), and cut short."""
    text = repr(value) if quotes else printable(str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(columns) -> str:
    names = [_quote(str(c), 40, quotes=False) for c in columns]
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
