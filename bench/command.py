"""`forecast` run as its own process, as cron or a user runs it, for the benchmark scripts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def forecast(*args: str) -> tuple[str, float]:
    """Run `forecast ARGS` from this checkout in a fresh process: its stdout and wall seconds.

    Raises:
        SystemExit: the command failed (with the end of its stderr).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: forecast {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done.stdout, seconds
