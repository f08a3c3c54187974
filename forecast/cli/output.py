"""Write what a command produces (forecasts, backtests, plots) to the path a user named.

A regular file is replaced atomically: the bytes go to a hidden file beside it, which is
renamed over it only once complete, so a failed write leaves the old file as it was and no
leftover. A new file gets the permissions the umask allows (as `>` in a shell would); a
replaced one keeps its permissions and, where we may, its owner. Anything else at the path is
written through and never replaced: a FIFO, `/dev/null`, `/dev/stdout`, a terminal. A symbolic
link is followed on purpose: its target is written (and replaced if it is a regular file) and
the link stays. `-` is standard output.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tempfile
from pathlib import Path

from forecast.cli import logs
from forecast.config import OutputFormat
from forecast.errors import ConfigError, ForecastError, printable, quote

STDOUT = "-"
# What each file extension means for a table (forecasts, scored rows, backtests) and for a plot.
TABLE_EXTENSIONS = {".csv": OutputFormat.csv, ".json": OutputFormat.json, ".parquet": OutputFormat.parquet,
                    ".pq": OutputFormat.parquet}
PLOT_EXTENSIONS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
REPORT = "report"  # evaluate's and compare's text tables, for standard output and .txt files


def table_format(path: str | None, given: OutputFormat | None, flag: str = "--output") -> OutputFormat:
    """`given` (--format), else what `path`'s extension names; CSV for standard output and a path
    without an extension (a FIFO, /dev/stdout).

    Raises:
        ConfigError: an extension no table is written as, such as .xlsx.
    """
    if given is not None:
        return given
    extension = _extension(path)
    if not extension:
        return OutputFormat.csv
    if extension not in TABLE_EXTENSIONS:
        raise ConfigError(
            f"{flag} {path!r}: tables are written as CSV, JSON or Parquet, not {extension}. "
            "Name a .csv, .json or .parquet file, or give --format."
        )
    return TABLE_EXTENSIONS[extension]


def report_format(path: str | None, as_json: bool) -> OutputFormat | str:
    """How a backtest is written: JSON with --json or to a .json file, the flat table of every
    forecast row to a .csv or .parquet file, else the text report (REPORT)."""
    if as_json:
        return OutputFormat.json
    extension = _extension(path)
    if extension in ("", ".txt", ".md"):
        return REPORT
    return table_format(path, None)


def plot_format(path: str | None) -> str:
    """The image format `path`'s extension names: png, svg or pdf (PNG without an extension).

    Raises:
        ConfigError: another extension, such as .jpg.
    """
    extension = _extension(path)
    if not extension:
        return "png"
    if extension not in PLOT_EXTENSIONS:
        raise ConfigError(f"--plot {path!r}: plots are drawn as PNG, SVG or PDF, not {extension}. Name a .png, .svg or .pdf file.")
    return PLOT_EXTENSIONS[extension]


def _extension(path: str | None) -> str:
    if path in (None, STDOUT):
        return ""
    return os.path.splitext(os.path.basename(path))[1].lower()


def check_destination(path: str | None, flag: str, *, stdout: bool = True) -> None:
    """Refuse, before any work is done, a destination that cannot be written.

    Args:
        path: the path given, `-` for standard output, or None (nothing to write).
        flag: the option's name, for messages.
        stdout: whether `-` is allowed for this option.

    Raises:
        ConfigError: an empty path, a directory, a missing parent directory, or `-` where the
            command already prints to standard output.
    """
    if path is None:
        return
    if path == STDOUT:
        if not stdout:
            raise ConfigError(f"{flag} - would mix a binary file into what the command prints. Name a file.")
        return
    if not path.strip():
        raise ConfigError(f"{flag} is empty. Name a file{', or - for standard output' if stdout else ''}.")
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise ConfigError(f"{flag} {path!r} is a directory. Name a file.")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise ConfigError(f"{flag} directory {directory!r} does not exist. Create it or choose another path.")


def write_output(path: str, data: str | bytes, flag: str) -> None:
    """Write `data` (text as UTF-8) to `path` as described in the module docstring.

    Raises:
        ForecastError: the write failed (full disk, permission, ...); nothing was left behind.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if path == STDOUT:
            _write_stdout(payload)
            return
        target = os.path.realpath(path)
        try:
            existing = os.stat(target)
        except FileNotFoundError:
            existing = None
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            with open(target, "wb") as handle:  # a device or FIFO: never replaced by a regular file
                handle.write(payload)
            return
        _replace(target, payload, existing)
    except OSError as exc:
        raise ForecastError(f"cannot write {flag} {path!r} ({exc.strerror or exc}). Choose another path.") from None


def result_table(frame, chosen: OutputFormat, key: str) -> str | bytes:
    """A result table as CSV (6 significant digits, a text cell that would start a spreadsheet
    formula led by `'`), JSON ({key: [one object per row]}, a value
    that is not a finite number as null) or Parquet (every digit, typed columns)."""
    if chosen is OutputFormat.csv:
        return _spreadsheet_safe(frame).to_csv(index=False, float_format="%.6g")
    if chosen is OutputFormat.parquet:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return json.dumps({key: json.loads(frame.to_json(orient="records", double_precision=15))}, indent=2) + "\n"


