"""The detection pipeline: a trained version and observed rows to the rows it did not expect.

Each row with a full lookback before it is forecast `step` steps ahead from the rows before,
through the forecasting path `predict` uses (same scalers, window norm, cycle inputs, engine),
and scored by how far it lies from that forecast:

    score = |actual − forecast| / (half-width of the `level`% interval at that step)

both on the scaled target, where the intervals were calibrated on the validation windows (so in
the log form it measures ratios). A score above 1 lies outside the interval; a row is an anomaly
when its score is above `threshold`.

The interval widens where the series has become harder to forecast than it was on the validation
windows: to the `level` quantile of the errors of the rows before, when that is wider. Those rows
are as many as there were validation windows, and at least enough that ten errors lie beyond the
quantile (1,000 at level 99), so a few anomalies cannot widen it, while a lasting change in how
the series moves does. Without it, a series that turns wilder after training flags a large share
of its rows.

The default threshold, 2, flags rows twice as far from the forecast as the 99% interval reaches.
An interval's 1% of misses is far too many alarms for monitoring (a year of 5-minute readings
would raise a thousand); at twice its reach, a normal row is flagged about once in 4 million rows
when the errors are Gaussian, and once in 10,000 when they have a Laplace distribution's heavier
tails.

A departure that lasts can keep every row inside twice the reach (a one-step forecast soon
follows a shifted level, spikes come more often, the noise grows), so a second rule watches runs
of `RUN_ROWS` rows: the mean of their errors, each over the calibrated half-width (the score
before widening, as the runs' own history sets their scale). `sustained` is how far a row's run
mean lies above the mean of the run means over the rows before (as many as the widening looks
back on, and at least `RUN_HISTORY`), in their standard deviations. A row is also an anomaly when `sustained` is above
`sustained_threshold`, 4.26 by default: a one-sided Gaussian tail of 1e-5. This is the anomaly
likelihood of Ahmad et al. ("Unsupervised real-time anomaly detection for streaming data",
Neurocomputing 2017), with its published window of 10 rows and alarm threshold of 1 - 1e-5,
applied to forecast errors. It needs `RUN_HISTORY` run means before it (NaN until then), so the
first 100 scored rows are judged by the score alone.

Rows the score rule flags are left out of the runs, so that one spike does not flag the rows
after it. An alarm is an anomaly with no other in the `RUN_ROWS` rows before it: the row where an
alert starts. Anomalies closer together than that belong to one episode, as the sustained rule
judged them on the same rows.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from forecast.config import DataConfig, Engine, Promote, TrainConfig
from forecast.data.frequency import format_timestamp, step_offset
from forecast.data.load import Panel, Series, id_column, load_panel
from forecast.data.scaling import scale_target
from forecast.errors import ConfigError, DataError
from forecast.evaluation.intervals import CONFORMAL, check_level, windows_needed
from forecast.model.cluster import refuse
from forecast.predict import choose_ids, read_data, refuse_not_positive
from forecast.store.bundle import Bundle
from forecast.store.versions import Store

Log = Callable[[str], None]
# Half-widths below this (on the [0, 1]-scaled target) are taken as this: a model whose
# validation forecasts were exact (a noiseless periodic series) would otherwise call float
# rounding an anomaly.
WIDTH_FLOOR = 1e-6
LEVEL, THRESHOLD = 99, 2.0  # the defaults: see above
MEMORY_TAIL = 10  # errors beyond the interval among the recent rows before it widens: a few anomalies cannot
RUN_ROWS, RUN_HISTORY = 10, 100  # the sustained rule's run, and the run means its spread is estimated from
SUSTAINED = 4.26  # standard deviations: a one-sided Gaussian tail of 1e-5 (see above)
# The spread of the run means is taken as at least this (in scores): in a series the model
# forecasts almost exactly, the run means barely move, and float rounding would otherwise count.
SPREAD_FLOOR = 0.01


@dataclasses.dataclass
class Detection:
    """Every scored row, and the history drawn behind them."""

    frame: pd.DataFrame  # [<id column>,] timestamp, actual, forecast, lower_<level>, upper_<level>, score, sustained, anomaly, alarm
    history: dict[str, pd.Series]  # each series' target from a lookback before its first scored row, for plots
    target: str
    level: int
    step: int
    threshold: float
    sustained_threshold: float
    id_column: str | None  # the frame's series id column, for a model of several series

    @property
    def anomalies(self) -> pd.DataFrame:
        return self.frame[self.frame["anomaly"]]

    @property
    def alarms(self) -> pd.DataFrame:
        return self.frame[self.frame["alarm"]]


def detect(
    model_dir: str,
    data_path: str,
    *,
    step: int = 1,
    level: int | None = None,
    threshold: float = THRESHOLD,
    sustained_threshold: float = SUSTAINED,
    ids: Sequence[str] = (),
    version: str | None = None,
    engine: Engine = Engine.auto,
    score_from: Mapping[str, pd.Timestamp] | None = None,
    panel: Panel | None = None,
    log: Log = lambda message: None,
) -> Detection:
    """Score each row of `data_path` that has a full lookback before it against the forecast
    the model made for it `step` steps earlier.

    When the file continues the history the model was trained on (it starts inside the stored
    lookback rows or one step after them), those rows fill in the lookback before its first rows,
    so yesterday's readings alone can be checked.

    Args:
        level: the interval scores are measured against; by default 99, or the highest level
            the model's validation windows calibrate when they are fewer than 99 (with a note).
        score_from: per series id, the first timestamp scored (rows before it only feed lookbacks).
        panel: `data_path` already read with the model's columns (by `train_and_detect`), so it
            is not read again.

    Raises:
        ForecastError: a missing or damaged bundle, unusable data, step, level or threshold.
    """
    if level is not None:
        check_level(level)
    if not _positive(threshold):
        raise ConfigError(f"--threshold must be a number above 0 (1 flags rows outside the interval). Received: {threshold}.")
    if not _positive(sustained_threshold):
        raise ConfigError(f"--sustained-threshold must be a number of standard deviations above 0 (4.26 raises about one "
                          f"alarm in 100,000 normal runs). Received: {sustained_threshold}.")
    bundle = Store(model_dir).open(version)
    meta = bundle.metadata
    if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= meta.trained_horizon:
        raise ConfigError(
            f"--step must be a whole number from 1 to the trained horizon ({meta.trained_horizon}). Received: {step}."
        )
    if meta.calibration is None:
        raise ConfigError("this bundle holds no interval calibration, which scores are measured against. Retrain it.")
    if level is None:
        level = _default_level(meta.calibration, log)
    calibration = meta.calibration
    width = max(float(calibration.widths(level, step)[step - 1]), WIDTH_FLOOR)  # refuses a level it cannot give
    if calibration.basis(level, step) != CONFORMAL:
        source = "refit" if calibration.refits else "validation"
        log(f"the model's {calibration.residuals[step - 1]} {source} residuals at step {step} are too few for a "
            f"split-conformal {level}% width ({windows_needed(level)} are needed): scoring against its Student t width")
    memory = max(calibration.residuals[step - 1], math.ceil(MEMORY_TAIL / (1 - level / 100)))
    chosen = choose_ids(bundle, ids)
    if panel is None:
        data = read_data(bundle, chosen, data_path, log, name=str(data_path))
    else:
        data = {key: panel.series[key] for key in chosen if key in panel.series}

    inputs = {key: _with_history(bundle, key, series) for key, series in data.items()}
    origins = {}
    for key, (rows, stamps, first_new) in inputs.items():
        first = max(first_new, meta.lookback + step - 1)
        if score_from is not None and key in score_from:
            first = max(first, int(stamps.searchsorted(score_from[key])))
        label = f"series {key!r} in {data_path}" if key else str(data_path)
        if first >= len(rows):
            raise DataError(
                f"{label} has no row with {meta.lookback} rows (the lookback) and {step - 1} more before it to forecast it "
                f"from ({len(rows) - first_new} rows given). Supply more history, or rows that continue the training data."
            )
        refuse_not_positive(bundle, key, data[key].frame[data[key].target], label)
        origins[key] = np.arange(first, len(rows)) - step + 1  # each scored row is forecast from `step` rows back

    forecaster, engine_name = bundle.forecaster(Engine(engine), log)
    predicted = forecaster.forecast_scaled({key: rows for key, (rows, _, _) in inputs.items()}, step, origins,
                                           {key: stamps for key, (_, stamps, _) in inputs.items()})
    frames, history = [], {}
    for key, (rows, stamps, _) in inputs.items():
        scored = origins[key] + step - 1
        scaler = bundle.scalers[key]
        expected = predicted[key][:, step - 1].astype("float64")
        actual = rows[scored, 0]
        with np.errstate(over="ignore", invalid="ignore"):
            error = np.abs(scale_target(scaler, actual) - expected)
            half_width = _widened(error, width, level, memory)
            score = np.where(np.isfinite(expected), error / half_width, np.inf)  # no finite forecast: unexpected
            outside = score > threshold
            sustained = _sustained(np.where(outside, np.nan, error / width), memory)
        anomaly = outside | (sustained > sustained_threshold)
        frame = pd.DataFrame({
            "timestamp": [format_timestamp(t, meta.series[key].frequency) for t in stamps[scored]],
            "actual": actual,
            "forecast": forecaster.unscale(key, expected),
            f"lower_{level}": forecaster.unscale(key, expected - half_width),
            f"upper_{level}": forecaster.unscale(key, expected + half_width),
            "score": score,
            "sustained": sustained,
            "anomaly": anomaly,
            "alarm": _alarms(anomaly),
        })
        if meta.id_col:
            frame.insert(0, id_column(meta.id_col, frame.columns), key)
        frames.append(frame)
        history[key] = pd.Series(rows[scored[0] - meta.lookback :, 0], index=stamps[scored[0] - meta.lookback :], name=meta.target)
        unforecast = int((~np.isfinite(expected)).sum())
        if unforecast:
            log(f"warning: {_name(key)}{unforecast} rows could not be forecast (their lookback lies far outside the "
                "training range) and are flagged")
    table = pd.concat(frames, ignore_index=True)
    result = Detection(table, history, meta.target, level, step, threshold, sustained_threshold,
                       table.columns[0] if meta.id_col else None)
    log(f"scored {len(result.frame)} rows{_of(inputs)} {step} step{'s' if step > 1 else ''} ahead with {bundle.path} "
        f"({engine_name})")
    return result


def train_and_detect(
    data_config: DataConfig,
    train_config: TrainConfig,
    model_dir: str,
    train_fraction: float,
    *,
    lock_timeout: float = 300.0,
    log: Log = lambda message: None,
    saved_config: dict | None = None,
    **detect_options,
) -> Detection:
    """Train a version on the first `train_fraction` of each series of the file into `model_dir`,
    then score the rest of the file with it (the rows after the training part).

    The version is added as `train` adds any (promoted as its `--promote if-better` allows);
    detection uses it either way.
    """
    from forecast.train import train

    refuse("detect", train_config.strategy)
    if data_config.path is None:
        raise ConfigError("--train-fraction trains on the head of a CSV file; a --ticker cannot be scored. Give a file.")
    if not isinstance(train_fraction, float) or not 0 < train_fraction < 1:
        raise ConfigError(f"--train-fraction must be a share between 0 and 1 (0.15 trains on the first 15%). Received: {train_fraction}.")
    panel = load_panel(data_config, log)
    head = Panel({key: _head(series, train_fraction) for key, series in panel.series.items()}, panel.id_col)
    starts = {key: series.frame.index[len(head.series[key].frame)] for key, series in panel.series.items()}
    rows = sum(len(series.frame) for series in head.series.values())
    log(f"training on the first {train_fraction:.0%} of the file ({rows} rows); scoring the rest")
    result = train(data_config, train_config, model_dir, promote=Promote.if_better, lock_timeout=lock_timeout, log=log,
                   saved_config=saved_config, panel=head)
    return detect(model_dir, data_config.path, version=result.version_id, score_from=starts, panel=panel, log=log,
                  **detect_options)


def _default_level(calibration, log: Log) -> int:
    """`LEVEL`, or the highest level a version calibrated before the Student t fallback holds
    when its windows were too few for `LEVEL`."""
    if calibration.half_widths.get(str(LEVEL)) is not None:
        return LEVEL
    level = max(int(level) for level, widths in calibration.half_widths.items() if widths is not None)
    log(f"this version's {calibration.residuals[0]} validation windows calibrate intervals up to {level}%, not {LEVEL}%: "
        f"scoring against the {level}% interval (retrain it for {LEVEL}%)")
    return level


def _widened(error: np.ndarray, width: float, level: int, memory: int) -> np.ndarray:
    """Each scored row's half-width: the calibrated `width`, or the `level` quantile of the errors
    of the `memory` rows before it when that is larger. Rows before the first `memory` keep `width`."""
    known = pd.Series(np.where(np.isfinite(error), error, np.nan))
    recent = known.rolling(memory, min_periods=memory).quantile(level / 100, interpolation="higher").shift(1).to_numpy()
    return np.fmax(width, recent)  # fmax passes over NaN: no full memory yet


def _sustained(raw: np.ndarray, memory: int) -> np.ndarray:
    """For each row, how far the mean of the `raw` scores of its last `RUN_ROWS` rows lies above
    the mean of those run means over the `memory` rows before it (at least `RUN_HISTORY`), in their
    standard deviations (at least `SPREAD_FLOOR`); NaN until `RUN_HISTORY` run means lie before it. NaN scores (rows
    the score rule flagged, or without a finite forecast) are left out of the runs: one spike is
    its own anomaly, not a reason to flag the nine rows after it."""
    runs = pd.Series(raw).rolling(RUN_ROWS, min_periods=1).mean()
    # Below a 90% level ten misses need fewer than RUN_HISTORY rows of memory; the spread still
    # needs RUN_HISTORY run means, so the window is never shorter than that.
    before = runs.rolling(max(memory, RUN_HISTORY), min_periods=RUN_HISTORY)
    spread = before.std().shift(1).clip(lower=SPREAD_FLOOR)
    return ((runs - before.mean().shift(1)) / spread).to_numpy()


def _alarms(anomaly: np.ndarray) -> np.ndarray:
    """The anomalies with none in the `RUN_ROWS` rows before them: the first row of each episode.
    Anomalies closer together than a run share the rows the sustained rule judged them on."""
    recent = pd.Series(anomaly).rolling(RUN_ROWS, min_periods=1).max().shift(1, fill_value=0).astype(bool)
    return anomaly & ~recent.to_numpy()


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 and value != float("inf")


def _head(series: Series, fraction: float) -> Series:
    """The series' first `fraction` of rows (at least one row is left to score)."""
    rows = min(len(series.frame) - 1, max(1, int(len(series.frame) * fraction)))
    return dataclasses.replace(series, frame=series.frame.iloc[:rows])


def _with_history(bundle: Bundle, key: str, series: Series) -> tuple[np.ndarray, pd.DatetimeIndex, int]:
    """The series' rows, after the stored training rows that come before them when the file
    continues the training history; their timestamps; and the index of the file's first row."""
    stored = bundle.metadata.series[key]
    known = pd.DatetimeIndex(stored.lookback_timestamps)
    first = series.frame.index[0]
    after_known = known[-1] + step_offset(stored.frequency, bundle.metadata.calendar)
    if known[0] < first <= after_known and (first in known or first == after_known):
        keep = known < first
        rows = np.concatenate([stored.lookback_rows[keep], series.frame.to_numpy()])
        return rows, known[keep].append(series.frame.index), int(keep.sum())
    return series.frame.to_numpy(), series.frame.index, 0


def _name(key: str) -> str:
    return f"series {key}: " if key else ""


def _of(inputs: dict) -> str:
    return f" of {len(inputs)} series" if len(inputs) > 1 else ""
