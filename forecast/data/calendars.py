"""Exchange trading calendars: the weekdays a market is closed, so that a business-day series is
dated on its sessions (a forecast never lands on a holiday, and a holiday in the history is a
closed day, not a gap).

The closures come from exchange-calendars, which knows each exchange's rules (holidays, their
weekend substitutes, one-off closures) years ahead. They are stored with the model as a list of
dates, so `predict` needs neither the network nor the library's import time.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import warnings

import pandas as pd

from forecast.errors import ConfigError, quote

YEARS_AHEAD = 10  # years of closures stored past the data's, bounding how far a forecast can be dated
WEEKMASK = "1111100"  # Monday to Friday: every exchange exchange-calendars covers for daily bars here
# Yahoo Finance symbol suffixes and the exchange whose sessions they trade on; no suffix is a US listing.
TICKER_SUFFIXES = {
    "": "XNYS", ".TO": "XTSE", ".V": "XTSE", ".L": "XLON", ".DE": "XFRA", ".F": "XFRA", ".PA": "XPAR",
    ".AS": "XAMS", ".MI": "XMIL", ".MC": "XMAD", ".SW": "XSWX", ".ST": "XSTO", ".HE": "XHEL", ".CO": "XCSE",
    ".OL": "XOSL", ".T": "XTKS", ".HK": "XHKG", ".AX": "XASX", ".NZ": "XNZE", ".SI": "XSES", ".KS": "XKRX",
    ".NS": "XBOM", ".BO": "XBOM", ".SA": "BVMF", ".JO": "XJSE",
}


@dataclasses.dataclass(frozen=True)
class Calendar:
    """An exchange's closed weekdays from the first date of a series to YEARS_AHEAD past its last."""

    name: str  # the exchange's ISO MIC, e.g. "XNYS"
    closed: tuple[str, ...]  # ISO dates
    until: str  # the last date the closures are known to

    @property
    def offset(self) -> pd.offsets.CustomBusinessDay:
        """One session: pandas' business day without this exchange's closures."""
        return pd.offsets.CustomBusinessDay(holidays=list(self.closed), weekmask=WEEKMASK)

    def to_dict(self) -> dict:
        return {"name": self.name, "closed": list(self.closed), "until": self.until}

    @classmethod
    def from_dict(cls, entry: dict) -> Calendar:
        return cls(entry["name"], tuple(entry["closed"]), entry["until"])


def ticker_calendar(symbol: str) -> str | None:
    """The exchange a Yahoo Finance symbol trades on, from its suffix ("7203.T" -> "XTKS", "AAPL"
    -> "XNYS"); None for an unknown suffix and for what does not keep exchange sessions: crypto
    pairs (BTC-USD), currencies (EURUSD=X) and futures (CL=F)."""
    upper = symbol.upper()
    if upper.endswith(("=X", "=F")) or re.search(r"-(USD|USDT|USDC|EUR|GBP|BTC|ETH)$", upper):
        return None
    base, dot, suffix = upper.rpartition(".")
    return TICKER_SUFFIXES.get(f".{suffix}" if dot and base else "")


def load_calendar(name: str, first: pd.Timestamp, last: pd.Timestamp) -> Calendar:
    """The closed weekdays of exchange `name` from the year of `first` to YEARS_AHEAD years after `last`'s.

    Raises:
        ConfigError: an exchange exchange-calendars does not know, or dates before its records.
    """
    import exchange_calendars

    first_year, last_year = pd.Timestamp(first).year, pd.Timestamp(last).year + YEARS_AHEAD
    if name not in exchange_calendars.get_calendar_names(include_aliases=True):
        raise ConfigError(
            f"--calendar takes an exchange's ISO code, such as XNYS (New York), XLON (London) or XTKS (Tokyo). "
            f"Received: {name!r}. Use one of {', '.join(_working(first_year, last_year))}, ..., "
            "or none for plain business days."
        )
    return _closures(name, first_year, last_year)


def _working(first_year: int, last_year: int, count: int = 12) -> list[str]:
    """The first `count` exchanges (ISO codes, alphabetically) whose calendars can be built for
    these years: some cover only recent years, and some cannot be built at all under this pandas."""
    import exchange_calendars

    working = []
    for code in sorted(c for c in exchange_calendars.get_calendar_names(include_aliases=False) if c.startswith("X")):
        try:
            _closures(code, first_year, last_year)
        except ConfigError:
            continue
        working.append(code)
        if len(working) == count:
            break
    return working


@functools.lru_cache(maxsize=8)
def _closures(name: str, first_year: int, last_year: int) -> Calendar:
    """Whole years, so that the series of a panel, which share their years, build the calendar once.

    Raises:
        ConfigError: exchange-calendars cannot build it for these years.
    """
    import exchange_calendars

    try:
        start, end = pd.Timestamp(first_year, 1, 1), pd.Timestamp(last_year, 12, 31)  # past 9999 for data ending after 9989
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the library's own pandas deprecation notices
            calendar = exchange_calendars.get_calendar(name, start=start, end=end)
            sessions = pd.DatetimeIndex(calendar.sessions).tz_localize(None)
    # Not only dates outside its records (ValueError): some calendars' holiday rules raise
    # NotImplementedError under pandas 3, and a library's own failure is no reason to crash.
    except Exception as exc:
        detail = quote(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", 120, quotes=False)
        raise ConfigError(f"exchange-calendars cannot build the {name} calendar for {first_year} to {last_year} ({detail}). "
                          "Use --calendar none for plain business days, or another exchange's code.") from None
    closed = pd.bdate_range(sessions[0], sessions[-1]).difference(sessions)
    return Calendar(calendar.name, tuple(closed.strftime("%Y-%m-%d")), f"{sessions[-1]:%Y-%m-%d}")
