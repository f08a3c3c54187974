"""One worker of a TF_CONFIG cluster, run under a supervisor process that can always stop it.

While a worker joins its cluster, TensorFlow blocks inside C++ holding Python's interpreter
lock and puts in its own SIGTERM handler, which only logs the signal: no Python code of that
process runs until every worker has joined, so it can neither give up after a time limit nor
stop on SIGTERM. So `forecast train` in a cluster runs the same command line again as a child
process and stays light (it never imports Keras): the child tells it through a pipe once it has
joined (forecast.model.cluster.JOINED_FD), and the supervisor

- gives up when that takes longer than --worker-timeout: it kills the child, says which workers
  did not come, and exits 3 (retry later);
- on SIGTERM or Ctrl-C passes the signal on; a child that has not stopped within
  STOP_GRACE_SECONDS (it is waiting for the others, or blocked in an exchange with a worker that
  died) is killed, and the supervisor exits 143 or 130;
- otherwise exits with the child's exit code.

Nothing is lost by killing the child: only the chief writes, its new version is published only
once complete, and the lock it holds is released with the process.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time

from forecast.cli import logs
from forecast.model.cluster import JOINED_FD, Worker
from forecast.model.stopping import EXIT_CODES, describe

STOP_GRACE_SECONDS = 20.0  # a child asked to stop that has not within this is killed


def supervised() -> bool:
    """Whether this process is the child a supervisor started (it then trains as usual)."""
    return JOINED_FD in os.environ


def supervise(worker: Worker, timeout: float) -> int:
    """Run this command line again as a child process, watched as the module says; returns the
    exit code for this process."""
    logger = logging.getLogger(logs.LOGGER)
    read, write = os.pipe()
    env = {**os.environ, JOINED_FD: str(write)}
    child = subprocess.Popen([sys.executable, "-m", "forecast", *sys.argv[1:]], env=env, pass_fds=(write,),
                             preexec_fn=_die_with_parent)
    os.close(write)
    stop = {"signum": None}

    def handle(signum, frame):
        stop["signum"] = signum
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        joined = _wait_for_join(read, child, timeout, stop)
        if not joined and child.poll() is None:  # still joining: it cannot stop by itself
            child.kill()
            child.wait()
            if stop["signum"] is not None:
                logger.error(f"{describe(stop['signum'])} while waiting for the other workers; nothing was trained or "
                             "written.")
                return EXIT_CODES[stop["signum"]]
            others = ", ".join(a for a in worker.addresses if a != worker.address)
            logger.error(f"the other workers ({others}) did not all join within {timeout:g} s, so nothing was trained or "
                         "written. Start every worker with its TF_CONFIG (the same command on each), or raise "
                         "--worker-timeout; then retry.")
            return 3
        while child.poll() is None:
            if stop["signum"] is not None and not _exits_within(child, STOP_GRACE_SECONDS):
                child.kill()
                child.wait()
                logger.error(f"{describe(stop['signum'])}; the worker did not stop within {STOP_GRACE_SECONDS:g} s and was killed; nothing "
                             "of this run was published.")
                return EXIT_CODES[stop["signum"]]
            _exits_within(child, 0.5)
        code = child.returncode
        if code < 0:  # the child died of a signal
            return EXIT_CODES.get(stop["signum"], 128 - code)
        return code
    finally:
        os.close(read)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _die_with_parent() -> None:
    """In the child, before it starts: on Linux, be killed when the supervisor dies (even by
    SIGKILL), so a worker never trains on without it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor's own signals still reach the child


def _wait_for_join(read: int, child: subprocess.Popen, timeout: float, stop: dict) -> bool:
    """Wait until the child writes to the pipe (it joined), exits, is asked to stop, or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while stop["signum"] is None and child.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            ready, _, _ = select.select([read], [], [], min(left, 0.5))
        except InterruptedError:
            continue
        if ready:
            return bool(os.read(read, 1))  # empty: the child closed the pipe without joining (it exited)
    return False


def _exits_within(child: subprocess.Popen, seconds: float) -> bool:
    try:
        child.wait(seconds)
        return True
    except subprocess.TimeoutExpired:
        return False
