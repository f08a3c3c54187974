"""Warm start (`train --warm-start`): the current version's weights as the new version's starting
point, when its network has the shape this run's would have; otherwise a fresh start, with a note.

What must match is what the weights mean: the columns and date inputs in their order, the windows
(lookback, horizon), the network's shape (cell, layers, units, linear path, ensemble) and the
target's transform. What may differ is how training runs (dropout, loss, learning rate, epochs,
seed, the rows themselves): the scalers are refitted on this run's training rows either way.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from forecast.config import WindowNorm
from forecast.data.frequency import season_length
from forecast.errors import ForecastError
from forecast.model.fit import BASELINE_CANDIDATES, Prepared, Start
from forecast.store.bundle import Bundle
from forecast.store.metadata import Metadata

Log = Callable[[str], None]


def start_from_current(current: Bundle | None, version: str | None, prepared: Prepared, log: Log) -> Start | None:
    """The weights to start from, or None (with a note saying why) to start from fresh ones.

    Args:
        current: the current version's bundle, or None when there is none or it cannot be read.
        version: its id.
        prepared: this run's series and options (see forecast.model.fit.prepare).
    """
    if current is None or version is None:
        log("warm start: there is no readable current version to start from; training from scratch")
        return None
    problem = mismatch(current.metadata, prepared)
    if problem is None:
        try:
            weights = current.load_model().get_weights()
        except ForecastError as exc:
            problem = f"its network does not load: {exc}"
    norm = WindowNorm(kept_norm(current.metadata)) if problem is None else None
    if problem is None and not _same_shapes(prepared, norm, weights):
        problem = "its network has other layers (an older forecast trained it)"
    if problem is not None:
        log(f"warm start: version {version} does not fit this run ({problem}); training from scratch")
        return None
    return Start(version, weights, norm)


def kept_norm(meta: Metadata) -> str:
    """The window norm of the network a version kept, or the baseline `--window-norm auto` kept instead."""
    return meta.selection.chosen if meta.selection is not None else meta.config.window_norm.value


def mismatch(meta: Metadata, prepared: Prepared) -> str | None:
    """What keeps a version's weights from starting this run's network, in words; None if nothing."""
    first, config, old = prepared.panel.first, prepared.config, meta.config
    holidays = prepared.dates.holidays
    compared = [
        ("columns", meta.columns, [first.target, *first.features]),
        ("future features", list(meta.future_features), list(first.future_features)),
        ("date inputs", list(meta.dates.names), list(prepared.dates.names)),
        ("holidays", meta.holidays.code if meta.holidays else None, holidays.code if holidays else None),
        ("target transform", old.target_transform.value, config.target_transform.value),
        ("lookback", old.lookback, config.lookback),
        ("horizon", old.horizon, config.horizon),
        ("cell", old.cell.value, config.cell.value),
        ("layers", old.layers, config.layers),
        ("units", old.units, config.units),
        ("linear path", old.linear_path, config.linear_path),
        ("ensemble", old.ensemble, config.ensemble),
        ("ensemble cells", old.ensemble_cells.value, config.ensemble_cells.value),
    ]
    for name, was, now in compared:
        if was != now:
            return f"{name}: {_text(was)} there, {_text(now)} here"
    kept = kept_norm(meta)
    if kept in BASELINE_CANDIDATES:
        return f"it kept the {kept} baseline, which has no trained network"
    if config.window_norm is not WindowNorm.auto and config.window_norm.value != kept:
        return f"window norm: {kept} there, {config.window_norm.value} here"
    return None


def _same_shapes(prepared: Prepared, norm: WindowNorm, weights: list) -> bool:
    """Whether this run's network, built with `norm`, has weights of exactly these shapes."""
    from forecast.model.network import build_model

    config = dataclasses.replace(prepared.config, window_norm=norm)
    fresh = build_model(config, n_features=prepared.n_inputs, season=season_length(prepared.panel.first.frequency),
                        n_known=len(prepared.known_columns))
    return [tuple(w.shape) for w in fresh.get_weights()] == [tuple(w.shape) for w in weights]


def _text(value) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(map(str, value)) + ")" if value else "(none)"
    return str(value)
