"""Download a ticker's bars through yfinance: retried, cached, and its failures one clear error.

Every good download is merged into a local cache (CSV, one file per symbol and interval, in
$FORECAST_CACHE_DIR or ~/.cache/forecast). When Yahoo cannot be reached, rate-limits us or
answers with nothing after the retries, the cached bars are used with a warning, so a nightly
run keeps working through an outage; `--offline` uses the cache alone.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

import pandas as pd

from forecast.config import DataConfig
from forecast.errors import DataError, TickerError

TICKER_INTERVALS = ("1d", "1wk", "1mo", "3mo")
BACKOFF = (2.0, 8.0)  # seconds before the second and the third try
_sleep = time.sleep  # replaced in tests
Log = Callable[[str], None]


class _Failure(TickerError):
    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient  # network trouble or a rate limit: worth another try


def ticker_source(config: DataConfig) -> dict:
    """Where a ticker series came from, as recorded in the bundle."""
    return {
        "kind": "ticker",
        "ticker": config.ticker,
        "start": _ticker_start(config),
        "end": config.end,
        "interval": config.interval,
    }


def fetch_ticker(config: DataConfig, log: Log = lambda message: None) -> pd.DataFrame:
    """Daily (or coarser) bars for `config.ticker`: downloaded, else from the cache.

    Returns:
        A flat frame: the time column (`Date`) first, then Open/High/Low/Close/Volume.

    Raises:
        DataError: a bad interval or dates (before anything is downloaded).
        TickerError: no usable download after the retries and nothing cached (exit 3).
    """
    if config.interval not in TICKER_INTERVALS:
        raise DataError(
            f"--interval must be one of {', '.join(TICKER_INTERVALS)}. Received: {config.interval!r}. "
            "Intraday bars are not supported; use 1d."
        )
    start, end = _ticker_start(config), _date(config.end, "--end")
    if end is not None and pd.Timestamp(start) >= end:
        raise DataError(f"--start ({start}) must come before --end ({config.end}). Fix the dates.")
    cache = cache_path(config)
    if config.offline:
        cached = _read_cache(cache, start, config.end)
        if cached is None:
            raise TickerError(
                f"--offline: no cached bars for {config.ticker!r} ({config.interval}) in {str(cache.parent)!r} "
                f"between {start} and {config.end or 'today'}. Run once without --offline to fill the cache."
            )
        log(f"offline: {len(cached)} cached bars of {config.ticker} from {cache}")
        return cached
    failure: _Failure | None = None
    for attempt in range(len(BACKOFF) + 1):
        try:
            frame = _download(config, start)
        except _Failure as exc:
            failure = exc
            if not exc.transient or attempt == len(BACKOFF):
                break
            log(f"warning: {exc} Retrying in {BACKOFF[attempt]:g} s.")
            _sleep(BACKOFF[attempt])
            continue
        _write_cache(cache, frame)
        return frame
    cached = _read_cache(cache, start, config.end)
    if cached is None:
        raise failure
    newest = pd.Timestamp(cached["Date"].iloc[-1]).date()
    log(f"warning: {failure} Using {len(cached)} cached bars from {cache} instead (newest {newest}).")
    return cached


def cache_path(config: DataConfig) -> Path:
    """Where downloads of this symbol and interval are cached."""
    root = os.environ.get("FORECAST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "forecast"
    )
    safe = "".join(c if c.isalnum() or c in "-_.^=" else "_" for c in config.ticker.upper())
    return Path(root) / "tickers" / f"{safe}_{config.interval}.csv"


def _download(config: DataConfig, start: str) -> pd.DataFrame:
    """One yfinance download, flattened; failures raised as `_Failure`."""
    import yfinance as yf

    # yfinance reports failures as log lines rather than exceptions: collect them for the
    # one-line error below instead of letting them reach the terminal.
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("yfinance")
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance's own pandas deprecation warnings
            frame = yf.download(
                config.ticker,
                start=start,
                end=config.end,
                interval=config.interval,
                auto_adjust=True,  # explicit: yfinance's default has changed between versions
                progress=False,
                threads=False,
                multi_level_index=True,
            )
    except Exception as exc:  # yfinance raises many types for network and parsing trouble
        raise _ticker_failure(config, str(exc)) from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    if frame is None or frame.empty or frame.dropna(how="all").empty:
        reason = " ".join(record.getMessage() for record in records)
        if frame is not None and not frame.empty:
            reason += " all-nan"
        raise _ticker_failure(config, reason)
    if isinstance(frame.columns, pd.MultiIndex):
        # One ticker: drop the "Ticker" level so columns are Close, High, Low, Open, Volume.
        level = "Ticker" if "Ticker" in frame.columns.names else 1
        frame = frame.droplevel(level, axis=1)
    frame.columns.name = None
    index = frame.index
    if getattr(index, "tz", None) is not None:
        # Keep the exchange's wall-clock dates; a timezone would shift daily bars across midnight.
        frame.index = index.tz_localize(None)
    frame.index.name = "Date"
    return frame.reset_index()


def _write_cache(path: Path, frame: pd.DataFrame) -> None:
    """Merge a download into the cache file (newer bars win), replacing it atomically."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        merged = frame
        if path.is_file():
            old = pd.read_csv(path, parse_dates=["Date"])
            merged = pd.concat([old, frame]).drop_duplicates("Date", keep="last").sort_values("Date")
        handle, staging = tempfile.mkstemp(prefix=".", suffix=".csv", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            merged.to_csv(out, index=False, date_format="%Y-%m-%d")
        os.replace(staging, path)
    except (OSError, ValueError, pd.errors.ParserError):
        pass  # a cache that cannot be written only costs the fallback, never the run


def _read_cache(path: Path, start: str, end: str | None) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, parse_dates=["Date"])
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    keep = frame["Date"] >= pd.Timestamp(start)
    if end is not None:
        keep &= frame["Date"] < pd.Timestamp(end)
    frame = frame[keep].reset_index(drop=True)
    return None if frame.empty else frame


def _ticker_start(config: DataConfig) -> str:
    if config.start is not None:
        _date(config.start, "--start")
        return config.start
    end = _date(config.end, "--end") or pd.Timestamp.today().normalize()
    return (end - pd.DateOffset(years=10)).strftime("%Y-%m-%d")


def _date(value: str | None, flag: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        raise DataError(f"{flag} must be a date such as 2015-01-01. Received: {value!r}.") from None


def _ticker_failure(config: DataConfig, reason: str) -> _Failure:
    text = reason.lower()
    if "rate limit" in text or "too many requests" in text:
        return _Failure(f"Yahoo Finance rate-limited the download of {config.ticker!r} (too many requests). "
            "Retry later, or pass --offline to use cached bars.", transient=True)
    network_words = ("could not resolve", "failed to connect", "timed out", "timeout", "connectionerror", "dnserror")
    if any(word in text for word in network_words):
        return _Failure(
            f"could not reach Yahoo Finance for ticker {config.ticker!r}. "
            "Check the network connection, or train from a CSV file instead.",
            transient=True,
        )
    what = "only empty (all-NaN) bars" if "all-nan" in text else "no data"
    return _Failure(
        f"Yahoo Finance returned {what} for ticker {config.ticker!r} "
        f"({config.interval} bars from {_ticker_start(config)} to {config.end or 'today'}). "
        "Check the symbol on finance.yahoo.com, the dates and the network connection.",
        transient=False,
    )
