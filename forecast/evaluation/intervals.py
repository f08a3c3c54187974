"""Prediction intervals from the residuals of forecasts the model made on data it did not train on.

Each step of the horizon is calibrated on its own residuals: those of the validation windows, or
(on a short series, where those run small because they chose the epoch and the window norm) of
models retrained at earlier cutoffs, forecasting the rows after each (forecast.model.fit):

- split-conformal (the k-th smallest absolute residual) wherever there are enough residuals for
  the level: its coverage guarantee needs no assumption about their distribution;
- Student t from the same residuals where there are too few (a short monthly series holds 15
  validation windows; a 95% split-conformal width needs 19): the prediction interval for one more
  draw of a zero-mean normal whose spread is estimated from n residuals;
- past the steps the validation data can check (beyond the rolled forecasts of its windows), the
  last calibrated step's width grown by √(step / that step), as a random walk's errors grow.

Every width says which of the three it is and how many residuals back it (`Calibration.describe`),
and `forecast evaluate` measures the coverage each reaches.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from forecast.errors import ConfigError

LEVELS = range(1, 100)  # every whole-percent level is calibrated, so predict can ask for any
METHOD = "per-step held-out residuals: split-conformal, Student t where too few"
MIN_RESIDUALS = 10  # a step past the trained horizon with fewer residuals is extrapolated, not calibrated

CONFORMAL, STUDENT_T, EXTRAPOLATED = "split-conformal", "Student t", "extrapolated"
BASES = (CONFORMAL, STUDENT_T, EXTRAPOLATED)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Half-widths per level and step, on the scaled target, from held-out forecasts."""

    residuals: list[int]  # residuals behind each calibrated step (step 1 first)
    half_widths: dict[str, list[float] | None]  # "80" -> one width per calibrated step; None: not calibrated
    method: str = METHOD
    refits: int = 0  # models retrained at earlier cutoffs whose forecasts gave the residuals; 0: the validation windows

    @property
    def steps(self) -> int:
        """Steps calibrated on residuals; later ones are extrapolated."""
        return len(self.residuals)

    def to_dict(self) -> dict:
        """JSON-ready, as stored in a bundle's metadata."""
        return {"method": self.method, "residuals": self.residuals, "refits": self.refits, "half_widths": self.half_widths}

    @classmethod
    def from_dict(cls, entry: dict) -> Calibration:
        """Reads `to_dict`'s form, or the form before residuals were counted per step (`windows`:
        one count for every step, and null widths for the levels those windows could not hold)."""
        widths = entry["half_widths"]
        if "residuals" in entry:
            return cls(list(entry["residuals"]), widths, entry["method"], entry.get("refits", 0))
        steps = max((len(w) for w in widths.values() if w is not None), default=0)
        return cls([entry["windows"]] * steps, widths, entry["method"])

    def basis(self, level: int, step: int) -> str:
        """How the width at `level` percent and `step` (from 1) was made: one of BASES."""
        if step > self.steps:
            return EXTRAPOLATED
        return CONFORMAL if self.residuals[step - 1] >= windows_needed(level) else STUDENT_T

    def widths(self, level: int, steps: int) -> np.ndarray:
        """Half-widths at `level` percent for steps 1..`steps`.

        Raises:
            ConfigError: the level is not a whole number in 1..99, or this calibration predates
                per-step residual counts and its windows were too few for the level.
        """
        check_level(level)
        widths = self.half_widths.get(str(level))
        if widths is None:
            raise ConfigError(
                f"a {level}% interval needs at least {windows_needed(level)} validation windows; this version was "
                f"calibrated on {self.residuals[0] if self.residuals else 0}, before intervals fell back to Student t. "
                "Retrain it, or use a lower --level."
            )
        widths = np.asarray(widths, float)
        if steps <= len(widths):
            return widths[:steps]
        later = np.arange(len(widths) + 1, steps + 1)
        return np.concatenate([widths, widths[-1] * np.sqrt(later / len(widths))])

    def summary(self, trained_horizon: int) -> str:
        """One line on what backs every level, as `forecast info` shows it."""
        most, fewest = self.residuals[0], self.residuals[-1]
        counts = f"{most}" if most == fewest else f"{most} to {fewest}"
        rolled = f", steps {trained_horizon + 1}-{self.steps} by rolled forecasts" if self.steps > trained_horizon else ""
        return (f"per step on {counts} {self._source}{rolled}: {CONFORMAL}, {STUDENT_T} where too few for the level; "
                f"{EXTRAPOLATED} by √step past step {self.steps}")

    @property
    def _source(self) -> str:
        return f"residuals of {self.refits} refits at earlier cutoffs" if self.refits else "validation residuals"

    def describe(self, level: int, steps: int) -> str:
        """Which basis backs each step of a `steps`-step interval at `level` percent, with the
        residual counts, e.g. "split-conformal at steps 1-6 (26 to 21 residuals), Student t at
        steps 7-12 (20 to 15 residuals)"."""
        runs, step = [], 1
        while step <= steps:
            basis = self.basis(level, step)
            end = step
            while end < steps and self.basis(level, end + 1) == basis:
                end += 1
            where = f"step {step}" if end == step else f"steps {step}-{end}"
            if basis == EXTRAPOLATED:
                runs.append(f"{where} {basis} from step {self.steps} by √(step / {self.steps})")
            else:
                counts = sorted({self.residuals[s - 1] for s in range(step, end + 1)}, reverse=True)
                count = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
                runs.append(f"{basis} at {where} ({count} residuals{f' of {self.refits} refits' if self.refits else ''})")
            step = end + 1
        return ", ".join(runs)


