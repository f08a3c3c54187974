"""Cycle-position inputs: where each timestamp falls in the day, week, year.

A window of scaled values says little about which part of a cycle it ends in when the cycle is
longer than the lookback (the day of the week for hourly data read 48 hours at a time, the day of
the year for daily data). These inputs say it outright, as a sine and cosine pair per cycle, so
midnight sits next to 23:00 and December next to January. They are computed from the timestamps
alone, so they are known for every future step as well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecast.data.frequency import frequency_kind

# The cycles worth knowing for each kind of step: those longer than one step and shorter than a century.
_BY_KIND = {
    "s": ("time_of_day", "day_of_week"),
    "min": ("time_of_day", "day_of_week"),
    "h": ("time_of_day", "day_of_week"),
    "D": ("day_of_week", "day_of_year"),
    "B": ("day_of_week", "day_of_year"),
    "W": ("day_of_year",),
    "MS": ("month_of_year",),
    "ME": ("month_of_year",),
    "QS": ("month_of_year",),
    "QE": ("month_of_year",),
}
CYCLES = ("time_of_day", "day_of_week", "day_of_year", "month_of_year")


def cycles_for(frequency: str) -> tuple[str, ...]:
    """The cycles that describe a series of this pandas frequency: hourly data gets time of day
    and day of week, daily data day of week and day of year, weekly data day of year, monthly and
    quarterly data month of year; yearly data none."""
    return _BY_KIND.get(frequency_kind(frequency), ())


def cycle_inputs(stamps: pd.DatetimeIndex, cycles: tuple[str, ...] | list[str]) -> np.ndarray:
    """(rows, 2 x cycles) float32: sin and cos of each timestamp's position in each cycle, in order."""
    columns = []
    for name in cycles:
        phase = 2 * np.pi * _position(stamps, name)
        columns += [np.sin(phase), np.cos(phase)]
    if not columns:
        return np.empty((len(stamps), 0), dtype="float32")
    return np.stack(columns, axis=1).astype("float32")


def _position(stamps: pd.DatetimeIndex, name: str) -> np.ndarray:
    """Where each timestamp lies in cycle `name`, from 0 (its start) to 1 (the next start)."""
    day = (stamps.hour.to_numpy() * 3600 + stamps.minute.to_numpy() * 60 + stamps.second.to_numpy()) / 86400
    if name == "time_of_day":
        return day
    if name == "day_of_week":
        return (stamps.day_of_week.to_numpy() + day) / 7
    if name == "day_of_year":
        length = np.where(stamps.is_leap_year, 366, 365)
        return (stamps.day_of_year.to_numpy() - 1 + day) / length
    if name == "month_of_year":
        return (stamps.month.to_numpy() - 1) / 12
    raise ValueError(f"unknown cycle {name!r}; expected one of {', '.join(CYCLES)}")
