"""Prediction intervals by split-conformal calibration on residuals the model did not train on."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from forecast.errors import ConfigError

LEVELS = range(1, 100)  # every whole-percent level is calibrated, so predict can ask for any
METHOD = "split-conformal, absolute residuals per step"


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Conformal half-widths per level and step, on the scaled target, from held-out windows."""

    windows: int  # calibration windows the widths come from
    half_widths: dict[str, list[float] | None]  # "80" -> one width per trained step; None: too few windows
    method: str = METHOD

    def to_dict(self) -> dict:
        """JSON-ready, as stored in a bundle's metadata."""
        return {"method": self.method, "windows": self.windows, "half_widths": self.half_widths}


def calibrate(actual: np.ndarray, forecast: np.ndarray) -> Calibration:
    """Conformal half-widths per horizon step from held-out windows.

    For level ℓ and n calibration windows, the half-width at step s is the k-th smallest
    absolute residual at that step, with k = ceil((n + 1) · ℓ / 100). If the windows are
    exchangeable with the future, the interval forecast ± half-width then covers at least ℓ%
    of outcomes. A level needing k > n has no finite width and is stored as null.

    Args:
        actual, forecast: (windows, trained horizon) arrays on the scaled target.
    """
    residuals = np.sort(np.abs(np.asarray(actual, float) - np.asarray(forecast, float)), axis=0)  # (n, horizon)
    n = residuals.shape[0]
    half_widths = {}
    for level in LEVELS:
        k = math.ceil((n + 1) * level / 100)
        half_widths[str(level)] = residuals[k - 1].tolist() if k <= n else None
    return Calibration(n, half_widths)


def windows_needed(level: int) -> int:
    """The fewest calibration windows with a finite conformal width at `level` percent.

    ceil((n + 1) · ℓ / 100) <= n holds exactly when n >= ℓ / (100 − ℓ).
    """
    return math.ceil(level / (100 - level))


def check_level(level: int) -> None:
    """Raises ConfigError unless `level` is a whole percentage from 1 to 99."""
    if not isinstance(level, int) or level not in LEVELS:
        raise ConfigError(f"--level must be a whole percentage from 1 to 99. Received: {level}.")


def interval_bounds(forecast: np.ndarray, calibration: Calibration, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds at `level` percent around the first len(forecast) steps of a
    forecast on the scaled target, where the half-widths were calibrated.

    Raises:
        ConfigError: the level is not a whole number in 1..99, the calibration has too few windows
            for it, or the forecast runs past the calibrated horizon.
    """
    check_level(level)
    widths = calibration.half_widths.get(str(level))
    n = calibration.windows
    if widths is None:
        raise ConfigError(
            f"a {level}% interval needs at least {windows_needed(level)} validation windows; this model was "
            f"calibrated on {n}. "
            "Use a lower --level, or retrain with more history or a larger --val-fraction."
        )
    if len(forecast) > len(widths):
        raise ConfigError(
            f"intervals are calibrated for the trained horizon ({len(widths)} steps), not {len(forecast)}. "
            f"Use --horizon {len(widths)} or less with --level."
        )
    widths = np.asarray(widths[: len(forecast)])
    return forecast - widths, forecast + widths


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside [lower, upper]."""
    actual = np.asarray(actual)
    return float(np.mean((actual >= lower) & (actual <= upper)))