def calibrate(actual: np.ndarray, forecast: np.ndarray, refits: int = 0) -> Calibration:
    """Half-widths per step from held-out forecasts.

    For level ℓ and n residuals at a step, the split-conformal half-width is the k-th smallest
    absolute residual, with k = ceil((n + 1) · ℓ / 100). If the forecasts are exchangeable with
    future ones, the interval forecast ± half-width covers at least ℓ% of outcomes. Where k > n
    the width is t(n) at (1 + ℓ) / 2 times the residuals' root mean square. Widths never shrink
    as the level rises.

    Args:
        actual, forecast: (forecasts, steps) arrays on the scaled target; NaN in `actual` where a
            step lies past the data (a late origin's later steps).
        refits: how many retrained models made the forecasts (0: the validation windows' model).
    """
    actual = np.asarray(actual, float)
    errors = np.abs(actual - np.asarray(forecast, float))  # (forecasts, steps)
    return calibrate_residuals([column[known] for column, known in zip(errors.T, np.isfinite(actual).T)], refits)


def calibrate_residuals(residuals: list[np.ndarray], refits: int = 0) -> Calibration:
    """As `calibrate`, from each step's absolute residuals, for callers whose steps have
    residuals from different forecasts (no (forecasts, steps) array padded with NaN needed)."""
    residuals = [np.sort(np.asarray(r, float)) for r in residuals]
    if not all(len(r) for r in residuals):
        raise ValueError("every calibrated step needs at least one residual")
    widths = np.array([[_width(r, level) for r in residuals] for level in LEVELS])  # (levels, steps)
    widths = np.maximum.accumulate(widths, axis=0)
    return Calibration([len(r) for r in residuals], {str(level): row.tolist() for level, row in zip(LEVELS, widths)},
                       refits=refits)


def _width(residuals: np.ndarray, level: int) -> float:
    """One step's half-width at `level` percent from its sorted absolute residuals."""
    from scipy import stats  # only training calibrates; predict stays clear of scipy's import time

    n = len(residuals)
    k = math.ceil((n + 1) * level / 100)
    if k <= n:
        return float(residuals[k - 1])
    return float(stats.t.ppf((1 + level / 100) / 2, df=n) * np.sqrt(np.mean(residuals**2)))


def windows_needed(level: int) -> int:
    """The fewest residuals with a finite split-conformal width at `level` percent.

    ceil((n + 1) · ℓ / 100) <= n holds exactly when n >= ℓ / (100 − ℓ).
    """
    return math.ceil(level / (100 - level))


def check_level(level: int) -> None:
    """Raises ConfigError unless `level` is a whole percentage from 1 to 99."""
    if not isinstance(level, int) or level not in LEVELS:
        raise ConfigError(f"--level must be a whole percentage from 1 to 99. Received: {level}.")


def interval_bounds(forecast: np.ndarray, calibration: Calibration, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds at `level` percent around a forecast on the scaled target.

    Raises:
        ConfigError: see `Calibration.widths`.
    """
    widths = calibration.widths(level, len(forecast))
    return forecast - widths, forecast + widths


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside [lower, upper]."""
    actual = np.asarray(actual)
    return float(np.mean((actual >= lower) & (actual <= upper)))
