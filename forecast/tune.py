"""`forecast tune`: a search over the options that matter, each trial scored on rolling-origin
validation folds inside the training part, with Optuna (TPE sampling, median pruning, a journal
file that makes the search resumable).

What the search never reads: the last `holdout` rows of each series, where `forecast evaluate`
places its test windows (by default its 3 folds of one horizon each). On the rows before them,
fold k of K trains as `forecast train` would on the rows before its origin and forecasts every
origin from there to the next fold's (a horizon of origins, a step apart). With 100 rows, horizon
12, holdout 36 and 3 folds: the search sees rows 0..63; fold 1 trains on rows 0..16 and forecasts
from origins 17..28, fold 2 on 0..28 from 29..40, fold 3 on 0..40 from 41..52 (its last window
ends on row 63). A trial's score is the mean MASE over its folds' windows (each fold's scale from
the rows it trained on).

The first trial is the options as given (the defaults unless set), so the best found is never
worse than them on the folds. Trial k is sampled by a TPE sampler seeded with `seed + k`, k
counting finished trials, so a search stopped and resumed proposes what an uninterrupted one
would; training uses `--seed` in every trial.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from forecast.config import CycleInputs, DataConfig, TargetTransform, TrainConfig, WindowNorm
from forecast.data.frequency import season_length
from forecast.data.load import Panel, load_panel
from forecast.errors import ConfigError, DataError, ForecastError, writing
from forecast.evaluation.metrics import mase_scale
from forecast.model.cluster import refuse
from forecast.model.fit import choose_lookback, fit, prepare
from forecast.model import stopping

Log = Callable[[str], None]
STUDY = "forecast-tune"  # the study's name inside the journal file
INTERRUPTED = "interrupted"  # user attribute of a trial a signal stopped; it runs again on resume


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial as the results table shows it."""

    number: int
    options: dict
    state: str  # "complete", "pruned" (stopped after a bad fold), "failed" (the options do not fit the data)
    mase: float | None  # mean over the folds it finished
    seconds: float
    note: str = ""


@dataclasses.dataclass(frozen=True)
class TuneResult:
    trials: list[Trial]
    best: Trial
    defaults: Trial  # the first trial: the options as given
    folds: int
    holdout: int


def search_space(base: TrainConfig, panel: Panel, longest_lookback: int) -> dict[str, list]:
    """Each searched option's choices (the learning rate: its range, sampled on a log scale).

    The lookback is searched as multiples of the one training would choose, up to what the
    earliest fold's rows allow; the log transform only where every target value is above zero.
    """
    first = panel.first
    season = season_length(first.frequency)
    lookback = base.lookback or choose_lookback(season, base.horizon, longest_lookback + 3 * base.horizon)
    lookbacks = sorted({max(1, round(lookback * m)) for m in (0.5, 1, 2, 4)})
    positive = all(bool((s.frame[s.target] > 0).all()) for s in panel.series.values())
    space = {
        "lookback": [n for n in lookbacks if n <= max(longest_lookback, lookback)],
        "cell": ["lstm", "gru"],
        "layers": [1, 2, 3],
        "units": [16, 32, 64, 128],
        "dropout": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        "learning_rate": [3e-4, 1e-2],
        "window_norm": [norm.value for norm in (WindowNorm.auto, WindowNorm.revin, WindowNorm.seasonal, WindowNorm.last)],
        "linear_path": [False, True],
        "cycle_inputs": [c.value for c in CycleInputs],
        "target_transform": [t.value for t in TargetTransform] if positive else [TargetTransform.none.value],
    }
    # The options as given are the first trial, so each is one of the choices.
    for name, choices in space.items():
        given = lookback if name == "lookback" else _value(getattr(base, name))
        if name == "learning_rate":
            space[name] = [min(choices[0], given), max(choices[1], given)]
        elif given not in choices:
            space[name] = sorted([*choices, given], key=str) if name != "lookback" else sorted([*choices, given])
    return space


