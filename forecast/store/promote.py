"""Whether a newly trained model replaces the current one: both scored on the same recent windows.

The holdout is the new run's validation windows: the most recent stretch of the data, which the
new model never fitted its weights to (it chose its epoch on them). Each model forecasts them
through its own forecaster (its scalers and lookback), and both are scored by MAE in the data's
units over the steps they both forecast, beside the naive baseline on the same windows. With
nightly retraining on the same options, yesterday's model validated on nearly the same stretch,
so neither was fitted to it; a current model trained with a smaller --val-fraction, or on later
data, has seen some of these windows and is favoured by the comparison: that errs on the side of
keeping what serves.

Each model reads its own columns, over the series both know. Where the current version cannot be
scored at all (another target, columns the data truly lacks, no series in common), the new one
must beat naive on its validation windows instead. A run whose data lacks series the current
version forecasts is never promoted unless asked (`--promote always`), so a file that lost a
series overnight cannot drop it from what predict serves. MAEs within TOLERANCE of each other
are the same score: an identical rerun is as good as the current version.

Scoring (`score`) runs the networks; deciding (`decide`) is a pure function of the scores.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from forecast.config import Engine, Promote
from forecast.data.windowing import target_windows
from forecast.data.load import Panel
from forecast.errors import ForecastError, names, printable, quote
from forecast.model.fit import Fitted
from forecast.store.bundle import Bundle
from forecast.store.metadata import Metadata, Promotion


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


# Relative gap under which two holdout MAEs are the same score: the same model rescored in another
# process differs in the 8th digit (float32 kernels summed in another order).
TOLERANCE = 1e-6


class Unscorable(Exception):
    """The current version cannot forecast this run's holdout: the reason, in words."""


def judge(fitted: Fitted, current: Bundle | None, policy: Promote, reread: Panel | None = None) -> Verdict:
    """Whether the model in `fitted` replaces `current` (None: there is none), under `policy`.

    `reread` is this run's data read again with the current version's columns, where this run
    reads other ones (see `score`).
    """
    if current is None:
        return Verdict(True, "first version in this directory")
    lost = lost_series(fitted.prepared.panel, current.metadata)
    if lost and Promote(policy) is not Promote.always:
        return Verdict(False, f"it does not know {_series(lost, current.metadata.id_col)}, which the current version "
                              "forecasts and this run's data lacks; the current version keeps serving them. Train on data "
                              "that holds them, or pass --promote always to drop them")
    try:
        scores = score(fitted, current, reread)
    except Unscorable as exc:
        return unscored(fitted, str(exc), policy)
    except ForecastError as exc:  # its network does not load: it cannot serve, so anything complete replaces it
        return Verdict(True, f"the current version does not load ({exc})")
    return decide(scores, policy)


def lost_series(panel: Panel, meta: Metadata) -> list[str]:
    """The series the current version forecasts that a model trained on `panel` would not know,
    by id whatever the id column is called ("" is a file of one series, without one)."""
    return [key for key in meta.ids if key not in panel.series]


def _series(keys: list[str], id_col: str | None) -> str:
    """Series ids for a message; "" is the one series of a file without an id column."""
    if keys == [""]:
        return "the one series of a file without an id column"
    return f"series {names(keys[:5])}{' and others' if len(keys) > 5 else ''} (by {printable(str(id_col))})"


def unscored(fitted: Fitted, why: str, policy: Promote) -> Verdict:
    """The verdict when the current version cannot forecast this data: the new model must at
    least beat naive on its validation windows (or `--promote always`)."""
    metrics = fitted.metrics
    new, naive = metrics.val_mae, metrics.naive_mae
    if Promote(policy) is Promote.always:
        return Verdict(True, f"--promote always; the current version cannot be scored on this data ({why})")
    if naive is not None and math.isfinite(new) and new < naive:
        return Verdict(True, f"the current version cannot be scored on this data ({why}), and it beats naive on "
                             f"validation: MAE {new:.4g} vs naive {naive:.4g}")
    against = "" if naive is None else f": MAE {new:.4g} vs naive {naive:.4g}"
    return Verdict(False, f"the current version cannot be scored on this data ({why}), and it does not beat naive on "
                          f"validation{against}")


