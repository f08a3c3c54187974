"""The version of forecast, recorded in every bundle it writes."""

__version__ = "0.1.0"
