"""A bundle's metadata as a typed object: what metadata.json holds, built from a training run,
checked when read (types, shapes, finite numbers) and written back in the same order.

The files themselves (names, digests, reading and writing) belong to forecast.store.bundle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import math
import re

import numpy as np
import pandas as pd

from forecast.version import __version__
from forecast.config import DataConfig, TrainConfig, config_to_dict
from forecast.data.cycles import CYCLES
from forecast.data.calendars import Calendar
from forecast.data.date_inputs import DateInputs
from forecast.data.frequency import format_timestamp
from forecast.data.load import Series
from forecast.data.public_holidays import Holidays
from forecast.evaluation.intervals import Calibration
from forecast.model.fit import Fitted, Metrics, Selection

# 5: known inputs over the forecast period (a second network input); 4: interval errors counted
# per step; 3: manifest.json of digests; 2: per-series scalers and histories
FORMAT_VERSION = 5
RECENT_ROWS = 120  # target rows kept for plots beside the forecast
REQUIRED = ("format_version", "target", "features", "frequency", "time_col", "series", "config")


@dataclasses.dataclass(frozen=True)
class StoredSeries:
    """What a bundle keeps of one training series, so predict needs no data file."""

    frequency: str  # pandas alias; dates this series' forecasts
    rows: int | None
    first_timestamp: str
    last_timestamp: str
    lookback_rows: np.ndarray  # (lookback, columns): the last input rows, in the data's units
    lookback_timestamps: tuple[str, ...]  # (lookback,)
    recent_timestamps: tuple[str, ...]  # the last RECENT_ROWS rows (or lookback, if longer)...
    recent_values: np.ndarray  # ...and the target's values there, drawn beside a forecast

    @property
    def recent_target(self) -> pd.Series:
        """The recent target values on a DatetimeIndex, for plots."""
        return pd.Series(self.recent_values, index=pd.DatetimeIndex(self.recent_timestamps), dtype="float64")

    def to_dict(self) -> dict:
        return {
            "frequency": self.frequency,
            "rows": self.rows,
            "first_timestamp": self.first_timestamp,
            "last_timestamp": self.last_timestamp,
            "history": {"timestamps": list(self.lookback_timestamps), "values": self.lookback_rows.tolist()},
            "recent_target": {"timestamps": list(self.recent_timestamps), "values": self.recent_values.tolist()},
        }

    @classmethod
    def from_dict(cls, entry: dict) -> "StoredSeries":
        history, recent = entry["history"], entry["recent_target"]
        return cls(
            frequency=entry["frequency"],
            rows=entry.get("rows"),
            first_timestamp=entry["first_timestamp"],
            last_timestamp=entry["last_timestamp"],
            lookback_rows=np.asarray(history["values"], dtype="float64"),
            lookback_timestamps=tuple(history["timestamps"]),
            recent_timestamps=tuple(recent["timestamps"]),
            recent_values=np.asarray(recent["values"], dtype="float64"),
        )

    @classmethod
    def of(cls, series: Series, lookback: int) -> "StoredSeries":
        frame, stamp = series.frame, lambda t: format_timestamp(t, series.frequency)
        last = frame.iloc[-lookback:]
        recent = frame[series.target].iloc[-max(lookback, RECENT_ROWS) :]
        return cls(
            frequency=series.frequency,
            rows=len(frame),
            first_timestamp=stamp(frame.index[0]),
            last_timestamp=stamp(frame.index[-1]),
            lookback_rows=last.to_numpy(),
            lookback_timestamps=tuple(stamp(t) for t in last.index),
            recent_timestamps=tuple(stamp(t) for t in recent.index),
            recent_values=recent.to_numpy(),
        )


@dataclasses.dataclass(frozen=True)
class Promotion:
    """Whether a version became current when it was written, and on what evidence."""

    policy: str  # the --promote rule
    promoted: bool
    reason: str
    against: str | None  # the version that was current then
    scores: dict[str, float | int] = dataclasses.field(default_factory=dict)  # see forecast.store.promote.Scores

    def to_dict(self) -> dict:
        return {"policy": self.policy, "promoted": self.promoted, "reason": self.reason, "against": self.against,
                **self.scores}

    @classmethod
    def from_dict(cls, entry: dict) -> "Promotion":
        fixed = ("policy", "promoted", "reason", "against")
        return cls(*(entry.get(key) for key in fixed), {k: v for k, v in entry.items() if k not in fixed})


@dataclasses.dataclass(frozen=True)
class Metadata:
    """Everything a bundle says about its model, typed; `to_dict` is metadata.json."""

    target: str
    features: tuple[str, ...]
    time_col: str
    id_col: str | None  # None: one series, stored under the id ""
    frequency: str  # the first series' (all share the step; weekly anchors may differ)
    series: dict[str, StoredSeries]
    config: TrainConfig  # as trained: lookback, batch size resolved
    data_config: DataConfig | None
    source: dict  # where the data came from: {"kind": "csv", "path"} or {"kind": "ticker", "ticker", ...}
    metrics: Metrics | None
    calibration: Calibration | None
    loss_history: dict[str, list[float]]
    strategy: str | None
    promotion: Promotion | None
    selection: Selection | None = None  # what --window-norm auto chose
    cycles: tuple[str, ...] = ()  # cycle positions the network reads after the columns (--cycle-inputs)
    holidays: Holidays | None = None  # the public holidays it reads after the cycles (--holidays)
    future_features: tuple[str, ...] = ()  # features whose values over the forecast period it reads
    calendar: Calendar | None = None  # the exchange whose sessions date the forecasts
    warm_start: str | None = None  # the version whose weights training began from (train --warm-start)
    format_version: int = FORMAT_VERSION
    forecast_version: str | None = None
    keras_version: str | None = None
    tensorflow_version: str | None = None
    backend: str | None = None
    created: str | None = None  # ISO time, UTC

    @property
    def lookback(self) -> int:
        return self.config.lookback

    @property
    def trained_horizon(self) -> int:
        return self.config.horizon

    @property
    def columns(self) -> list[str]:
        return [self.target, *self.features]

    @property
    def dates(self) -> DateInputs:
        return DateInputs(self.cycles, self.holidays)

    @property
    def n_inputs(self) -> int:
        """Inputs per window step: the columns, then the date inputs."""
        return len(self.columns) + self.dates.width

    @property
    def known_future(self) -> bool:
        """Whether the network reads known inputs over the forecast period (bundles from format 5 on)."""
        return self.format_version >= 5

    @property
    def n_known(self) -> int:
        """Known inputs per forecast step the network reads: the future features, then the date inputs."""
        return len(self.future_features) + self.dates.width if self.known_future else 0

    @property
    def ids(self) -> list[str]:
        return list(self.series)

    @property
    def source_text(self) -> str:
        """Where the data came from, in words: its path, a DataFrame, or the ticker and bar size."""
        if self.source.get("kind") == "dataframe":
            return "a DataFrame (the Python API)"
        return self.source.get("path") or f"ticker {self.source.get('ticker')} ({self.source.get('interval')})"

    def to_dict(self) -> dict:
        """metadata.json's contents, in its order."""
        return {
            "format_version": self.format_version,
            "forecast_version": self.forecast_version,
            "keras_version": self.keras_version,
            "tensorflow_version": self.tensorflow_version,
            "backend": self.backend,
            "created": self.created,
            "source": self.source,
            "id_col": self.id_col,
            "time_col": self.time_col,
            "target": self.target,
            "features": list(self.features),
            "future_features": list(self.future_features),
            "cycles": list(self.cycles),
            "holidays": None if self.holidays is None else self.holidays.to_dict(),
            "calendar": None if self.calendar is None else self.calendar.to_dict(),
            "frequency": self.frequency,
            "series": {key: entry.to_dict() for key, entry in self.series.items()},
            "data_config": None if self.data_config is None else config_to_dict(self.data_config),
            "config": config_to_dict(self.config),
            "seed": self.config.seed,
            "strategy": self.strategy,
            "metrics": None if self.metrics is None else self.metrics.to_dict(),
            "intervals": None if self.calibration is None else self.calibration.to_dict(),
            "loss_history": self.loss_history,
            "warm_start": self.warm_start,
            **({} if self.promotion is None else {"promotion": self.promotion.to_dict()}),
            **({} if self.selection is None else {"selection": self.selection.to_dict()}),
        }

    @classmethod
    def from_dict(cls, meta: dict) -> "Metadata":
        """The typed metadata of a dict already checked by `_schema_problem`.

        Raises:
            ValueError, TypeError, ConfigError: a value the options do not allow.
        """
        known = {field.name for field in dataclasses.fields(TrainConfig)}
        # Ensembles saved before --ensemble-combine existed averaged their members.
        stored = {"ensemble_combine": "mean", **meta["config"]}
        config = TrainConfig(**{k: v for k, v in stored.items() if k in known})
        data = meta.get("data_config")
        data_known = {field.name for field in dataclasses.fields(DataConfig)}
        data_config = None
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k in data_known}
            data["features"] = tuple(data.get("features") or ())
            data["future_features"] = tuple(data.get("future_features") or ())
            data_config = DataConfig(**data)
        metrics = meta.get("metrics")
        intervals = meta.get("intervals")
        promotion = meta.get("promotion")
        return cls(
            target=meta["target"],
            features=tuple(meta["features"]),
            cycles=tuple(meta.get("cycles") or ()),
            holidays=Holidays.from_dict(meta["holidays"]) if meta.get("holidays") else None,
            future_features=tuple(meta.get("future_features") or ()),
            calendar=Calendar.from_dict(meta["calendar"]) if meta.get("calendar") else None,
            warm_start=meta.get("warm_start"),
            time_col=meta["time_col"],
            id_col=meta.get("id_col"),
            frequency=meta["frequency"],
            series={key: StoredSeries.from_dict(entry) for key, entry in meta["series"].items()},
            config=config,
            data_config=data_config,
            source=meta.get("source") if isinstance(meta.get("source"), dict) else {},
            metrics=Metrics.from_dict(metrics) if metrics else None,
            calibration=Calibration.from_dict(intervals) if intervals else None,
            loss_history=meta.get("loss_history") or {},
            strategy=meta.get("strategy"),
            promotion=Promotion.from_dict(promotion) if isinstance(promotion, dict) else None,
            selection=Selection(meta["selection"]["chosen"], meta["selection"]["val_mae"],
                                meta["selection"].get("standard_error")) if meta.get("selection") else None,
            format_version=meta["format_version"],
            **{key: meta.get(key) for key in ("forecast_version", "keras_version", "tensorflow_version", "backend", "created")},
        )

    @classmethod
    def of(cls, fitted: Fitted, data_config: DataConfig, promotion: Promotion) -> "Metadata":
        """The metadata of a newly trained model."""
        import keras

        try:
            # Read the installed version without importing TensorFlow on another backend.
            tf_version = importlib.metadata.version("tensorflow")
        except importlib.metadata.PackageNotFoundError:
            tf_version = None
        prepared = fitted.prepared
        first = prepared.panel.first
        return cls(
            target=first.target,
            features=tuple(first.features),
            cycles=prepared.dates.cycles,
            holidays=prepared.dates.holidays,
            future_features=first.future_features,
            calendar=first.calendar,
            warm_start=fitted.started_from,
            time_col=first.time_col,
            id_col=prepared.panel.id_col,
            frequency=first.frequency,
            series={key: StoredSeries.of(s, prepared.config.lookback) for key, s in prepared.panel.series.items()},
            config=prepared.config,
            data_config=data_config,
            source=first.source,
            metrics=fitted.metrics,
            calibration=fitted.calibration,
            loss_history=fitted.loss_history,
            strategy=fitted.placement,
            promotion=promotion,
            selection=fitted.selection,
            forecast_version=__version__,
            keras_version=keras.__version__,
            tensorflow_version=tf_version,
            backend=keras.backend.backend(),
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )


def schema_problem(meta: dict) -> str | None:
    """What is wrong with a metadata dict's contents (types, shapes, finite numbers), or None."""

    def frequency_ok(value) -> bool:
        try:
            pd.tseries.frequencies.to_offset(value)
            return isinstance(value, str)
        except (ValueError, TypeError):
            return False

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    def finite(values, shape) -> bool:
        try:
            array = np.asarray(values, dtype="float64")
        except (TypeError, ValueError):
            return False
        return array.shape == shape and bool(np.isfinite(array).all())

    def dates_ok(values, length) -> bool:
        if not isinstance(values, list) or len(values) != length or not all(isinstance(v, str) for v in values):
            return False
        try:
            pd.DatetimeIndex(values)
        except (ValueError, TypeError, OverflowError):
            return False
        return True

    config, features = meta["config"], meta["features"]
    if not isinstance(meta["target"], str) or not meta["target"]:
        return "has no target name"
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        return "has a features entry that is not a list of names"
    cycles = meta.get("cycles", [])
    if not isinstance(cycles, list) or not all(isinstance(c, str) and c in CYCLES for c in cycles):
        return f"has a cycles entry that is not a list of {', '.join(CYCLES)}"
    future = meta.get("future_features", [])
    if not isinstance(future, list) or not all(isinstance(f, str) and f in features for f in future):
        return "has a future_features entry that is not a list of its features"
    holidays = meta.get("holidays")
    if holidays is not None and not (isinstance(holidays, dict) and isinstance(holidays.get("code"), str)
                                     and dates_ok(holidays.get("dates"), len(holidays.get("dates") or []))
                                     and dates_ok([holidays.get("until")], 1)):
        return "has damaged holidays"
    calendar = meta.get("calendar")
    if calendar is not None and not (isinstance(calendar, dict) and isinstance(calendar.get("name"), str)
                                     and dates_ok(calendar.get("closed"), len(calendar.get("closed") or []))
                                     and dates_ok([calendar.get("until")], 1)):
        return "has a damaged exchange calendar"
    if not isinstance(meta["time_col"], str) or meta.get("id_col") is not None and not isinstance(meta["id_col"], str):
        return "has a time or id column that is not a name"
    if not frequency_ok(meta["frequency"]):
        return f"has an unknown frequency {str(meta['frequency'])[:20]!r}"
    if not isinstance(config, dict) or not whole(config.get("lookback")) or not whole(config.get("horizon")):
        return "has no whole lookback and horizon in its config"
    lookback, horizon, columns = config["lookback"], config["horizon"], 1 + len(features)
    series = meta["series"]
    if not isinstance(series, dict) or not series:
        return "lists no series"
    for key, entry in series.items():
        name = f"series {key!r}" if key else "the series"
        if not isinstance(entry, dict) or not frequency_ok(entry.get("frequency")):
            return f"has no valid frequency for {name}"
        history, recent = entry.get("history"), entry.get("recent_target")
        if not isinstance(history, dict) or not finite(history.get("values"), (lookback, columns)) \
                or not dates_ok(history.get("timestamps"), lookback):
            return f"has a damaged stored history for {name} (expected {lookback} dated rows of {columns} finite numbers)"
        values = recent.get("values") if isinstance(recent, dict) else None
        if not isinstance(values, list) or not values or not finite(values, (len(values),)) \
                or not dates_ok(recent.get("timestamps"), len(values)):
            return f"has a damaged recent history for {name}"
        if not all(isinstance(entry.get(k), str) for k in ("first_timestamp", "last_timestamp")):
            return f"has no first and last timestamps for {name}"
    intervals = meta.get("intervals")
    if intervals is not None:
        stored = intervals if isinstance(intervals, dict) else {}
        widths = stored.get("half_widths")
        counts = stored.get("residuals", [stored.get("windows")] * horizon)  # per step; one count before residuals
        if not isinstance(widths, dict) or not isinstance(counts, list) or len(counts) < horizon \
                or not all(whole(count) for count in counts) \
                or not all(w is None or (finite(w, (len(counts),)) and min(w) >= 0) for w in widths.values()) \
                or not isinstance(stored.get("method"), str):
            return "has damaged interval calibration"
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) for v in metrics.values()
    ):
        return "has metrics that are not finite numbers"
    if not isinstance(metrics.get("val_mae", 0.0), (int, float)):
        return "has no validation MAE"
    promotion = meta.get("promotion")
    if promotion is not None and not isinstance(promotion, dict):
        return "has a promotion record that is not an object"
    selection = meta.get("selection")
    if selection is not None and not (
        isinstance(selection, dict) and isinstance(selection.get("chosen"), str) and isinstance(selection.get("val_mae"), dict)
        and all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
                for v in [*selection["val_mae"].values(), selection.get("standard_error")])
    ):
        return "has a damaged window-norm selection"
    warm = meta.get("warm_start")
    if warm is not None and not (isinstance(warm, str) and re.fullmatch(r"[\w.-]{1,64}", warm)):
        return "has a warm_start entry that is not a version id"
    return None