def decide(scores: Scores, policy: Promote) -> Verdict:
    """The promotion rule: the new model must do at least as well as the current one (within
    TOLERANCE; or, with `--promote always`, merely complete), and never replaces one that beats
    naive by one that does not."""
    new, old, naive = scores.model_mae, scores.current_mae, scores.naive_mae
    if not math.isfinite(new):
        return Verdict(False, "its holdout forecasts are not finite numbers")
    if not math.isfinite(old):
        return Verdict(True, "the current version's holdout forecasts are not finite numbers")
    same = math.isclose(new, old, rel_tol=TOLERANCE)
    compared = f"holdout MAE {new:.4g} vs current {old:.4g} (naive {naive:.4g}, {scores.windows} windows)"
    if old < naive <= new and not same:
        return Verdict(False, f"it does not beat the naive baseline and the current version does: {compared}", scores)
    if Promote(policy) is Promote.always:
        return Verdict(True, f"--promote always: {compared}", scores)
    if same:
        return Verdict(True, f"as good as the current version: {compared}", scores)
    if new < old:
        return Verdict(True, f"better than the current version: {compared}", scores)
    return Verdict(False, f"worse than the current version: {compared}", scores)


def score(fitted: Fitted, current: Bundle, reread: Panel | None = None) -> Scores:
    """MAE of the new model, the current one and naive on the new run's validation windows, over
    the series both know.

    Each model reads its own columns: the current one's come from this run's data, or, where this
    run reads other columns, from `reread` (the same data read again with the current version's).

    Raises:
        Unscorable: the current model cannot forecast this data (another target, columns the data
            lacks, no series in common, a lookback no validation window fits).
        BundleError: its network does not load.
    """
    prepared = fitted.prepared
    panel, config = prepared.panel, prepared.config
    meta = current.metadata
    if meta.target != panel.first.target:
        raise Unscorable(f"it forecasts {quote(meta.target)}, this run {quote(panel.first.target)}")
    shared = [key for key in panel.series if key in current.scalers]  # by id, whatever the id column is called
    if not shared:
        raise Unscorable("it knows none of this run's series")
    rows, old_rows, origins, stamps = {}, {}, {}, {}
    for key in shared:
        series = panel.series[key]
        rows[key], stamps[key] = series.frame.to_numpy(), series.frame.index
        old_rows[key] = _columns(series.frame, meta.columns, None if reread is None else reread.series.get(key))
        split = prepared.splits[key]
        # Forecast origins: the first step of each validation window, where both lookbacks fit.
        at = np.arange(split.val_start, split.n_windows) + config.lookback
        origins[key] = at[at >= max(config.lookback, meta.lookback)]
    if not any(len(at) for at in origins.values()):
        raise Unscorable("no validation window is long enough for its lookback")
    old, _ = current.forecaster(Engine.keras)  # the same compiled batch call the new model's scores use
    new = fitted.forecaster()
    steps = min(new.trained_horizon, old.trained_horizon)
    forecasts = {"model": new.forecast(rows, steps, origins, stamps), "current": old.forecast(old_rows, steps, origins, stamps)}
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


def _columns(frame: pd.DataFrame, columns: list[str], reread) -> np.ndarray:
    """The rows of `frame` as a model reading `columns` reads them: from `frame` when it holds them,
    else from `reread` (a Series read with those columns) at the same timestamps.

    Raises:
        Unscorable: neither holds them on the same timestamps.
    """
    if all(column in frame.columns for column in columns):
        return frame[columns].to_numpy()
    if reread is not None and frame.index.isin(reread.frame.index).all() and all(c in reread.frame.columns for c in columns):
        return reread.frame.loc[frame.index, columns].to_numpy()
    absent = [column for column in columns if column not in frame.columns]
    raise Unscorable(f"it reads {names(absent)}, which this run's data does not hold")
