"""The one forecasting path: rows in the data's units to forecasts in the data's units.

Everything that forecasts with a trained network goes through `Forecaster`: `predict`, the
backtests of `evaluate`, promotion's scoring, training's validation metrics and the benchmark
scripts. The chain, in order:

1. scale each series' rows with its own saved scaler (fitted on its training rows only), and
   when the network reads cycle positions, add them from the rows' timestamps;
2. cut the `lookback` rows before each forecast origin into a window;
3. run the windows through the network (a runner: Keras's compiled batch call or LiteRT),
   `BATCH` windows at a time, so memory does not grow with windows x lookback;
4. past the trained horizon, feed each block of forecasts back as the newest input rows, with
   the cycle positions of their timestamps, and run again (not for networks that read features:
   a feature's future values are unknown);
5. undo the target's scaling;
6. on request, add the interval calibrated at training time (forecast.evaluation.intervals).

A worked example of the indices: a series of 100 rows, lookback 24, origins [90, 100]. Origin 90
forecasts rows 90.. from the window of rows 66..89; origin 100 (one past the last row, the
default) forecasts the future from rows 76..99.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from forecast.data.cycles import cycle_inputs
from forecast.data.scaling import Scaler, inverse_target, scale_target
from forecast.data.windowing import input_windows
from forecast.errors import ConfigError
from forecast.evaluation.intervals import Calibration, interval_bounds
from forecast.model.runners import Runner

BATCH = 1024  # windows per runner call
MAX_BLOCKS = 1000  # trained horizons fed back at most: errors compound far sooner, and a huge --horizon must not spin


def check_steps(steps: int, trained_horizon: int, features: tuple[str, ...] | list[str]) -> None:
    """Refuse a number of steps the network cannot forecast.

    Raises:
        ConfigError: not a whole number of at least 1; more than `MAX_BLOCKS` fed-back blocks; or
            beyond the trained horizon for a network that also reads features.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"--horizon must be a whole number of at least 1. Received: {steps}.")
    if steps > MAX_BLOCKS * trained_horizon:
        raise ConfigError(
            f"--horizon {steps} would feed forecasts back in {blocks(steps, trained_horizon):,} blocks of the trained "
            f"{trained_horizon}; at most {MAX_BLOCKS} are allowed (--horizon {MAX_BLOCKS * trained_horizon}). "
            "Retrain with a longer --horizon."
        )
    if steps > trained_horizon and features:
        raise ConfigError(
            f"--horizon {steps} is longer than the trained horizon ({trained_horizon}), and this model also "
            f"reads features ({', '.join(features)}) whose future values are unknown. "
            f"Use --horizon {trained_horizon} or less, or retrain with --horizon {steps}."
        )


