"""Frequencies and calendar arithmetic: inferring a series' step, naming it, its season length,
dating forecasts and the range of dates forecast can write."""

from __future__ import annotations

import warnings
from collections import Counter

import pandas as pd

from forecast.errors import DataError

# The dates forecast can write: Python's datetime range, which ISO text and strftime need.
FIRST_DATE, LAST_DATE = pd.Timestamp("0001-01-01"), pd.Timestamp("9999-12-31 23:59:59")
# Seasonal period by the kind of step: a day of hours, a week of days, a year of weeks, months, quarters.
_SEASONS = {"h": 24, "D": 7, "B": 5, "W": 52, "MS": 12, "ME": 12, "M": 12, "QS": 4, "QE": 4, "Q": 4, "min": 60}


def season_length(frequency: str) -> int:
    """The seasonal period used by seasonal naive and MASE for a pandas frequency (1 if none)."""
    offset = pd.tseries.frequencies.to_offset(frequency)
    period = _SEASONS.get(frequency_kind(frequency), 1)
    if offset.n == 1:
        return period
    # "2h" has 12 steps a day; a multiple that does not divide the season has none.
    return period // offset.n if period % offset.n == 0 else 1



def step_offset(frequency: str, calendar=None) -> pd.DateOffset:
    """One step of a series: its frequency's offset, or one session of its exchange's `calendar`
    (forecast.data.calendars.Calendar), which skips the exchange's holidays."""
    return calendar.offset if calendar is not None else pd.tseries.frequencies.to_offset(frequency)


def frequency_kind(frequency: str) -> str:
    """The kind of step of a frequency, without its anchor or multiple: "W-SUN" -> "W", "15min" -> "min"."""
    return pd.tseries.frequencies.to_offset(frequency).rule_code.split("-")[0]


def same_frequency(first: str, second: str) -> bool:
    """Whether two frequencies take the same steps: "W-SUN" and "W-MON" do (the anchor is only
    where the week starts); "MS" and "2MS", or month starts and month ends, do not."""
    offsets = pd.tseries.frequencies.to_offset(first), pd.tseries.frequencies.to_offset(second)
    return offsets[0].n == offsets[1].n and frequency_kind(first) == frequency_kind(second)


def infer_frequency(index: pd.DatetimeIndex) -> str:
    """The series' pandas frequency alias, inferred even when a few timestamps are missing.

    `pd.infer_freq` needs a perfectly regular index, so with gaps (or market holidays) the
    frequency is taken by vote over short runs of consecutive rows.
    """
    if len(index) < 3:
        raise DataError(
            f"the series has {len(index)} rows; at least 3 are needed to tell its frequency. "
            "Supply more history."
        )
    frequency = _infer_freq(index)
    if frequency is None:
        # Runs of 8 span a weekend, so business days read as "B", not "D"; shorter runs are
        # the fallback for short series.
        for run in (8, 5, 3):
            step = max(1, (len(index) - run) // 200)
            votes = Counter(
                _infer_freq(index[start : start + run]) for start in range(0, max(1, len(index) - run + 1), step)
            )
            votes.pop(None, None)
            if votes:
                break
        if not votes:
            raise DataError(
                f"could not infer a frequency from the timestamps ({stamp_text(index[0])}, "
                f"{stamp_text(index[1])}, {stamp_text(index[2])}, ...): they are irregular. "
                "Resample the data to a regular frequency first."
            )
        frequency = votes.most_common(1)[0][0]
    return frequency


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3 announces that infer_freq will return an offset
        found = pd.infer_freq(index)
    return None if found is None else pd.tseries.frequencies.to_offset(found).freqstr


def describe_frequency(frequency: str, exact: bool = False) -> str:
    """A word for a pandas frequency alias: "MS" -> "monthly" ("monthly (month starts)" when
    `exact`, to tell month starts from month ends)."""
    words = {
        "min": "minutely", "h": "hourly", "D": "daily", "B": "business-day", "W": "weekly",
        "MS": "monthly", "ME": "monthly", "M": "monthly", "QS": "quarterly", "QE": "quarterly",
        "Q": "quarterly", "YS": "yearly", "YE": "yearly", "Y": "yearly", "s": "secondly",
    }
    if pd.tseries.frequencies.to_offset(frequency).n != 1:
        return frequency  # "15min", "2h": the alias says it best
    kind = frequency_kind(frequency)
    word = words.get(kind, frequency)
    if exact and len(kind) == 2 and kind[0] in "MQY" and kind[1] in "SE":
        period = {"M": "month", "Q": "quarter", "Y": "year"}[kind[0]]
        word += f" ({period} {'starts' if kind[1] == 'S' else 'ends'})"
    return word


def check_forecast_end(last: pd.Timestamp, horizon: int, frequency: str, name: str) -> None:
    """Refuse a forecast whose dates would run past the last date forecast can write.

    Raises:
        DataError: `horizon` steps after `last` (the newest point of `name`) pass LAST_DATE.
    """
    try:
        beyond = last + horizon * pd.tseries.frequencies.to_offset(frequency) > LAST_DATE
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        beyond = True
    if beyond:
        raise DataError(
            f"a {horizon}-step {describe_frequency(frequency)} forecast after {format_timestamp(last, frequency)} "
            f"({name}'s newest point) would run past {LAST_DATE:%Y-%m-%d}, the last date forecast can write. "
            "Use a smaller --horizon."
        )


def format_timestamp(stamp: pd.Timestamp, frequency: str) -> str:
    """ISO text for a timestamp: the date alone for daily and coarser series."""
    offset = pd.tseries.frequencies.to_offset(frequency)
    daily_or_coarser = pd.Timestamp("2000-01-03") + offset >= pd.Timestamp("2000-01-04")
    if daily_or_coarser and stamp == stamp.normalize():
        return stamp.strftime("%Y-%m-%d")
    return stamp.isoformat(sep=" ")


def stamp_text(stamp: pd.Timestamp) -> str:
    """A timestamp for a message: the date alone at midnight."""
    try:
        return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat(sep=" ")
    except ValueError:  # years pandas holds but cannot format
        return str(stamp)
