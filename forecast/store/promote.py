"""Whether a newly trained model replaces the current one: both scored on the same recent windows.

The holdout is the new run's validation windows: the most recent stretch of the data, which the
new model never fitted its weights to (it chose its epoch on them). Each model reads them through
its own scaler and lookback, and both are scored by MAE in the data's units over the steps they
both forecast, beside the naive baseline on the same windows. With nightly retraining on the same
options, yesterday's model validated on nearly the same stretch, so neither was fitted to it; a
current model trained with a smaller --val-fraction, or on later data, has seen some of these
windows and is favoured by the comparison: that errs on the side of keeping what serves.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from forecast.config import Promote
from forecast.errors import ForecastError
from forecast.data.scaling import inverse_target
from forecast.data.windowing import input_windows, target_windows


@dataclasses.dataclass
class Verdict:
    promote: bool
    reason: str
    scores: dict  # model_mae, current_mae, naive_mae, windows, steps (empty when nothing was compared)


def judge(fitted, current, policy: Promote) -> Verdict:
    """Decide whether the model in `fitted` (a forecast.train.Fitted) replaces `current`.

    Args:
        fitted: the new model with its prepared data and splits.
        current: the current version's Bundle, or None when there is none.
        policy: the --promote rule.
    """
    if current is None:
        return Verdict(True, "first version in this directory", {})
    try:
        scores = score_both(fitted, current)
    except ForecastError as exc:
        # A current model that cannot read today's data (other columns, series or a damaged
        # file) cannot serve it either: the new one takes over.
        return Verdict(True, f"the current version cannot be scored on this data ({exc})", {})
    new, old, naive = scores["model_mae"], scores["current_mae"], scores["naive_mae"]
    if not math.isfinite(new):
        return Verdict(False, "its holdout forecasts are not finite numbers", {})
    if not math.isfinite(old):
        return Verdict(True, "the current version's holdout forecasts are not finite numbers", {})
    compared = f"holdout MAE {new:.4g} vs current {old:.4g} (naive {naive:.4g}, {scores['windows']} windows)"
    if old < naive <= new:
        return Verdict(False, f"it does not beat the naive baseline and the current version does: {compared}", scores)
    if Promote(policy) is Promote.always:
        return Verdict(True, f"--promote always: {compared}", scores)
    if new <= old:
        return Verdict(True, f"at least as good as the current version: {compared}", scores)
    return Verdict(False, f"worse than the current version: {compared}", scores)


def score_both(fitted, current) -> dict:
    """MAE of the new model, the current one and naive on the new run's validation windows.

    Raises:
        ForecastError: the current model cannot be applied to this data.
    """
    from forecast.store.bundle import load_model
    from forecast.train import predict_windows

    prepared = fitted.prepared
    panel, config = prepared.panel, prepared.config
    first = panel.first
    meta = current.metadata
    if meta["target"] != first.target or list(meta["features"]) != list(first.features):
        raise ForecastError(f"it forecasts {meta['target']!r} from {[meta['target'], *meta['features']]}")
    missing = [key for key in panel.series if key not in current.scalers]
    if missing:
        raise ForecastError(f"it does not know series {', '.join(map(repr, missing[:3]))}")
    old_model = load_model(current)
    longest = max(config.lookback, current.lookback)
    steps = min(config.horizon, current.horizon)
    errors = {"model": [], "current": [], "naive": []}
    for key, series in panel.series.items():
        split = prepared.splits[key]
        values = series.frame.to_numpy()
        # Forecast origins: the first step of each validation window, where both lookbacks fit.
        origins = np.arange(split.val_start, split.n_windows) + config.lookback
        origins = origins[origins >= longest]
        if len(origins) == 0:
            continue
        actual = target_windows(values[:, 0], 0, steps)[origins]  # rows origin .. origin+steps-1
        for name, model, scaler, lookback in (
            ("model", fitted.model, prepared.scalers[key], config.lookback),
            ("current", old_model, current.scalers[key], current.lookback),
        ):
            scaled = scaler.transform(values).astype("float32")
            forecast = predict_windows(model, input_windows(scaled, lookback), origins - lookback)[:, :steps]
            errors[name].append(np.abs(inverse_target(scaler, forecast) - actual).ravel())
        errors["naive"].append(np.abs(values[origins - 1, 0][:, None] - actual).ravel())
    if not errors["model"]:
        raise ForecastError("no validation window is long enough for its lookback")
    out = {f"{name}_mae": float(np.mean(np.concatenate(parts))) for name, parts in errors.items()}
    return {**out, "windows": int(sum(len(p) for p in errors["naive"]) // steps), "steps": steps}