def tune(
    data_config: DataConfig,
    base: TrainConfig,
    *,
    trials: int | None = 20,
    budget: float | None = None,
    folds: int = 3,
    holdout: int | None = None,
    study_path: str = "tune.journal",
    log: Log = lambda message: None,
    panel: Panel | None = None,
) -> TuneResult:
    """Search the options in `search_space`, starting from `base` (which also fixes every option
    not searched), until `trials` trials have finished in all (this run and earlier ones on the
    same journal) or `budget` seconds of this run are spent.

    Args:
        holdout: rows at the end of each series the search never reads; default 3 horizons.
        study_path: the journal file: a search with the same data and options goes on from it.

    Raises:
        ForecastError: unusable data or options, or a journal from another search.
        forecast.model.stopping.Stopped: a signal; the trial it stopped runs again on resume.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    refuse("tune", base.strategy)
    if trials is None and budget is None:
        raise ConfigError("tune needs an end: give --trials, --budget or both.")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise ConfigError(f"--trials must be a whole number of at least 1. Received: {trials}.")
    if folds < 1 or isinstance(folds, bool):
        raise ConfigError(f"--folds must be a whole number of at least 1. Received: {folds}.")
    panel = load_panel(data_config, log) if panel is None else panel
    horizon = base.horizon
    holdout = 3 * horizon if holdout is None else holdout
    if not isinstance(holdout, int) or holdout < 0:
        raise ConfigError(f"--holdout must be a whole number of rows, 0 or more. Received: {holdout}.")
    seen = _seen(panel, holdout)
    origins = _fold_origins(seen, horizon, folds)
    earliest = min(o[0] for o in origins.values())
    longest = earliest - 3 * horizon  # the lookback the earliest fold can still train with
    if longest < 1:
        raise DataError(
            f"the earliest of {folds} tuning folds leaves {earliest} rows to train on before the {holdout} held-out rows; "
            f"it needs more than {3 * horizon} (3 horizons). Use fewer --folds, a smaller --holdout or --horizon, or more data."
        )
    space = search_space(base, seen, longest)
    # A journal write that fails (a full disk) may leave a torn last line, which the next run cuts away.
    with _held(study_path), writing(f"append to the tune journal {study_path!r}", "; the trials it holds are kept", "--study"):
        return _search(optuna, study_path, data_config, base, seen, origins, space, trials, budget, folds, holdout, log)


def _search(optuna, study_path, data_config, base, seen, origins, space, trials, budget, folds, holdout, log) -> TuneResult:
    study, storage = _open_study(optuna, study_path, _signature(data_config, base, folds, holdout, space), log)
    if not study.trials:
        defaults = {name: _value(getattr(base, name)) for name in space}
        earliest = min(o[0] for o in origins.values())
        defaults["lookback"] = base.lookback or choose_lookback(season_length(seen.first.frequency), base.horizon, earliest)
        study.enqueue_trial(defaults)
    _requeue_interrupted(study, storage)
    started, cut = time.monotonic(), None
    while True:
        done = [t for t in study.trials if t.state.is_finished() and not t.user_attrs.get(INTERRUPTED)]
        if trials is not None and len(done) >= trials:
            break
        if budget is not None and time.monotonic() >= started + budget:
            cut = -1  # the budget ended the search between trials
            break
        sampler = optuna.samplers.TPESampler(seed=(base.seed + len(done)) % 2**32, n_startup_trials=5)
        study = optuna.load_study(study_name=STUDY, storage=storage, sampler=sampler,
                                  pruner=optuna.pruners.MedianPruner(n_startup_trials=3))
        trial = study.ask()
        options = {name: _suggest(trial, name, choices) for name, choices in space.items()}
        begun = time.perf_counter()
        try:
            with stopping.deadline(None if budget is None else started + budget):
                value = _score(trial, seen, origins, dataclasses.replace(base, **options))
        except stopping.Stopped:
            trial.set_user_attr(INTERRUPTED, True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
        except stopping.OutOfTime:
            trial.set_user_attr(INTERRUPTED, True)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log(f"tune: the budget ran out during trial {trial.number}; it runs again first when the search resumes")
            cut = trial.number
            break
        except _Pruned as pruned:
            trial.set_user_attr("seconds", round(time.perf_counter() - begun, 1))
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            log(_line(trial.number, options, f"pruned after fold {pruned.fold} (MASE {pruned.mase:.4g} so far)", begun, study))
            continue
        except ForecastError as exc:  # options the data cannot support: a lookback too long for a fold
            trial.set_user_attr("note", str(exc).splitlines()[0][:200])
            trial.set_user_attr("seconds", round(time.perf_counter() - begun, 1))
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            log(_line(trial.number, options, f"failed: {exc}", begun, study))
            continue
        trial.set_user_attr("seconds", round(time.perf_counter() - begun, 1))
        study.tell(trial, value)
        log(_line(trial.number, options, f"MASE {value:.4g}", begun, study))
    return _result(study, folds, holdout, cut)


class _Pruned(Exception):
    def __init__(self, fold: int, mase: float):
        super().__init__(f"pruned after fold {fold}")
        self.fold, self.mase = fold, mase


def _score(trial, panel: Panel, origins: dict[str, list[int]], config: TrainConfig) -> float:
    """Mean MASE of `config` over the folds' windows; each fold reports to the pruner as it ends."""
    horizon = config.horizon
    season = season_length(panel.first.frequency)
    config = dataclasses.replace(config, interval_refits=0)  # intervals play no part in the score
    errors = []
    for fold in range(len(next(iter(origins.values())))):
        cut = {key: o[fold] for key, o in origins.items()}
        fitted = fit(prepare(panel.head(cut), config))
        rows = {key: s.frame.to_numpy() for key, s in panel.series.items()}
        stamps = {key: s.frame.index for key, s in panel.series.items()}
        # Every origin from this fold's to the next's (or to the last whose window ends in the data).
        ends = {key: (o[fold + 1] if fold + 1 < len(o) else len(rows[key]) - horizon + 1) for key, o in origins.items()}
        at = {key: np.arange(cut[key], ends[key]) for key in rows}
        forecasts = fitted.forecaster().forecast(rows, horizon, at, stamps)
        for key, series in panel.series.items():
            target = series.frame[series.target].to_numpy()
            actual = np.lib.stride_tricks.sliding_window_view(target, horizon)[at[key]]  # (origins, horizon)
            scale = mase_scale(target[: cut[key]], season)
            errors.append((np.abs(forecasts[key] - actual) / scale).ravel())
        score = float(np.mean(np.concatenate(errors)))
        if not math.isfinite(score):
            raise DataError("the forecasts are not finite numbers (training diverged)")
        trial.report(score, fold)
        if fold + 1 < len(next(iter(origins.values()))) and trial.should_prune():
            raise _Pruned(fold + 1, score)
    return score


