"""Log lines for people at a terminal and for unattended runs (cron, CI, schedulers).

At a terminal notes are plain lines on stderr. Otherwise every line carries its time, so a log
file read the morning after says when each thing happened; `--log-format json` writes one JSON
object per line for log collectors; `--log-file` appends there instead of stderr (warnings and
errors still reach stderr, so cron mails a failure or what needs a look, and nothing else).
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import sys

from forecast.errors import printable

LOGGER = "forecast"


class _Stderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is when a line is written (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


class _Text(logging.Formatter):
    def __init__(self, stamped: bool):
        super().__init__()
        self.stamped = stamped

    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        # Messages carry column names, series ids and paths from the data: escaped here, where
        # every text line is written, so none can start a forged line or send escape codes.
        line = prefix + printable(record.getMessage())
        return f"{_stamp(record)} {line}" if self.stamped else line


class _Json(logging.Formatter):
    """One object per line: time, level, command, message, and a summary line's own fields
    (`extra={"fields": {...}}`: version, val_mae, baseline_mae, promoted, ...) for a collector to query."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _stamp(record), "level": record.levelname.lower(),
                "command": getattr(record, "command", None) or _command, "message": record.getMessage()}
        return json.dumps({**getattr(record, "fields", {}), **line})


_command = ""


def _check_appendable(path: str) -> None:
    """Raise the OSError that appending to `path` would, without writing or creating anything."""
    target = os.path.realpath(path)
    if os.path.exists(target):
        with open(target, "a", encoding="utf-8"):  # appends nothing
            return
    parent = os.path.dirname(target) or "."
    if not os.path.exists(parent):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if not os.path.isdir(parent):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    if os.statvfs(parent).f_flag & os.ST_RDONLY:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)


class _File(logging.FileHandler):
    """--log-file; when a write fails (a full disk), one warning on stderr, and this line and
    those that follow go to stderr with the errors, so nothing is lost and no traceback is printed.

    The console handler is added after this one, so it hears each record after this one has
    tried: lowering its level here is enough to pass it the record that failed.
    """

    def __init__(self, path: str, console: logging.Handler):
        # Appended to from the first line on, so a command can refuse a --log-file that is one of
        # its inputs (`check_destinations`) before anything is written to it; opened once here
        # all the same (nothing written), so a path that cannot be opened is refused at once.
        _check_appendable(path)
        super().__init__(path, encoding="utf-8", delay=True)
        self.path = path
        self.console = console
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        try:
            super().emit(record)
        except Exception:  # opening it at the first line failed (it was removed, the disk is full)
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        self.failed = True
        error = sys.exc_info()[1]
        reason = getattr(error, "strerror", None) or str(error)
        self.console.setLevel(logging.NOTSET)
        self.console.handle(logging.LogRecord(
            LOGGER, logging.WARNING, __file__, 0,
            f"cannot write --log-file {self.baseFilename!r} ({reason}); log lines go to stderr from now on", None, None,
        ))

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last flush meets the same full disk
            pass


def configure(log_format: str = "text", log_file: str | None = None) -> logging.Logger:
    """Set up the `forecast` logger for one run of the command line (replacing earlier handlers)."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    logger.setLevel(logging.INFO)

    def formatter(stamped: bool) -> logging.Formatter:
        return _Json() if log_format == "json" else _Text(stamped)

    console = _Stderr()
    if log_file:
        file_handler = _File(log_file, console)
        file_handler.setFormatter(formatter(True))
        logger.addHandler(file_handler)
        console.setLevel(logging.WARNING)  # warnings too: cron mails what reaches stderr
    console.setFormatter(formatter(not sys.stderr.isatty()))
    logger.addHandler(console)
    return logger


def log_file() -> str | None:
    """The --log-file this run appends to, or None."""
    return next((h.path for h in logging.getLogger(LOGGER).handlers if isinstance(h, _File)), None)


def detach_file() -> None:
    """Stop appending to --log-file (before refusing it as a destination: the error goes to stderr only)."""
    logger = logging.getLogger(LOGGER)
    for handler in [h for h in logger.handlers if isinstance(h, _File)]:
        logger.removeHandler(handler)
        handler.close()
    for handler in logger.handlers:
        handler.setLevel(logging.NOTSET)


def start(command: str, quiet: bool) -> logging.Logger:
    """The logger for `command`; --quiet keeps warnings and errors only."""
    global _command
    _command = command
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        configure()
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    return logger


def _stamp(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")


def notes(logger: logging.Logger):
    """The one-argument callable library code logs through; lines it starts with "warning: "
    are logged as warnings (kept by --quiet, marked as such in text and JSON)."""

    def note(message: str) -> None:
        if message.startswith("warning: "):
            logger.warning(message[len("warning: "):])
        else:
            logger.info(message)

    return note
