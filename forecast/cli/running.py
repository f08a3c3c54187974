"""Running a command's body: every failure becomes one log line and an exit code, and a stop
(SIGTERM, Ctrl-C) says what the run had already published."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass

import typer

from forecast.cli import logs
from forecast.errors import ForecastError
from forecast.model import stopping


@dataclass
class _State:
    verbose: bool = False  # the global --verbose: unexpected errors raise with their traceback
    published: str | None = None  # set once a run has published something; a stop after it says so


state = _State()


def run_command(body) -> None:
    """Run a command body, turning failures into one log line and an exit code."""
    logger = logging.getLogger(logs.LOGGER)
    state.published = None
    stopping.reset()
    previous = {signum: signal.signal(signum, stopping.handle) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        body()
        late = stopping.came_late()
        if late is not None:
            logger.warning(f"{signal.Signals(late).name} came while the run was publishing its result, so it completed "
                           "first (a stop then would have left it half told).")
    except ForecastError as exc:
        logger.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except (KeyboardInterrupt, stopping.Stopped) as exc:
        code = getattr(exc, "exit_code", 130)
        how = stopping.describe(signal.SIGTERM if code == 143 else signal.SIGINT)
        logger.error(f"{how}; {state.published or 'the current model is unchanged'}.")
        raise typer.Exit(code) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:
        if state.verbose:
            raise
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        logger.error(f"unexpected {type(exc).__name__}: {detail} (rerun with --verbose for the traceback)")
        raise typer.Exit(1) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
