"""The training pipeline: data checked, a model fitted, promoted or not, and saved as a new version under the lock."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path
from typing import Callable

import pandas as pd

from forecast.config import DataConfig, Promote, TrainConfig
from forecast.data.datafile import STDIN
from forecast.data.load import Panel, load_panel
from forecast.errors import BundleError, ForecastError
from forecast.model import stopping
from forecast.model.cluster import Worker, broken, this_worker
from forecast.model.fit import Fitted, Metrics, Prepared, fit, prepare
from forecast.predict import forecast_bundle, read_data
from forecast.store.bundle import Bundle, read_bundle, write_bundle
from forecast.store.metadata import Promotion
from forecast.store.promote import Verdict, judge
from forecast.store.versions import Store, new_version_id
from forecast.warm import start_from_current

Log = Callable[[str], None]


@dataclasses.dataclass
class TrainResult:
    """What a training run produced, for the summary."""

    bundle_dir: Path | None
    fitted: Fitted
    version_id: str | None
    verdict: Verdict | None
    promotion: Promotion | None  # the decision as the bundle stores it
    worker: Worker | None = None  # this process's place in a TF_CONFIG cluster; only the chief writes a version

    @property
    def wrote(self) -> bool:
        """Whether this process wrote a version (every run but a cluster's other workers)."""
        return self.version_id is not None

    @property
    def metrics(self) -> Metrics:
        return self.fitted.metrics


def train(
    data_config: DataConfig,
    train_config: TrainConfig,
    model_dir: str,
    *,
    promote: Promote = Promote.if_better,
    lock_timeout: float = 300.0,
    log: Log = lambda message: None,
    verbose: int = 0,
    saved_config: dict | None = None,
    panel: Panel | None = None,
    warm_start: bool = False,
    frame: pd.DataFrame | None = None,
) -> TrainResult:
    """Train a model on the series `data_config` describes and add it to the model directory.

    Everything that can fail on bad input (data, options, the destination) is checked before
    Keras is imported and before any training starts. Training, saving and promotion happen
    under the directory's lock; the new version is published only once complete, and becomes
    current only as `promote` allows.

    Args:
        data_config: where the series comes from.
        train_config: windows, network and training options.
        model_dir: the model directory (see forecast.store.versions).
        promote: when the new version becomes current.
        lock_timeout: seconds to wait for another run holding the directory.
        log: receives one-line notes for the user.
        verbose: 0 silent, 1 Keras's progress bar, 2 one log line per epoch.
        saved_config: the resolved options as given, stored with the version (config.toml).
        panel: the series already loaded from `data_config` (and cut: detection trains on the
            head of a file); by default they are loaded here.
        warm_start: start from the current version's weights where its network fits (forecast.warm).
        frame: the DataFrame `panel` was read from (the Python API), for promotion to read the
            current version's columns from.

    Raises:
        ForecastError: bad input, with the fix in its message; BusyError when the lock stays taken.
    """
    worker = this_worker(train_config.strategy)
    if worker is not None and warm_start:
        log("warm start: not on several workers (every one must start from the same weights); training from scratch")
        warm_start = False
    if worker is not None and not worker.chief:
        # It trains its share of every batch with the others; the chief writes the version.
        prepared = prepare(load_panel(data_config, log) if panel is None else panel, train_config, log)
        return TrainResult(None, _fit(prepared, worker, log, verbose), None, None, None, worker)
    store = Store(model_dir)
    prepared = check(data_config, train_config, model_dir, log, panel)
    with store.lock(lock_timeout, log):
        cleaned = store.clean_partials()
        if cleaned:
            log(f"removed {len(cleaned)} leftover(s) of an interrupted run: {', '.join(cleaned)}")
        current_id = store.current_id()
        current = _readable(store, current_id, log)
        start = start_from_current(current, current_id, prepared, log) if warm_start else None
        fitted = _fit(prepared, worker, log, verbose, start)
        _check_finite(fitted)
        if current is None and current_id is not None:
            verdict = Verdict(True, f"the current version {current_id} cannot be read")
        else:
            verdict = judge(fitted, current, promote, _reread(current, prepared.panel, data_config, frame))
        stopping.publishing()  # a signal from here on no longer stops the run: it completes
        version_id = new_version_id()
        staging = store.stage(version_id)
        try:
            promotion = verdict.record(promote, current_id)
            write_bundle(staging, fitted, data_config, promotion, saved_config, log)
            _check_reads_back(staging, current_id)
            bundle_dir = store.commit(staging, version_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log(f"wrote version {version_id} to {bundle_dir}")
        if verdict.promote:
            store.set_current(version_id)
            log(f"version {version_id} is now current: {verdict.reason}")
        else:
            log(f"kept version {version_id} as a candidate; {current_id} stays current: {verdict.reason}")
    return TrainResult(bundle_dir, fitted, version_id, verdict, promotion, worker)


def _fit(prepared: Prepared, worker: Worker | None, log: Log, verbose: int, start=None) -> Fitted:
    """`fit`, with a cluster that broke up while training reported as such (exit 3)."""
    try:
        return fit(prepared, log=log, verbose=verbose, start=start)
    except Exception as exc:
        error = broken(exc) if worker is not None else None
        if error is None:
            raise
        raise error from None


def check(data_config: DataConfig, train_config: TrainConfig, model_dir: str, log: Log = lambda message: None,
          panel: Panel | None = None) -> Prepared:
    """Everything `train` checks before Keras is imported: the destination, the data, the windows
    and the scalers. Nothing is written.

    Raises:
        ForecastError: what training would refuse, with the fix in its message.
    """
    Store(model_dir).check_writable()
    return prepare(load_panel(data_config, log) if panel is None else panel, train_config, log)


def _check_finite(fitted: Fitted) -> None:
    """Refuse to save a model whose validation forecasts are not numbers (a diverged loss): its
    bundle could not be written as JSON, and it could not forecast.

    Raises:
        ForecastError: with the options that tame a diverging loss.
    """
    mae = fitted.metrics.val_mae
    if not math.isfinite(mae):
        raise ForecastError(
            f"training diverged: the validation MAE is {mae}, so nothing was saved. "
            "Lower --learning-rate or --clipnorm, or try --loss huber."
        )


def _reread(current: Bundle | None, panel: Panel, data_config: DataConfig, frame: pd.DataFrame | None) -> Panel | None:
    """This run's data (its file, standard input as read, or the DataFrame `frame`) read again with
    the current version's columns, where it reads columns this run does not (a feature dropped
    tonight), so promotion can score it on its own inputs; None where it reads none that this run
    lacks, or the data cannot be read with its columns (a ticker's download holds no others)."""
    if current is None:
        return None
    meta = current.metadata
    if set(meta.columns) <= set(panel.first.frame.columns):
        return None
    source = frame if frame is not None else data_config.path
    if source is None or (isinstance(source, str) and source != STDIN and not Path(source).is_file()):
        return None  # a ticker, or a file gone since
    try:
        series = read_data(current, [key for key in panel.series if key in meta.series], source, lambda message: None,
                           others=True)
    except ForecastError:
        return None
    return Panel(series, meta.id_col)


def _check_reads_back(staging: Path, current_id: str | None) -> None:
    """Read the version just written back as `forecast predict` reads it, and forecast from its
    stored history, so that no version predict would refuse is ever published or made current.

    Raises:
        BundleError: it does not read back; the caller removes it.
    """
    try:
        bundle = read_bundle(staging)
        if bundle.metadata.future_features:
            bundle.forecaster()  # its forecast needs future values this run does not have
        else:
            forecast_bundle(bundle)
    except ForecastError as exc:
        stays = f"{current_id} stays current" if current_id else "no version is current"
        raise BundleError(f"the trained version does not read back as predict would read it ({exc}), so it was not "
                          f"saved and {stays}. Check the data's column names and values, and retrain.") from None


def _readable(store: Store, version_id: str | None, log: Log) -> Bundle | None:
    """The current bundle, or None when there is none or it cannot be read (it is then replaced)."""
    if version_id is None:
        return None
    try:
        return store.open(version_id)
    except ForecastError as exc:
        log(f"warning: the current version cannot be read ({exc})")
        return None