def _seen(panel: Panel, holdout: int) -> Panel:
    """The panel without its last `holdout` rows per series."""
    short = [key for key, s in panel.series.items() if len(s.frame) <= holdout]
    if short:
        raise DataError(f"--holdout {holdout} is as long as the series {short[0]!r} ({len(panel.series[short[0]].frame)} rows). "
                        "Use a smaller --holdout.")
    return panel.head({key: len(s.frame) - holdout for key, s in panel.series.items()}) if holdout else panel


def _fold_origins(panel: Panel, horizon: int, folds: int) -> dict[str, list[int]]:
    """Each series' fold origins, oldest first: a horizon apart, the last window ending on the last row."""
    return {key: [len(s.frame) - horizon - (folds - k) * horizon + 1 for k in range(folds)] for key, s in panel.series.items()}


def _held(path: str):
    """Hold an flock on the journal file for the whole search (the kernel drops it however the
    process ends), so two searches never write one journal.

    Raises:
        BusyError: another search holds it.
    """
    import contextlib
    import fcntl

    from forecast.errors import BusyError

    @contextlib.contextmanager
    def held():
        target = Path(path)
        if target.exists() and not target.is_file():
            raise ConfigError(f"--study {path!r} is not a file. Name a journal file (it is created if missing).")
        try:
            handle = open(target, "a")
        except OSError as exc:
            raise ConfigError(f"cannot open the --study journal {path!r} ({exc.strerror}). Check the path.") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise BusyError(f"another tune is searching with the --study journal {path!r}. Wait for it, "
                                "or give another --study file.") from None
            yield
        finally:
            handle.close()

    return held()


