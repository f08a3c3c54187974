"""Rolling origins: train on the rows before a cutoff, forecast from the origins after it, and pair
each forecast with what happened.

The one engine behind every measurement of a model on data it did not train on: backtest folds
(forecast.evaluate), tune trials (forecast.tune), interval refits (forecast.model.fit) loop over
cutoffs with `roll`; validation (forecast.model.fit) and promotion scoring (forecast.store.promote)
score a model already trained with `ahead`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Sequence, TypeVar

import numpy as np
import pandas as pd

from forecast.config import TrainConfig
from forecast.data.load import Panel
from forecast.model.forecaster import Forecaster
from forecast.model.prepare import Prepared, default_lookback, prepare

Trained = TypeVar("Trained")
Pairs = dict[str, tuple[np.ndarray, np.ndarray]]  # per series: (actual, forecast), each (origins, steps)


def ahead(forecaster: Forecaster, panel: Panel, origins: dict[str, np.ndarray], steps: int,
          rows: dict[str, np.ndarray] | None = None) -> Pairs:
    """Per series of `origins`, what happened `steps` ahead of each origin and what `forecaster`
    forecast, both (origins, steps) in the data's units; the actual value is NaN past the data's end.

    Args:
        rows: per series, the rows the forecaster reads (target first), where they are not the
            panel's own (a model that reads other columns).
    """
    rows = rows or {key: panel.series[key].frame.to_numpy() for key in origins}
    stamps = {key: continued(panel.series[key], steps) for key in origins}
    forecasts = forecaster.forecast({key: rows[key] for key in origins}, steps, origins, stamps)
    pairs = {}
    for key, at in origins.items():
        target = np.concatenate([rows[key][:, 0], np.full(steps, np.nan)])
        pairs[key] = (np.lib.stride_tricks.sliding_window_view(target, steps)[at], forecasts[key])
    return pairs


def roll(panel: Panel, config: TrainConfig, cuts: Sequence[dict[str, int]], origins: Sequence[dict[str, np.ndarray]],
         steps: int, train: Callable[[Prepared], Trained],
         forecaster: Callable[[Trained], Forecaster] = lambda fitted: fitted.forecaster()) -> Iterator[tuple[Trained, Pairs]]:
    """For each cutoff in turn: `train` on each series' rows before it (its scalers fitted on
    them too: nothing at or after the cutoff is seen), then the pairs of `ahead` from that
    cutoff's origins. Every cutoff trains with one lookback: the one set, or the one training
    would choose on the earliest cutoff's rows.

    Args:
        cuts: per cutoff, each series' first row not trained on.
        origins: per cutoff, each series' origins to forecast from (at or after its cutoff).
        train: a prepared panel -> a trained model (`fit`, or an interval refit's training).
        forecaster: the trained model -> its forecaster.
    """
    config = with_lookback(config, panel.head(min(cuts, key=lambda cut: min(cut.values()))))
    for cut, at in zip(cuts, origins):
        trained = train(prepare(panel.head(cut), config))
        yield trained, ahead(forecaster(trained), panel, at, steps)


def with_lookback(config: TrainConfig, panel: Panel) -> TrainConfig:
    """`config` with its lookback set: as given, or the one training on `panel` would choose."""
    return config if config.lookback is not None else dataclasses.replace(config, lookback=default_lookback(panel, config))


def continued(series, steps: int) -> pd.DatetimeIndex:
    """A series' timestamps continued `steps` past its end (forecasts past it read their date inputs)."""
    index = series.frame.index
    return index.append(pd.date_range(index[-1], periods=steps + 1, freq=series.step)[1:])
