"""Public holidays as inputs known in advance: for every timestamp, whether its date is a holiday
and how near the closest ones are, for the lookback and the forecast period alike.

The dates come from the `holidays` package (its rules for some 250 countries and their
subdivisions) and are stored with the model as a list, from the data's first year to
YEARS_AHEAD past its last, so `predict` computes the inputs offline without the package.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from forecast.config import HOLIDAYS
from forecast.errors import ConfigError

YEARS_AHEAD = 10  # years of holidays stored past the data's, bounding how far a forecast can see them
NEAR_DAYS = 7  # the days-to and days-since inputs count up to this, then stay there


@dataclasses.dataclass(frozen=True)
class Holidays:
    """A country's (or subdivision's) public holidays over a span of whole years."""

    code: str  # as given: "US" or "US-CA"
    dates: tuple[str, ...]  # ISO dates, sorted
    until: str  # the last day the dates are known to

    def inputs(self, stamps: pd.DatetimeIndex) -> np.ndarray:
        """(len(stamps), 3): 1 where the stamp's date is a holiday, else 0; then the days to the
        next holiday and since the last, each over NEAR_DAYS and capped at 1 (0 on the day).

        Raises:
            ValueError: a stamp past `until`, where the holidays are not known.
        """
        days = pd.DatetimeIndex(stamps).normalize()
        if len(days) and days.max() > pd.Timestamp(self.until):
            raise ValueError(f"holidays are known to {self.until}, not {days.max():%Y-%m-%d}")
        known = pd.DatetimeIndex(self.dates).as_unit("s").asi8 // 86400  # days since the epoch
        day = days.as_unit("s").asi8 // 86400
        after = np.searchsorted(known, day, side="left")  # first holiday on or after each day
        to_next = np.where(after < len(known), known[np.minimum(after, len(known) - 1)] - day, NEAR_DAYS)
        before = np.searchsorted(known, day, side="right") - 1  # last holiday on or before
        since = np.where(before >= 0, day - known[np.maximum(before, 0)], NEAR_DAYS)
        on = (to_next == 0).astype("float32")
        near = lambda d: np.minimum(d, NEAR_DAYS).astype("float32") / NEAR_DAYS  # noqa: E731
        return np.stack([on, near(to_next), near(since)], axis=1)

    def to_dict(self) -> dict:
        return {"code": self.code, "dates": list(self.dates), "until": self.until}

    @classmethod
    def from_dict(cls, entry: dict) -> Holidays:
        return cls(entry["code"], tuple(entry["dates"]), entry["until"])


def load_holidays(code: str, first: pd.Timestamp, last: pd.Timestamp) -> Holidays:
    """The public holidays of `code` (a country, or COUNTRY-SUBDIVISION) from the year of `first`
    to YEARS_AHEAD years after `last`'s, or to the last year the holidays package knows them for
    when that comes sooner (2100 for most countries; forecasts past it are refused).

    Raises:
        ConfigError: a code the holidays package does not know, or data outside the years it
            knows the code's holidays for (it would mark every day of them as no holiday).
    """
    import holidays

    if not HOLIDAYS.fullmatch(code or ""):
        raise ConfigError(f"--holidays takes a country code, optionally with a subdivision: US, US-CA, GB-SCT, DE-BY. "
                          f"Received: {code!r}.")
    country, _, subdivision = code.upper().partition("-")
    first_year, last_year = pd.Timestamp(first).year, pd.Timestamp(last).year
    try:
        known = holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError as exc:
        raise ConfigError(f"--holidays {code}: {exc}. Use an ISO 3166 country code the holidays package knows "
                          "(US, GB, DE, FR, JP, ...), with one of its subdivisions if any.") from None
    if first_year < known.start_year or last_year > known.end_year:
        raise ConfigError(f"--holidays {code}: the holidays package knows {code}'s holidays for {known.start_year} to "
                          f"{known.end_year}; this data runs from {first_year} to {last_year}. Drop --holidays, or give "
                          "data within those years.")
    years = range(first_year, min(last_year + YEARS_AHEAD, known.end_year) + 1)
    found = holidays.country_holidays(country, subdiv=subdivision or None, years=years)
    dates = sorted(pd.Timestamp(day).strftime("%Y-%m-%d") for day in found)
    return Holidays(code, tuple(dates), f"{years[-1]}-12-31")
