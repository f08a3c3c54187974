"""Reading a CSV file: its bytes (a file that stops changing, or a pipe), its encoding, and the
file line each row came from, so that every error can name the line a person finds in an editor."""

from __future__ import annotations

import csv
import io
import os
import stat
import time

import numpy as np
import pandas as pd

from forecast.errors import DataError, SourceError, quote


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
        detail = quote(str(exc).strip().splitlines()[-1], quotes=False)
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


def line(column: pd.Series, row: int) -> int:
    """The file line of a row: read_csv labels rows by line; other frames count from line 2."""
    return line_of(np.asarray(column.index), row)


def line_of(lines: np.ndarray, row: int) -> int:
    """The file line of row `row`, from the line labels `read_csv` gives a frame's index."""
    label = lines[row]
    return int(label) if isinstance(label, (int, np.integer)) else row + 2
