"""Stopping on SIGTERM or Ctrl-C at a safe point, so a stopped run unwinds cleanly.

Raising from a signal handler while TensorFlow is inside `fit` can interrupt it in a state that
crashes the process (seen as a segmentation fault). So inside `cooperative()`, a signal only
records the request; training checks it after each batch, stops, and `Stopped` is raised once
`fit` has returned. Elsewhere the signal raises `Stopped` at once.

A time limit (`deadline()`, what `forecast tune --budget` sets) stops training the same way,
after the batch during which it passed, and raises `OutOfTime`.

Once a run starts publishing what it made (`publishing()`: training writes its version), a signal
no longer stops it: it is recorded (`came_late()`) and the run completes, so a run that changed
the current model is never reported as stopped.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Iterator

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
_requested = threading.Event()
_state = {"signum": None, "cooperative": False, "deadline": None, "publishing": False}


def describe(signum: int) -> str:
    """How a stop by `signum` reads in the one line that reports it."""
    return "stopped by SIGTERM" if signum == signal.SIGTERM else "interrupted (Ctrl-C)"


class Stopped(BaseException):
    """The run was asked to stop (a BaseException, like KeyboardInterrupt, so nothing swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)


class OutOfTime(BaseException):
    """A `deadline()` passed while training (a BaseException too: nothing may swallow it)."""


def handle(signum, frame) -> None:
    """The handler the command line installs for SIGTERM and SIGINT."""
    _state["signum"] = signum
    _requested.set()
    if not (_state["cooperative"] or _state["publishing"]):
        raise Stopped(signum)


def requested() -> bool:
    """Whether training should stop: a signal came, or the deadline passed."""
    return _requested.is_set() or _past_deadline()


def _past_deadline() -> bool:
    return _state["deadline"] is not None and time.monotonic() >= _state["deadline"]


@contextlib.contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Within this block, training also stops once `time.monotonic()` reaches `at` (None: never)."""
    _state["deadline"] = at
    try:
        yield
    finally:
        _state["deadline"] = None


def reset() -> None:
    _requested.clear()
    _state["signum"] = None
    _state["publishing"] = False


def publishing() -> None:
    """From now until the run ends, signals are recorded instead of stopping it: it is writing
    and promoting its result, which takes seconds, and finishing beats a half-told stop."""
    _state["publishing"] = True


def came_late() -> int | None:
    """The signal that came once the run was publishing (it completed regardless), or None."""
    return _state["signum"] if _state["publishing"] and _requested.is_set() else None


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
    if _past_deadline():
        raise OutOfTime()
