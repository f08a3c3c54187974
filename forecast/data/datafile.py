"""Reading a data file: CSV with any common separator, Parquet, or standard input (`-`); its
bytes (a file that stops changing, or a pipe), its encoding, and the file line each row came
from, so that every error can name the line a person finds in an editor."""

from __future__ import annotations

import csv
import io
import os
import stat
import sys
import time
from typing import Callable

import numpy as np
import pandas as pd

from forecast.errors import DataError, SourceError, quote

Log = Callable[[str], None]
STDIN = "-"
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}  # what --sep takes (\\t for a tab), and their names
PARQUET = (".parquet", ".pq")
EXCEL = (".xlsx", ".xlsm", ".xls", ".ods")
PARQUET_MAGIC = b"PAR1"
# Files that are not text, by their first bytes: what each is, and how to make CSV of it.
NOT_TEXT = {
    b"PK\x03\x04": ("a ZIP archive, as a spreadsheet (.xlsx, .ods) is", "Export the sheet as CSV, or unzip the file"),
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": ("an old Excel workbook (.xls)", "Export the sheet as CSV"),
    b"\x1f\x8b": ("gzip-compressed", "Decompress it first (gunzip)"),
    b"SQLite format 3\x00": ("an SQLite database", "Export the table as CSV (sqlite3 -csv -header)"),
    b"\x89PNG": ("a PNG image", "Give the data file"),
    b"%PDF": ("a PDF document", "Give the data file"),
}
# The largest data file read: parsing holds several copies of it in memory (a 300 MB file of one
# line took 2.4 GB), so a larger one would exhaust a machine's memory without an error line.
MAX_BYTES = 1 << 30
# The most values read from a Parquet file: compressed, a file far under MAX_BYTES can hold a
# table of billions (a 533 KB file of 60 million constant rows needed 8 GB to read).
MAX_CELLS = 50_000_000
ROWS = "<row>"  # the index name `as_rows` gives a frame whose rows are not a CSV file's lines


def read_table(path: str, sep: str | None = None, log: Log = lambda message: None) -> pd.DataFrame:
    """Read a data file, turning every reading failure into a `DataError`: Parquet (by its
    extension or its first bytes), else CSV as UTF-8 with `sep` as the separator, or the one
    the first lines use (comma, semicolon, tab or pipe) when `sep` is None. `-` reads stdin.

    A semicolon-separated file may write decimals with a comma (1,5), as spreadsheets set to
    European conventions export them: both 1,5 and 1.5 are read as numbers there.

    For CSV, the frame's index holds each row's line in the file (the header is line 1), so that
    errors name the line a person finds in an editor, blank lines and quoted line breaks included.
    """
    if path.lower().endswith(EXCEL):
        raise DataError(
            f"data file {path!r} is a spreadsheet; forecast reads CSV and Parquet. "
            "Export the sheet as CSV (File > Save as > CSV UTF-8), or save it as Parquet."
        )
    data = _read_bytes(path)
    if path.lower().endswith(PARQUET) or data.startswith(PARQUET_MAGIC):
        return _parquet(path, data)
    return read_csv(path, data, sep, log)


def read_csv(path: str, data: bytes, sep: str | None = None, log: Log = lambda message: None) -> pd.DataFrame:
    """The CSV text `data` (read from `path`) as a frame; see `read_table`."""
    if not data.strip():
        raise DataError(f"data file {path!r} is empty. Supply a CSV with a header row and data rows.")
    for magic, (kind, fix) in NOT_TEXT.items():
        if data.startswith(magic):
            raise DataError(f"data file {path!r} is {kind}, not CSV text; forecast reads CSV and Parquet. {fix}.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"data file {path!r} is not UTF-8: it starts with a UTF-16 byte-order mark. Save it as UTF-8 CSV.")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataError(
            f"data file {path!r} is not UTF-8 text: it holds NUL bytes (the first at byte {nul}), as a binary file "
            "or UTF-16 text without a byte-order mark does. Give a CSV file, saved as UTF-8."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data file {path!r} is not UTF-8 text (byte {exc.start}: {exc.reason}). "
            "Save it as UTF-8 CSV (a spreadsheet must be exported to CSV first)."
        ) from None
    separator = _separator(path, text, sep, log)
    skipped = _yfinance_header(text, separator)
    if skipped:
        log("read a yfinance export: its Ticker and Date header rows are skipped")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=separator, decimal="," if separator == ";" else ".",
                            skiprows=skipped or None)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path!r} has no columns. Supply a CSV with a header row.") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as exc:
        detail = quote(str(exc).strip().splitlines()[-1], quotes=False)
        raise DataError(f"data file {path!r} is not valid CSV ({detail}). Fix the file's rows.") from None
    if skipped:
        frame = frame.rename(columns={frame.columns[0]: _yfinance_time_name(text, separator)})
    if frame.shape[1] < 2:
        raise DataError(
            f"data file {path!r} has {frame.shape[1]} column; forecast needs a time column and a value "
            f"column. Check the header row, and the separator (read as {SEPARATORS[separator]}; "
            "--sep sets it)."
        )
    if frame.empty:
        raise DataError(f"data file {path!r} has a header but no data rows. Add the series' rows.")
    frame.index = _record_lines(data, len(frame), separator, len(skipped))
    return frame