# A spreadsheet opening a CSV runs a cell that starts with one of these as a formula (CSV injection:
# a series id such as =HYPERLINK(...) comes from the data). OWASP's remedy: lead such a text cell
# with a single quote, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(frame):
    """`frame` with every text cell and column name that starts a formula led by `'`; numbers, and
    text that is a number (-5, -1.5e3: a spreadsheet reads those as numbers, not formulas), as they are."""
    import pandas as pd

    text = [i for i in range(frame.shape[1])
            if pd.api.types.is_object_dtype(frame.iloc[:, i]) or pd.api.types.is_string_dtype(frame.iloc[:, i])]
    names = [_formula_safe(column) for column in frame.columns]
    if not text and names == list(frame.columns):
        return frame
    safe = frame.copy()
    for i in text:
        safe.isetitem(i, frame.iloc[:, i].map(_formula_safe))
    safe.columns = names
    return safe


def _formula_safe(value):
    # Spreadsheets skip leading spaces before a formula ("  =1+1" runs too).
    if not isinstance(value, str) or not value.lstrip(" ").startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def check_destinations(output: str | None, plot: str | None, *, reads: dict[str, str | None] | None = None,
                       model_dir: str | None = None) -> None:
    """Refuse unwritable destinations, unknown plot formats and a destination that would destroy
    what the command reads, before any work; the plot goes to stdout only when the text does not.

    Args:
        output, plot: the destinations given (None: not written; `-`: standard output); the
            run's --log-file is checked with them.
        reads: the files the command reads, by the name the user gave each ("DATA", "--data",
            "--config", "--study" for tune's journal, which a later run resumes from).
        model_dir: --model-dir, which only the store writes: a file replaced there damages a version.

    Raises:
        ConfigError: as check_destination, or a destination that is one of `reads` (the same real
            file, through links too) or lies inside `model_dir`.
    """
    check_destination(output, "--output")
    check_destination(plot, "--plot", stdout=output not in (None, STDOUT))
    if plot is not None:
        plot_format(plot)
    log_file = logs.log_file()
    written = [(flag, path) for flag, path in (("--output", output), ("--plot", plot), ("--log-file", log_file))
               if path not in (None, STDOUT)]
    for number, (flag, path) in enumerate(written):
        for other, second in written[number + 1:]:
            if _same_file(path, second):
                if other == "--log-file":
                    logs.detach_file()  # the error line must not land in the file it would overwrite
                raise ForecastError(f"{flag} and {other} both name {quote(path, 200)}; one would overwrite the other. "
                                    "Name two files.")
    for flag, path in written:
        for name, source in (reads or {}).items():
            if source not in (None, STDOUT) and _same_file(path, source):
                if flag == "--log-file":
                    logs.detach_file()  # else the error line itself would be appended to that input
                raise ConfigError(f"{flag} {quote(path, 200)} is the file this command reads as {name} ({quote(source, 200)}); "
                                  "writing it would destroy that input. Name another file.")
        store = model_dir if model_dir is not None and _inside(path, model_dir) else _store_around(path)
        if store is not None:
            if flag == "--log-file":
                logs.detach_file()
            where = "--model-dir" if store == model_dir else "the model directory"
            raise ConfigError(f"{flag} {quote(path, 200)} lies inside {where} {quote(store, 200)}, whose files only "
                              "training writes (a file replaced there damages a version). Name a file outside it.")


def _store_around(path: str) -> str | None:
    """The model directory `path` lies in, whatever command names it (evaluate and compare take
    no --model-dir): a directory holding `versions/` and the `current` link, found from the
    path's real location upwards."""
    real = Path(os.path.realpath(path))
    for directory in real.parents:
        if (directory / "versions").is_dir() and (directory / "current").is_symlink():
            return str(directory)
    return None


def _same_file(path: str, other: str) -> bool:
    """Whether two paths name one file: the same real path (`./x` and `x`, a link and its target),
    or, where both exist, the same inode (hard links)."""
    if os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them does not exist (yet)
        return False


def _inside(path: str, directory: str) -> bool:
    """Whether `path`'s real location lies under `directory`'s (a link into it counts as inside,
    a hard link to one of its files too: appending through it changes that file)."""
    root = os.path.realpath(directory)
    if os.path.commonpath([os.path.realpath(path), root]) == root:
        return True
    try:
        status = os.stat(path)
    except OSError:
        return False
    if status.st_nlink < 2 or not os.path.isdir(root):
        return False
    return any(os.path.samestat(status, os.stat(file)) for file in Path(root).rglob("*") if file.is_file() and not file.is_symlink())


def emit(text: str | bytes, output: str | None, log, note: str) -> None:
    """Print `text`, or write it to `output` as write_output does; the log notes a file written.
    On a terminal, control characters in it (from names in the data) show as escapes."""
    if output in (None, STDOUT) and isinstance(text, str) and sys.stdout.isatty():
        text = "\n".join(printable(line) for line in text.split("\n"))
    write_output(STDOUT if output is None else output, text, "--output")
    if output not in (None, STDOUT):
        log.info(note)


def _write_stdout(payload: bytes) -> None:
    stream = sys.stdout
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text-only stream (test runners)
        stream.write(payload.decode("utf-8"))
    else:
        buffer.write(payload)
    stream.flush()


def _replace(target: str, payload: bytes, existing: os.stat_result | None) -> None:
    directory, name = os.path.split(target)
    handle, staging = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        if existing is None:
            os.chmod(staging, 0o666 & ~_umask())
        else:
            os.chmod(staging, stat.S_IMODE(existing.st_mode))
            try:
                os.chown(staging, existing.st_uid, existing.st_gid)
            except OSError:
                pass  # not ours to give away: the file becomes ours, as `cp` would make it
        os.replace(staging, target)
    except BaseException:
        try:
            os.unlink(staging)
        except OSError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask
