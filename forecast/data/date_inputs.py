"""Inputs computed from each step's timestamp: its place in the day, week or year
(forecast.data.cycles) and its nearness to public holidays (forecast.data.public_holidays).

Being known for any date, they are read twice by the network: as columns of the lookback window,
beside the data's own, and over the forecast period, beside the future features' values (see
forecast.model.network). Both readings come from `DateInputs.__call__`, so training, predict,
evaluate and detect compute them the same way.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from forecast.data.cycles import cycle_inputs
from forecast.data.public_holidays import Holidays

HOLIDAY_INPUTS = ("holiday", "days_to_holiday", "days_since_holiday")  # the columns of Holidays.inputs


@dataclasses.dataclass(frozen=True)
class DateInputs:
    """The date inputs a network reads: its cycles' sine and cosine, then the holiday columns."""

    cycles: tuple[str, ...] = ()
    holidays: Holidays | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """One name per column, in order: time_of_day_sin, time_of_day_cos, ..., holiday, ..."""
        cycles = tuple(f"{cycle}_{part}" for cycle in self.cycles for part in ("sin", "cos"))
        return cycles + (HOLIDAY_INPUTS if self.holidays is not None else ())

    @property
    def width(self) -> int:
        return len(self.names)

    def __call__(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        """(len(stamps), width) float32.

        Raises:
            ValueError: a stamp past the last day the holidays are known to.
        """
        parts = [cycle_inputs(stamps, self.cycles)]
        if self.holidays is not None:
            parts.append(self.holidays.inputs(stamps))
        return np.concatenate(parts, axis=1).astype("float32")