def _open_study(optuna, path: str, signature: str, log: Log):
    """The study in the journal file at `path`, new or resumed, and its storage; a torn last line
    (forecast.journal) is cut away before anything is written.

    Raises:
        ConfigError: the journal holds a search with other data or options, or is damaged.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from forecast import journal

    torn = journal.torn_tail(path)  # refuses a damaged journal before anything is written to it
    try:
        storage = JournalStorage(JournalFileBackend(str(path)))
    except Exception as exc:  # optuna raises its own errors for a file that is not a journal
        raise ConfigError(f"--study {path!r} is not a tune journal ({str(exc).splitlines()[0][:120]}). "
                          "Give another --study file.") from None
    # Loading writes nothing (Optuna skips a torn line), so a refused journal stays as it was.
    study = optuna.load_study(study_name=STUDY, storage=storage) if STUDY in optuna.get_all_study_names(storage) else None
    stored = None if study is None else study.user_attrs.get("signature")
    if stored is not None and stored != signature:
        raise ConfigError(f"--study {path!r} holds a search with other data or options. Give another --study file to "
                          "start a new search, or the same data and options to resume that one.")
    if torn:
        journal.cut_torn(path, torn)
        log(f"tune: ignored a torn last line of the journal ({torn} bytes), left by an interrupted run")
    if study is None:
        study = optuna.create_study(study_name=STUDY, storage=storage, direction="minimize")
    if stored is None:
        study.set_user_attr("signature", signature)
    return study, storage


def _signature(data_config: DataConfig, base: TrainConfig, folds: int, holdout: int, space: dict) -> str:
    """What makes two searches the same one: the data's source, the options and the space."""
    from forecast.config import config_to_dict

    text = json.dumps([config_to_dict(data_config), config_to_dict(base), folds, holdout, space], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _requeue_interrupted(study, storage) -> None:
    """Trials a signal or a kill stopped (failed as interrupted, or left running) run again first."""
    import optuna

    again = {t.user_attrs.get("again_of") for t in study.trials}
    for trial in study.trials:
        if trial.state is optuna.trial.TrialState.RUNNING:  # its process was killed: nothing else holds the journal
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        elif not (trial.state is optuna.trial.TrialState.FAIL and trial.user_attrs.get(INTERRUPTED)):
            continue
        if trial.number not in again:
            study.enqueue_trial(trial.params, user_attrs={"again_of": trial.number})


def _suggest(trial, name: str, choices: list):
    if name == "learning_rate":
        return trial.suggest_float(name, choices[0], choices[1], log=True)
    return trial.suggest_categorical(name, choices)


def _value(value):
    return value.value if hasattr(value, "value") else value


def _line(number: int, options: dict, outcome: str, begun: float, study) -> str:
    best = _best(study)
    best_text = f"; best so far {best.value:.4g} (trial {best.number})" if best is not None else ""
    return f"trial {number}: {describe(options)}: {outcome} in {time.perf_counter() - begun:.0f} s{best_text}"


def _best(study):
    import optuna

    complete = [t for t in study.trials if t.state is optuna.trial.TrialState.COMPLETE]
    return min(complete, key=lambda t: (t.value, t.number)) if complete else None


def describe(options: dict) -> str:
    """Options in a short line: lookback 24, lstm 2x64, dropout 0.2, lr 0.001, window norm auto, ..."""
    parts = [f"lookback {options['lookback']}", f"{options['cell']} {options['layers']}x{options['units']}",
             f"dropout {options['dropout']:g}", f"lr {options['learning_rate']:.2g}", f"window norm {options['window_norm']}"]
    if options.get("linear_path"):
        parts.append("linear path")
    if options.get("cycle_inputs") == "none":
        parts.append("no cycle inputs")
    if options.get("target_transform") == "log":
        parts.append("log target")
    return ", ".join(parts)


def _result(study, folds: int, holdout: int, cut: int | None = None) -> TuneResult:
    """The finished trials and the best; `cut`: the trial the budget stopped (-1: the budget ended
    the search between trials), None when it did not end it."""
    import optuna

    states = {optuna.trial.TrialState.COMPLETE: "complete", optuna.trial.TrialState.PRUNED: "pruned",
              optuna.trial.TrialState.FAIL: "failed"}
    table = []
    for t in study.trials:
        if t.state not in states or t.user_attrs.get(INTERRUPTED):
            continue
        value = t.value if t.state is optuna.trial.TrialState.COMPLETE else (
            t.intermediate_values[max(t.intermediate_values)] if t.intermediate_values else None)
        table.append(Trial(t.number, dict(t.params), states[t.state], value, float(t.user_attrs.get("seconds", 0.0)),
                           t.user_attrs.get("note", "")))
    complete = [t for t in table if t.state == "complete"]
    if not complete and cut is not None:
        stopped = f" (trial {cut} was stopped; it runs again first when the search resumes)" if cut >= 0 else ""
        raise ConfigError(f"--budget ran out before any trial finished{stopped}. Give a longer --budget, "
                          "or run the same command again to go on.")
    if not complete:
        raise DataError("no trial finished: every option set failed on the folds (see the notes above). "
                        "Use fewer --folds or a smaller --holdout, or more data.")
    best = min(complete, key=lambda t: (t.mase, t.number))
    return TuneResult(table, best, table[0], folds, holdout)


def best_options(data_config: DataConfig, base: TrainConfig, result: TuneResult) -> dict:
    """The options `forecast train --config` should read: the data and training options given
    (those set away from their defaults, and the horizon and seed), with the best trial's in place
    of the searched ones. The data source itself is left to the command line."""
    from forecast.config import config_to_dict

    data_defaults, train_defaults = config_to_dict(DataConfig(path="-")), config_to_dict(TrainConfig())
    chosen = {}
    for name, value in config_to_dict(data_config).items():
        if name not in ("path", "ticker", "start", "end", "offline") and value != data_defaults[name]:
            chosen[name] = value
    for name, value in config_to_dict(base).items():
        value = result.best.options.get(name, value)
        if name in result.best.options or name in ("horizon", "seed") or value != train_defaults[name]:
            chosen[name] = value
    return chosen
