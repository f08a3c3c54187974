"""The one forecasting path: rows in the data's units to forecasts in the data's units.

Everything that forecasts with a trained network goes through `Forecaster`: `predict`, the
backtests of `evaluate`, promotion's scoring, training's validation metrics and the benchmark
scripts. The chain, in order:

1. scale each series' rows with its own saved scaler (fitted on its training rows only), and
   when the network reads date inputs (cycle positions, holidays), add them from the rows'
   timestamps (forecast.data.date_inputs);
2. cut the `lookback` rows before each forecast origin into a window, and take the known inputs
   of the rows after it (the future features' values, the date inputs) for the network's
   second input;
3. run the windows through the network (a runner: Keras's compiled batch call or LiteRT),
   `BATCH` windows at a time, so memory does not grow with windows x lookback;
4. past the trained horizon, feed each block of forecasts back as the newest input rows, beside
   those rows' known inputs, and run again (not for networks that read past-only features,
   whose future values are unknown);
5. undo the target's scaling;
6. on request, add the interval calibrated at training time (forecast.evaluation.intervals).

A worked example of the indices: a series of 100 rows, lookback 24, horizon 12, origins [90, 100].
Origin 90 forecasts rows 90..101 from the window of rows 66..89 and the known inputs of rows
90..101; origin 100 (one past the last row, the default) forecasts the future from rows 76..99
and the known inputs of rows 100..111, which the caller supplies as rows and timestamps past the
data (predict's --future-data). Known inputs past the steps asked for (a last block that runs
beyond them, rows past the end of the data in validation) are read as zero: each step's
forecast reads only its own step's known inputs and those of the steps before it, so they touch
no step that is returned or scored.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np
import pandas as pd

from forecast.data.date_inputs import DateInputs
from forecast.data.scaling import Scaler, inverse_target, scale_target
from forecast.data.windowing import input_windows
from forecast.errors import ConfigError, DataError
from forecast.evaluation.intervals import Calibration, interval_bounds
from forecast.model.runners import Runner

BATCH = 1024  # windows per runner call
MAX_BLOCKS = 1000  # trained horizons fed back at most: errors compound far sooner, and a huge --horizon must not spin


def check_steps(steps: int, trained_horizon: int, features: tuple[str, ...] | list[str],
                future_features: tuple[str, ...] | list[str] = ()) -> None:
    """Refuse a number of steps the network cannot forecast.

    Raises:
        ConfigError: not a whole number of at least 1; more than `MAX_BLOCKS` fed-back blocks; or
            beyond the trained horizon for a network that also reads past-only features.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ConfigError(f"--horizon must be a whole number of at least 1. Received: {steps}.")
    if steps > MAX_BLOCKS * trained_horizon:
        raise ConfigError(
            f"--horizon {steps} would feed forecasts back in {blocks(steps, trained_horizon):,} blocks of the trained "
            f"{trained_horizon}; at most {MAX_BLOCKS} are allowed (--horizon {MAX_BLOCKS * trained_horizon}). "
            "Retrain with a longer --horizon."
        )
    past_only = [name for name in features if name not in future_features]
    if steps > trained_horizon and past_only:
        raise ConfigError(
            f"--horizon {steps} is longer than the trained horizon ({trained_horizon}), and this model also "
            f"reads features ({', '.join(past_only)}) whose future values are unknown. "
            f"Use --horizon {trained_horizon} or less, or retrain with --horizon {steps} "
            "(or with those columns as --future-features, if their future values will be supplied)."
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
    features: tuple[str, ...] = ()  # input columns besides the target, the future features among them
    calibration: Calibration | None = None  # None: no intervals
    dates: DateInputs = DateInputs()  # date inputs read after the columns
    future_features: tuple[str, ...] = ()  # features whose values over the forecast period the network reads
    known_future: bool = True  # False: a network from before bundle format 5, which reads the lookback alone

    @property
    def rolls(self) -> bool:
        """Whether forecasts can be fed back past the trained horizon: every feature's future is known."""
        return all(name in self.future_features for name in self.features)

    @property
    def known_columns(self) -> list[int]:
        """Positions in a row of inputs of those the network reads over the forecast period."""
        return known_columns(self.features, self.future_features, self.dates) if self.known_future else []

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
                column 0; the `lookback` rows before each origin are read, and for future
                features the `steps` rows from it (their target is not read).
            steps: steps to forecast from each origin.
            origins: per series id, the rows where forecasts start (each at least `lookback`);
                by default one origin just past the last row, which forecasts the future.
            stamps: per series id, the timestamps of its rows, continued past them as far as the
                forecasts go; needed only by a network that reads date inputs.

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
        check_steps(steps, self.trained_horizon, self.features, self.future_features)
        if self.dates.width and stamps is None:
            raise ValueError("this network reads date inputs: pass each series' timestamps as `stamps`")
        keys = list(rows)
        starts = {key: _origins(rows[key], None if origins is None else origins[key]) for key in keys}
        reach = blocks(steps, self.trained_horizon) * self.trained_horizon  # rows from an origin whose known inputs are read
        # Only the rows the forecasts read are scaled: series end to end, each from its first
        # origin's window to its last origin's last block.
        parts, ids, offset = [], [], 0
        for key in keys:
            at = starts[key]
            if len(at) == 0:
                continue
            first = int(at.min()) - self.lookback
            if first < 0:
                raise ValueError(f"an origin before row {self.lookback} (the lookback) has no full window: {at.min()}")
            parts.append(self._inputs(key, rows[key], None if stamps is None else stamps[key], first,
                                      int(at.max()) + steps, int(at.max()) + reach))
            ids.append(offset + at - first)  # each origin's row in the table
            offset += len(parts[-1])
        if not parts:
            return {key: np.empty((0, steps)) for key in keys}
        table = np.concatenate(parts)  # (rows read, inputs)
        windows = input_windows(table, self.lookback)  # view: windows[p - lookback] ends just before row p
        after = input_windows(table, reach)  # view: after[p] is rows p .. p + reach - 1
        ids = np.concatenate(ids)
        out = np.concatenate([
            self._roll(np.ascontiguousarray(windows[ids[i : i + BATCH] - self.lookback]), after[ids[i : i + BATCH]], steps)
            for i in range(0, len(ids), BATCH)
        ])  # (all origins, steps)
        counts = np.cumsum([len(starts[key]) for key in keys])[:-1]
        return dict(zip(keys, np.split(out, counts)))

    def _inputs(self, key: str, rows: np.ndarray, stamps: pd.DatetimeIndex | None, first: int, needed: int, end: int) -> np.ndarray:
        """Rows [first, end) of series `key` as the network reads them: scaled columns, then date
        inputs; NaN past the rows and timestamps given, which must reach row `needed`."""
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = self.scalers[key].transform(rows[first:end]).astype("float32")
        table = np.full((end - first, scaled.shape[1] + self.dates.width), np.nan, dtype="float32")
        table[: len(scaled), : scaled.shape[1]] = scaled
        if self.dates.width:
            if len(stamps) < needed:
                raise ValueError(f"timestamps for {needed} rows are needed to forecast that far; {len(stamps)} were given")
            wanted = pd.DatetimeIndex(stamps[first:end])
            holidays = self.dates.holidays
            if holidays is not None and len(wanted) and wanted[-1].normalize() > pd.Timestamp(holidays.until):
                raise DataError(f"the rows reach {wanted[-1]:%Y-%m-%d}, past {holidays.until}, the last day this model knows "
                                f"the public holidays of {holidays.code} for. Retrain on recent data to extend them.")
            dated = self.dates(wanted)
            table[: len(dated), scaled.shape[1] :] = dated
        return table

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

    def _roll(self, windows: np.ndarray, after: np.ndarray, steps: int) -> np.ndarray:
        """Scaled forecasts of `steps` from scaled windows (n, lookback, inputs) and the rows
        after them (n, blocks x trained horizon, inputs): one run per trained horizon, reading
        that block's known inputs, each block's forecasts becoming the newest input rows of the next."""
        horizon, columns = self.trained_horizon, self.known_columns
        out, previous = [], None
        with np.errstate(over="ignore", invalid="ignore"):
            while len(out) * horizon < steps:
                block = np.nan_to_num(after[:, len(out) * horizon : (len(out) + 1) * horizon], nan=0.0)  # see the module's note
                if previous is not None:
                    windows = np.concatenate([windows, previous], axis=1)[:, -self.lookback :]
                out.append(self.runner(windows, block[:, :, columns] if columns else None))
                block[:, :, 0] = out[-1]  # fed back: the forecasts stand in for the target
                previous = block
        return np.concatenate(out, axis=1)[:, :steps]


def _origins(rows: np.ndarray, origins: np.ndarray | None) -> np.ndarray:
    return np.array([len(rows)]) if origins is None else np.asarray(origins, dtype=int)


def known_columns(features, future_features, dates: DateInputs) -> list[int]:
    """The positions, in a row of inputs ([target, *features, *date inputs]), of those known over
    the forecast period: the future features, then the date inputs."""
    columns = 1 + len(features)
    return [1 + list(features).index(name) for name in future_features] + list(range(columns, columns + dates.width))