def _separator(path: str, text: str, sep: str | None, log: Log) -> str:
    """`sep` (--sep), else the separator the first lines agree on; comma when nothing else fits."""
    if sep is not None:  # one of SEPARATORS, as DataConfig checked; \t spelt out on a command line is a tab
        return "\t" if sep == "\\t" else sep
    sample = "\n".join(text.splitlines()[:20])
    try:
        found = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","
    header = text.splitlines()[0] if text.splitlines() else ""
    if found != "," and found in header:
        log(f"data file {path}: columns separated by {SEPARATORS[found]}s (--sep sets the separator)")
        return found
    return ","


def _yfinance_header(text: str, separator: str) -> list[int]:
    """The rows to skip in a CSV that yfinance wrote from a download's two-level columns:
    `Price,Close,...` then `Ticker,AAPL,...` then `Date,,...` before the bars."""
    lines = text.splitlines()[:3]
    if len(lines) < 3:
        return []
    cells = [line.split(separator) for line in lines]
    if cells[0][0].strip() == "Price" and cells[1][0].strip() == "Ticker" and not any(c.strip() for c in cells[2][1:]):
        return [1, 2]
    return []


def _yfinance_time_name(text: str, separator: str) -> str:
    return text.splitlines()[2].split(separator)[0].strip() or "Date"


def _parquet(path: str, data: bytes) -> pd.DataFrame:
    """A Parquet file as a frame: a time index becomes a column, as when pandas wrote it."""
    try:
        _check_parquet_size(path, data)
    except ImportError:
        raise DataError(f"data file {path!r} is Parquet, which needs pyarrow. Install it (pip install pyarrow).") from None
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except ImportError:
        raise DataError(f"data file {path!r} is Parquet, which needs pyarrow. Install it (pip install pyarrow).") from None
    except Exception as exc:  # pyarrow raises its own error types for damaged files
        detail = quote(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__, quotes=False)
        raise DataError(f"data file {path!r} is not a readable Parquet file ({detail}). Check the file.") from None
    frame = index_as_column(frame, f"data file {quote(path)}")
    if frame.shape[1] < 2:
        raise DataError(f"data file {path!r} has {frame.shape[1]} column; forecast needs a time column and a value column.")
    if frame.empty:
        raise DataError(f"data file {path!r} holds no rows. Add the series' rows.")
    return as_rows(frame)


def _check_parquet_size(path: str, data: bytes) -> None:
    """Refuse a Parquet file whose table, read from its footer, holds more than MAX_CELLS values:
    compressed, a small file can hold a table far larger than memory.

    Raises:
        DataError: naming its rows and columns.
    """
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(io.BytesIO(data)).metadata
    except Exception:  # a damaged footer: reading the file reports it
        return
    cells = meta.num_rows * meta.num_columns
    if cells > MAX_CELLS:
        raise DataError(f"data file {path!r} holds {meta.num_rows:,} rows of {meta.num_columns} columns ({cells:,} values); "
                        f"forecast reads at most {MAX_CELLS:,} values from a Parquet file, which decompresses in memory. "
                        "Resample or aggregate the series, or keep the recent rows it needs.")


