"""Download a ticker's bars through yfinance, turning its failures into one clear error."""

from __future__ import annotations

import logging
import warnings

import pandas as pd

from forecast.config import DataConfig
from forecast.errors import DataError, TickerError

TICKER_INTERVALS = ("1d", "1wk", "1mo", "3mo")


def ticker_source(config: DataConfig) -> dict:
    """Where a ticker series came from, as recorded in the bundle."""
    return {
        "kind": "ticker",
        "ticker": config.ticker,
        "start": _ticker_start(config),
        "end": config.end,
        "interval": config.interval,
    }


def fetch_ticker(config: DataConfig) -> pd.DataFrame:
    """Download daily (or coarser) bars for `config.ticker` through yfinance.

    Returns:
        A flat frame: the time column (`Date`) first, then Open/High/Low/Close/Volume.
    """
    if config.interval not in TICKER_INTERVALS:
        raise DataError(
            f"--interval must be one of {', '.join(TICKER_INTERVALS)}. Received: {config.interval!r}. "
            "Intraday bars are not supported; use 1d."
        )
    start, end = _ticker_start(config), _date(config.end, "--end")
    if end is not None and pd.Timestamp(start) >= end:
        raise DataError(f"--start ({start}) must come before --end ({config.end}). Fix the dates.")
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
                auto_adjust=True,
                progress=False,
                threads=False,
                multi_level_index=True,
            )
    except Exception as exc:  # yfinance raises many types for network and parsing trouble
        raise TickerError(_ticker_failure(config, str(exc))) from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    if frame is None or frame.empty or frame.dropna(how="all").empty:
        reason = " ".join(record.getMessage() for record in records)
        raise TickerError(_ticker_failure(config, reason))
    if isinstance(frame.columns, pd.MultiIndex):
        # One ticker: drop the "Ticker" level so columns are Close, High, Low, Open, Volume.
        level = "Ticker" if "Ticker" in frame.columns.names else 1
        frame = frame.droplevel(level, axis=1)
    frame.columns.name = None
    index = frame.index
    if getattr(index, "tz", None) is not None:
        # Keep the exchange's wall-clock dates; a timezone would shift daily bars across midnight.
        frame.index = index.tz_localize(None)
    frame.index.name = frame.index.name or "Date"
    return frame.reset_index()


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


def _ticker_failure(config: DataConfig, reason: str) -> str:
    network_words = ("could not resolve", "failed to connect", "timed out", "timeout", "connectionerror", "dnserror")
    if any(word in reason.lower() for word in network_words):
        return (
            f"could not reach Yahoo Finance for ticker {config.ticker!r}. "
            "Check the network connection, or train from a CSV file instead."
        )
    return (
        f"Yahoo Finance returned no data for ticker {config.ticker!r} "
        f"({config.interval} bars from {_ticker_start(config)} to {config.end or 'today'}). "
        "Check the symbol on finance.yahoo.com, the dates and the network connection."
    )
