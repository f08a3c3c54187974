"""The errors `forecast` raises for problems a user can fix, each with its exit code."""

from __future__ import annotations


class ForecastError(Exception):
    """A problem the user can act on: the message states the rule, what was received and the fix.

    Only the command line catches these; it prints the message on one line and exits with
    ``exit_code``.
    """

    exit_code = 2


class ConfigError(ForecastError):
    """An option value that cannot work (zero, negative, out of range, contradictory)."""


class DataError(ForecastError):
    """Input data that cannot be used as given: unreadable, missing columns, gaps, too short."""


class TickerError(ForecastError):
    """A ticker download that returned nothing usable (unknown symbol, no network)."""


class BundleError(ForecastError):
    """A model bundle that is missing, damaged or of an unknown format version."""


class DeviceError(ForecastError):
    """A forced device strategy that this machine or backend cannot provide."""
