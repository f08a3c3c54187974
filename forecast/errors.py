"""The errors `forecast` raises for problems a user can fix, each with its exit code."""

from __future__ import annotations

import contextlib
import errno
from typing import Iterator


def printable(text: str) -> str:
    """Text safe for a terminal and a one-line message: control characters (escape codes, line
    breaks) shown as escapes, since file contents and directory names are whatever someone gave."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def quote(value, limit: int = 60, quotes: bool = True) -> str:
    """A value for a message: repr'd (so control characters show as escapes), and cut short."""
    text = repr(value) if quotes else printable(str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def names(columns) -> str:
    """Column names for a message: quoted as `quote` does, the first 20 and a count."""
    names = [quote(str(c), 40, quotes=False) for c in columns]
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")


class ForecastError(Exception):
    """A problem the user can act on: the message states the rule, what was received and the fix.

    Only the command line catches these; it prints the message on one line and exits with
    ``exit_code``.
    """

    exit_code = 2


class ConfigError(ForecastError):
    """An option value that cannot work (zero, negative, out of range, contradictory)."""


class DataError(ForecastError):
    """Input data that cannot be used as given: unreadable, missing columns, gaps, too short."""


class SourceError(ForecastError):
    """The data source is unavailable: a download failed, came back empty or was rate limited.

    A retry later may succeed, so it has its own exit code."""

    exit_code = 3


class TickerError(SourceError):
    """A ticker download that returned nothing usable (unknown symbol, no network, rate limit)."""


class BusyError(ForecastError):
    """Another run holds the model directory's lock; exit 75 is EX_TEMPFAIL (try again later)."""

    exit_code = 75


class WriteError(ForecastError):
    """The operating system refused a write to the model directory: a full disk or quota, a
    read-only file system, too many open files."""


# What to do about each way a write fails; the OS's own words say what happened.
WRITE_FIXES = {
    errno.ENOSPC: "Free space there (df -h; df -i for inodes) and retry, or use another {instead}.",
    errno.EDQUOT: "Free space within your disk quota and retry, or use another {instead}.",
    errno.EROFS: "Remount it read-write, or use another {instead}.",
    errno.EMFILE: "Raise the limit on open files (ulimit -n) and retry.",
    errno.ENFILE: "Close other programs' files and retry.",
    errno.EACCES: "Check its permissions, or use another {instead}.",
    errno.EPERM: "Check its permissions, or use another {instead}.",
}


def os_reason(error: OSError) -> str:
    """The OS's words for `error`, as a message quotes them: "no space left on device"."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def write_error(action: str, error: OSError, outcome: str = "", instead: str = "--model-dir") -> WriteError:
    """The WriteError for an OSError raised while doing `action` ("write metadata.json into
    '...'"): what failed, the OS's reason and the fix; `outcome` says what stayed as it was, and
    `instead` names the option that writes elsewhere."""
    fix = WRITE_FIXES.get(error.errno, "Check the disk and retry, or use another {instead}.").format(instead=instead)
    return WriteError(f"cannot {action} ({os_reason(error)}){outcome}. {fix}")


@contextlib.contextmanager
def writing(action: str, outcome: str = "", instead: str = "--model-dir") -> Iterator[None]:
    """Raise an OSError from the block as `write_error` words it.

    Raises:
        WriteError: in place of the OSError.
    """
    try:
        yield
    except OSError as exc:
        raise write_error(action, exc, outcome, instead) from None


class BundleError(ForecastError):
    """A model bundle that is missing, damaged or of an unknown format version."""


class DeviceError(ForecastError):
    """A forced device strategy that this machine or backend cannot provide."""
