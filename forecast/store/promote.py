"""Whether a newly trained model replaces the current one: both scored on the same recent windows.

The holdout is the new run's validation windows: the most recent stretch of the data, which the
new model never fitted its weights to (it chose its epoch on them). Each model forecasts them
through its own forecaster (its scalers and lookback), and both are scored by MAE in the data's
units over the steps they both forecast, beside the naive baseline on the same windows. With
nightly retraining on the same options, yesterday's model validated on nearly the same stretch,
so neither was fitted to it; a current model trained with a smaller --val-fraction, or on later
data, has seen some of these windows and is favoured by the comparison: that errs on the side of
keeping what serves.

Scoring (`score`) runs the networks; deciding (`decide`) is a pure function of the scores.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from forecast.config import Engine, Promote
from forecast.data.windowing import target_windows
from forecast.errors import ForecastError
from forecast.model.fit import Fitted
from forecast.store.bundle import Bundle
from forecast.store.metadata import Promotion


@dataclasses.dataclass(frozen=True)
class Scores:
    """MAEs on the holdout, in the data's units, over `steps` steps of `windows` windows."""

    model_mae: float  # the new model
    current_mae: float  # the current version
    naive_mae: float  # repeating the last value
    windows: int
    steps: int


@dataclasses.dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str
    scores: Scores | None = None  # None when nothing was compared

    def record(self, policy: Promote, against: str | None) -> Promotion:
        """The decision as the new bundle stores it."""
        scores = {} if self.scores is None else dataclasses.asdict(self.scores)
        return Promotion(Promote(policy).value, self.promote, self.reason, against, scores)


def judge(fitted: Fitted, current: Bundle | None, policy: Promote) -> Verdict:
    """Whether the model in `fitted` replaces `current` (None: there is none), under `policy`."""
    if current is None:
        return Verdict(True, "first version in this directory")
    try:
        scores = score(fitted, current)
    except ForecastError as exc:
        # A current model that cannot read today's data (other columns, series or a damaged
        # file) cannot serve it either: the new one takes over.
        return Verdict(True, f"the current version cannot be scored on this data ({exc})")
    return decide(scores, policy)


def decide(scores: Scores, policy: Promote) -> Verdict:
    """The promotion rule: the new model must do at least as well as the current one (or, with
    `--promote always`, merely complete), and never replaces one that beats naive by one that
    does not."""
    new, old, naive = scores.model_mae, scores.current_mae, scores.naive_mae
    if not math.isfinite(new):
        return Verdict(False, "its holdout forecasts are not finite numbers")
    if not math.isfinite(old):
        return Verdict(True, "the current version's holdout forecasts are not finite numbers")
    compared = f"holdout MAE {new:.4g} vs current {old:.4g} (naive {naive:.4g}, {scores.windows} windows)"
    if old < naive <= new:
        return Verdict(False, f"it does not beat the naive baseline and the current version does: {compared}", scores)
    if Promote(policy) is Promote.always:
        return Verdict(True, f"--promote always: {compared}", scores)
    if new <= old:
        return Verdict(True, f"at least as good as the current version: {compared}", scores)
    return Verdict(False, f"worse than the current version: {compared}", scores)


def score(fitted: Fitted, current: Bundle) -> Scores:
    """MAE of the new model, the current one and naive on the new run's validation windows.

    Raises:
        ForecastError: the current model cannot be applied to this data.
    """
    prepared = fitted.prepared
    panel, config = prepared.panel, prepared.config
    first, meta = panel.first, current.metadata
    if meta.target != first.target or list(meta.features) != list(first.features):
        raise ForecastError(f"it forecasts {meta.target!r} from {[meta.target, *meta.features]}")
    missing = [key for key in panel.series if key not in current.scalers]
    if missing:
        raise ForecastError(f"it does not know series {', '.join(map(repr, missing[:3]))}")
    old, _ = current.forecaster(Engine.keras)  # the same compiled batch call the new model's scores use
    new = fitted.forecaster()
    longest = max(new.lookback, old.lookback)
    steps = min(new.trained_horizon, old.trained_horizon)
    rows, origins = {}, {}
    stamps = {key: series.frame.index for key, series in panel.series.items()}
    for key, series in panel.series.items():
        split = prepared.splits[key]
        # Forecast origins: the first step of each validation window, where both lookbacks fit.
        at = np.arange(split.val_start, split.n_windows) + config.lookback
        rows[key], origins[key] = series.frame.to_numpy(), at[at >= longest]
    if not any(len(at) for at in origins.values()):
        raise ForecastError("no validation window is long enough for its lookback")
    forecasts = {"model": new.forecast(rows, steps, origins, stamps), "current": old.forecast(rows, steps, origins, stamps)}
    errors = {"model": [], "current": [], "naive": []}
    for key, values in rows.items():
        at = origins[key]
        actual = target_windows(values[:, 0], 0, steps)[at]  # rows origin .. origin+steps-1
        for name in ("model", "current"):
            errors[name].append(np.abs(forecasts[name][key] - actual).ravel())
        errors["naive"].append(np.abs(values[at - 1, 0][:, None] - actual).ravel())
    mae = {name: float(np.mean(np.concatenate(parts))) for name, parts in errors.items()}
    windows = int(sum(len(at) for at in origins.values()))
    return Scores(mae["model"], mae["current"], mae["naive"], windows, steps)
