"""Stopping on SIGTERM or Ctrl-C at a safe point, so a stopped run unwinds cleanly.

Raising from a signal handler while TensorFlow is inside `fit` can interrupt it in a state that
crashes the process (seen as a segmentation fault). So inside `cooperative()`, a signal only
records the request; training checks it after each batch, stops, and `Stopped` is raised once
`fit` has returned. Elsewhere the signal raises `Stopped` at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_requested = threading.Event()
_state = {"signum": None, "cooperative": False}


class Stopped(BaseException):
    """The run was asked to stop (a BaseException, like KeyboardInterrupt, so nothing swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)


def handle(signum, frame) -> None:
    """The handler the command line installs for SIGTERM and SIGINT."""
    _state["signum"] = signum
    _requested.set()
    if not _state["cooperative"]:
        raise Stopped(signum)


def requested() -> bool:
    return _requested.is_set()


def reset() -> None:
    _requested.clear()
    _state["signum"] = None


@contextlib.contextmanager
def cooperative() -> Iterator[None]:
    """Within this block signals are only recorded; leaving it raises `Stopped` if one came."""
    _state["cooperative"] = True
    try:
        yield
    finally:
        _state["cooperative"] = False
    if _requested.is_set():
        raise Stopped(_state["signum"])
