"""Preparing series for a network: each split into training and validation windows, its scaler
fitted on its training rows only, the default lookback, and the date inputs resolved.

No Keras here, so bad input is refused before the import.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import CycleInputs, TargetTransform, TrainConfig
from forecast.data.cycles import cycles_for
from forecast.data.date_inputs import DateInputs
from forecast.data.frequency import check_forecast_end, describe_frequency, frequency_kind, season_length
from forecast.data.load import Panel
from forecast.data.public_holidays import load_holidays
from forecast.data.scaling import Scaler, first_not_positive, fit_scaler
from forecast.data.windowing import Split, plan_split
from forecast.errors import ConfigError, DataError
from forecast.model.forecaster import known_columns

Log = Callable[[str], None]

@dataclasses.dataclass
class Prepared:
    """Series split and scaled, each on its own, checked before Keras is imported."""

    panel: Panel
    config: TrainConfig  # with the lookback resolved
    splits: dict[str, Split]
    scalers: dict[str, Scaler]
    dates: DateInputs = DateInputs()  # cycle positions and holidays the network reads (resolved)

    @property
    def n_inputs(self) -> int:
        """Inputs per window step: the columns (target first), then the date inputs."""
        return len(self.panel.first.columns) + self.dates.width

    @property
    def known_columns(self) -> list[int]:
        """Which of a row's inputs are known over the forecast period: the future features, then the date inputs."""
        return known_columns(self.panel.first.features, self.panel.first.future_features, self.dates)

    def inputs(self, key: str) -> np.ndarray:
        """Series `key`'s rows as the network reads them: scaled, then its date inputs."""
        series = self.panel.series[key]
        scaled = self.scalers[key].transform(series.frame.to_numpy())
        return np.concatenate([scaled, self.dates(series.frame.index)], axis=1)


def default_lookback(panel: Panel, config: TrainConfig) -> int:
    """The lookback training on `panel` chooses when none is set: two seasons or two horizons,
    whichever is longer, but no more than the shortest series can spare after three horizons (so
    it still has windows to learn from)."""
    horizon = config.horizon
    shortest = min(len(s.frame) for s in panel.series.values())
    wanted = max(2 * season_length(panel.first.frequency), 2 * horizon, 8)
    return max(1, min(wanted, max(horizon, shortest - 3 * horizon)))


def prepare(panel: Panel, train_config: TrainConfig, log: Log = lambda message: None) -> Prepared:
    """Split each series' windows and fit its scaler on its training rows only (no Keras).

    Raises:
        DataError: a series too short for the windows, or with a column constant in its training part.
    """
    config = train_config
    if config.lookback is None:
        config = dataclasses.replace(config, lookback=default_lookback(panel, config))
    log_target = config.target_transform is TargetTransform.log
    if log_target:
        _check_positive(panel)
    splits, scalers = {}, {}
    for key, series in panel.series.items():
        try:
            split = plan_split(len(series.frame), config.lookback, config.horizon, config.val_fraction)
            # A model whose forecasts could not be dated is refused now, not at its first predict.
            check_forecast_end(series.frame.index[-1], config.horizon, series.frequency, "the series")
            values = series.frame.to_numpy()  # (rows, columns); column 0 is the target
            splits[key], scalers[key] = split, fit_scaler(values[: split.boundary], series.columns, log_target)
        except DataError as exc:
            raise DataError(f"series {key!r}: {exc}" if key else str(exc)) from None
    cycles = cycles_for(panel.first.frequency) if config.cycle_inputs is CycleInputs.auto else ()
    return Prepared(panel, config, splits, scalers, DateInputs(cycles, _holidays(panel, config.holidays, log)))


def _holidays(panel: Panel, code: str | None, log: Log):
    """The holidays of `code` over the panel's years and YEARS_AHEAD after, or None.

    Raises:
        ConfigError: an unknown code, or data whose steps are longer than a day (a holiday is a day).
    """
    if code is None:
        return None
    frequency = panel.first.frequency
    if frequency_kind(frequency) not in ("s", "min", "h", "D", "B"):
        raise ConfigError(f"--holidays marks days, so it needs daily or finer data; this series is "
                          f"{describe_frequency(frequency)}. Drop --holidays, or add your own holiday column with --future-features.")
    first = min(s.frame.index[0] for s in panel.series.values())
    last = max(s.frame.index[-1] for s in panel.series.values())
    holidays = load_holidays(code, first, last)
    inside = [day for day in holidays.dates if first.normalize() <= pd.Timestamp(day) <= last]
    log(f"holidays {code}: {len(inside)} in the data" + (f" ({inside[0]} to {inside[-1]})" if inside else "")
        + f", known to {holidays.until} for forecasts")
    return holidays


def _check_positive(panel: Panel) -> None:
    """Raises DataError unless every target value is above zero (the log form needs it)."""
    for key, series in panel.series.items():
        found = first_not_positive(series.frame[series.target])
        if found is not None:
            where = f"series {key!r} " if key else ""
            raise DataError(
                f"--target-transform log needs a target above zero in every row; {where}column {series.target!r} "
                f"is {found[1]:g} at {found[0]}. Use --target-transform none."
            )