def blocks(steps: int, trained_horizon: int) -> int:
    """Runs of the network needed for `steps` (one per trained horizon, rounded up)."""
    return -(-steps // trained_horizon)


@dataclasses.dataclass(frozen=True)
class Forecaster:
    """A trained network with its scalers, lookback, trained horizon and interval calibration."""

    runner: Runner
    scalers: Mapping[str, Scaler]  # one per series id ("" for a single series)
    lookback: int  # rows each forecast reads
    trained_horizon: int  # steps one run of the network forecasts
    features: tuple[str, ...] = ()  # input columns besides the target (they block feeding back)
    calibration: Calibration | None = None  # None: no intervals
    cycles: tuple[str, ...] = ()  # cycle positions read as inputs after the columns (forecast.data.cycles)

    def forecast(
        self,
        rows: Mapping[str, np.ndarray],
        steps: int,
        origins: Mapping[str, np.ndarray] | None = None,
        stamps: Mapping[str, pd.DatetimeIndex] | None = None,
    ) -> dict[str, np.ndarray]:
        """Forecasts in the data's units.

        Args:
            rows: per series id, its rows in the data's units, (rows, columns) with the target in
                column 0; only the `lookback` rows before each origin are read.
            steps: steps to forecast from each origin.
            origins: per series id, the rows where forecasts start (each at least `lookback`);
                by default one origin just past the last row, which forecasts the future.
            stamps: per series id, the timestamps of its rows, continued past them as far as the
                forecasts go; needed only by a network that reads cycle positions.

        Returns:
            Per series id, (origins, steps) forecasts. They are not finite where the input lies
            far outside the training range; callers that print them refuse that.
        """
        scaled = self.forecast_scaled(rows, steps, origins, stamps)
        return {key: self.unscale(key, values) for key, values in scaled.items()}

    def forecast_scaled(
        self,
        rows: Mapping[str, np.ndarray],
        steps: int,
        origins: Mapping[str, np.ndarray] | None = None,
        stamps: Mapping[str, pd.DatetimeIndex] | None = None,
    ) -> dict[str, np.ndarray]:
        """Like `forecast`, on the scaled target (for calibrating intervals, which live there)."""
        check_steps(steps, self.trained_horizon, self.features)
        if self.cycles and stamps is None:
            raise ValueError("this network reads cycle positions: pass each series' timestamps as `stamps`")
        keys = list(rows)
        starts = {key: _origins(rows[key], None if origins is None else origins[key]) for key in keys}
        fed_back = (blocks(steps, self.trained_horizon) - 1) * self.trained_horizon  # rows forecast, then read
        # Only the rows the windows read are scaled: series end to end, one window per origin.
        parts, ids, later, offset = [], [], [], 0
        for key in keys:
            at = starts[key]
            if len(at) == 0:
                continue
            first = int(at.min()) - self.lookback
            if first < 0:
                raise ValueError(f"an origin before row {self.lookback} (the lookback) has no full window: {at.min()}")
            with np.errstate(over="ignore", invalid="ignore"):
                part = self.scalers[key].transform(rows[key][first : int(at.max())]).astype("float32")
            if self.cycles:
                positions = _cycle_rows(stamps[key], first, int(at.max()) + fed_back, self.cycles)
                part = np.concatenate([part, positions[: len(part)]], axis=1)
                # Each origin's fed-back rows: the cycle positions of the steps it forecasts.
                later.append(np.stack([positions[o - first : o - first + fed_back] for o in at]))
            parts.append(part)  # (rows read, inputs)
            ids.append(offset + at - self.lookback - first)
            offset += len(part)
        if not parts:
            return {key: np.empty((0, steps)) for key in keys}
        windows = input_windows(np.concatenate(parts), self.lookback)  # view: (rows - lookback + 1, lookback, inputs)
        ids = np.concatenate(ids)
        later = np.concatenate(later) if later else None  # (all origins, fed-back rows, cycle inputs)
        out = np.concatenate([
            self._roll(np.ascontiguousarray(windows[ids[i : i + BATCH]]), steps, None if later is None else later[i : i + BATCH])
            for i in range(0, len(ids), BATCH)
        ])  # (all origins, steps)
        counts = np.cumsum([len(starts[key]) for key in keys])[:-1]
        return dict(zip(keys, np.split(out, counts)))

    def unscale(self, key: str, scaled: np.ndarray) -> np.ndarray:
        """Scaled target values of series `key` back to the data's units."""
        with np.errstate(over="ignore", invalid="ignore"):
            return inverse_target(self.scalers[key], scaled)

    def interval(self, key: str, forecast: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds at `level` percent around one forecast of series `key`.

        Raises:
            ConfigError: no calibration, or a level it cannot give.
        """
        if self.calibration is None:
            raise ConfigError("this bundle holds no interval calibration. Retrain it to use --level.")
        scaler = self.scalers[key]
        # The widths are calibrated on the scaled target, so the bounds are made there and mapped
        # back: equal widths in the data's units, or, in the log form, equal ratios.
        with np.errstate(over="ignore", invalid="ignore"):
            lower, upper = interval_bounds(scale_target(scaler, forecast), self.calibration, level)
            return inverse_target(scaler, lower), inverse_target(scaler, upper)

    def _roll(self, windows: np.ndarray, steps: int, later: np.ndarray | None) -> np.ndarray:
        """Scaled forecasts of `steps` from scaled windows (n, lookback, inputs): one run per
        trained horizon, each block becoming the newest input rows of the next, beside the cycle
        positions of its steps from `later` (n, fed-back rows, cycle inputs) when the network reads them."""
        horizon = self.trained_horizon
        with np.errstate(over="ignore", invalid="ignore"):
            out = [self.runner(windows)]  # [(n, trained horizon)]
            while len(out) * horizon < steps:
                new = out[-1][:, :, None].astype(windows.dtype)  # (n, horizon, 1)
                if later is not None:
                    done = (len(out) - 1) * horizon
                    new = np.concatenate([new, later[:, done : done + horizon]], axis=2)
                windows = np.concatenate([windows, new], axis=1)[:, -self.lookback :]
                out.append(self.runner(windows))
        return np.concatenate(out, axis=1)[:, :steps]


def _origins(rows: np.ndarray, origins: np.ndarray | None) -> np.ndarray:
    return np.array([len(rows)]) if origins is None else np.asarray(origins, dtype=int)


def _cycle_rows(stamps: pd.DatetimeIndex, start: int, end: int, cycles: tuple[str, ...]) -> np.ndarray:
    """Cycle positions of rows [start, end), from timestamps that must reach that far."""
    if len(stamps) < end:
        raise ValueError(f"timestamps for {end} rows are needed to forecast that far; {len(stamps)} were given")
    return cycle_inputs(pd.DatetimeIndex(stamps[start:end]), cycles)
