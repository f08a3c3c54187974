"""The tune journal file (Optuna's JournalFileBackend: one JSON record a line, only ever appended),
read whole before a search writes to it.

Optuna itself skips a last line cut short, but then appends its next record to it, which makes
one line of two halves that no later run can read. A kill or a full disk during an append leaves
exactly such a torn last line (no newline at its end): it is cut away before the search appends,
and the records before it, which hold every trial that finished, are kept. A line that is not a
record anywhere else means the file was damaged or is not a journal: nothing is written to it.
"""

from __future__ import annotations

import json
import os

from forecast.errors import ConfigError


def torn_tail(path: str) -> int:
    """The length in bytes of the journal's torn last line (0: none, or no file yet).

    Raises:
        ConfigError: a complete line that is not a journal record (the line is named).
    """
    try:
        with open(path, "rb") as handle:
            lines = handle.read().split(b"\n")
    except FileNotFoundError:
        return 0
    complete, torn = lines[:-1], lines[-1]  # the text after the last newline: b"" unless torn
    for number, line in enumerate(complete, start=1):
        if not _is_record(line):
            if number == 1:
                raise ConfigError(f"--study {path!r} is not a tune journal (its first line is not a journal record). "
                                  "Give another --study file.")
            raise ConfigError(
                f"--study {path!r} is damaged: line {number} of {len(complete)} is not a journal record; nothing was "
                f"written to it. Restore it from a copy, keep the trials before the damage (head -n {number - 1}), "
                "or give another --study file.")
    return len(torn)


def cut_torn(path: str, length: int) -> None:
    """Cut the torn last line of `length` bytes off the journal, so the next record starts a line."""
    with open(path, "r+b") as handle:
        handle.truncate(os.fstat(handle.fileno()).st_size - length)
        handle.flush()
        os.fsync(handle.fileno())


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:  # not JSON, or not text
        return False
    return isinstance(record, dict) and "op_code" in record