def index_as_column(frame: pd.DataFrame, what: str = "the DataFrame") -> pd.DataFrame:
    """A frame whose timestamps (or any named index) are its index, with that index as a column,
    as a file holds it; any other frame as it is. `what` names it in messages.

    Raises:
        DataError: columns sharing a name, or an index named as a column (a file can hold neither;
            pandas cannot pick one of them).
    """
    repeated = frame.columns[frame.columns.duplicated()]
    if len(repeated):
        count = int((frame.columns == repeated[0]).sum()) if isinstance(repeated[0], str) else "several"
        raise DataError(f"{what} has {count} columns named {quote(repeated[0])}; each column needs its own name. "
                        "Rename or drop the repeats (df = df.loc[:, ~df.columns.duplicated()] keeps the first).")
    if isinstance(frame.index, pd.DatetimeIndex) or frame.index.name is not None:
        name = "index" if frame.index.name is None else frame.index.name
        if name in frame.columns:
            raise DataError(f"{what}'s index is named {quote(name)}, as one of its columns is, so the two cannot both be "
                            f"read as columns. Drop one: df = df.reset_index(drop=True), or df = df.drop(columns={quote(name)}).")
        return frame.reset_index()
    return frame


def time_index_as(frame: pd.DataFrame, time_col: str) -> pd.DataFrame:
    """A DataFrame whose timestamps are an unnamed index, with that index named `time_col` (a
    model's time column) when no column has that name: new rows given as training's were."""
    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.name is None and time_col not in frame.columns:
        return frame.rename_axis(time_col)
    return frame


def as_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A DataFrame's or a Parquet file's rows labelled so that messages count rows, not file lines."""
    return frame.set_axis(pd.RangeIndex(len(frame), name=ROWS))


# Standard input as it was read, with the stream it came from: a second reader in the same run
# (promotion reading the current version's columns) gets the same bytes instead of an empty stream.
_stdin_read: tuple[object, bytes] | None = None


def _read_bytes(path: str) -> bytes:
    """The file's bytes: a regular file read while nothing changes it, a pipe (`<(command)`) read once.

    Raises:
        DataError: missing, a directory or device, or unreadable.
    """
    global _stdin_read
    if path == STDIN:
        stream = sys.stdin.buffer
        if _stdin_read is None or _stdin_read[0] is not stream:
            _stdin_read = (stream, _within_limit(path, stream.read(MAX_BYTES + 1)))
        return _stdin_read[1]
    try:
        status = os.stat(path)
        mode = status.st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"data path {path!r} is a directory, not a data file. Name the file itself.")
        if stat.S_ISREG(mode):
            _within_limit(path, b"", status.st_size)
            return _read_settled(path)
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            with open(path, "rb") as handle:
                return _within_limit(path, handle.read(MAX_BYTES + 1))
        raise DataError(f"data path {path!r} is a device, not a data file. Name a file or a pipe.")
    except FileNotFoundError:
        raise DataError(f"data file {path!r} does not exist. Check the path.") from None
    except OSError as exc:
        raise DataError(
            f"cannot read data file {path!r} ({exc.strerror or exc}). Check its permissions, or copy it somewhere readable."
        ) from None


def _within_limit(path: str, data: bytes, size: int | None = None) -> bytes:
    """`data` (of `size` bytes, by default its length) when it is at most MAX_BYTES.

    Raises:
        DataError: a larger file, with what to do instead.
    """
    more = "more than " if size is None else ""  # a stream is read only to one byte past the limit
    size = len(data) if size is None else size
    if size > MAX_BYTES:
        raise DataError(
            f"data file {path!r} is {more}{size / 2**30:.2f} GiB; forecast reads data files of up to "
            f"{MAX_BYTES / 2**30:g} GiB, since parsing holds several copies in memory. Resample or aggregate the "
            "series, or keep the recent rows it needs."
        )
    return data


def _record_lines(data: bytes, rows: int, separator: str = ",", skipped: int = 0) -> np.ndarray:
    """The file line each data row starts on (after `skipped` header rows). Counting is needed
    only when blank lines or quoted fields (which may hold line breaks) make rows and lines part
    ways; if pandas and the csv module disagree on the rows, the plain count is kept."""
    plain = np.arange(rows) + 2 + skipped
    if b'"' not in data and b"\n\n" not in data and b"\n\r\n" not in data and not data.startswith((b"\n", b"\r\n")):
        return plain
    if skipped:
        return plain
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""), delimiter=separator)
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


def line(column: pd.Series, row: int) -> str:
    """Where a row is, for a message: "line 12" of a CSV file, "row 11" of a DataFrame or Parquet file."""
    return line_of(column.index, row)


def line_of(labels: pd.Index, row: int) -> str:
    """Where row `row` is, from the labels of a frame's index: a CSV's lines (`read_csv`), the
    rows of a DataFrame or Parquet file (`as_rows`, counted from 1), else the row's place."""
    label = labels[row]
    if labels.name == ROWS:
        return f"row {int(label) + 1}"
    return f"line {int(label)}" if isinstance(label, (int, np.integer)) else f"row {row + 1}"
