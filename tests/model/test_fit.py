"""The fit loop's parts: window batches, the patience and batch-size heuristics, runs trained in stages, and what `--window-norm auto` trains and keeps."""

import re

import keras
import numpy as np
import pandas as pd
import pytest

from forecast.data.windowing import input_windows, target_windows
from forecast.model.fit import _window_batches, choose_batch_size, effective_patience


def test_each_epoch_draws_a_fresh_sample_of_windows():
    series = np.arange(40.0)
    inputs, targets = input_windows(series[:, None], 5), target_windows(series, 5, 2)
    batches = _window_batches(keras)(inputs, None, targets, np.arange(30), batch_size=4, shuffle_seed=0, draw=10)
    batches.on_epoch_begin()
    assert len(batches) == 3 and [len(batches[i][0]) for i in range(3)] == [4, 4, 2]
    first = np.concatenate([batches[i][0][:, 0, 0] for i in range(3)])
    batches.on_epoch_begin()
    second = np.concatenate([batches[i][0][:, 0, 0] for i in range(3)])
    assert len(set(first)) == 10 and set(first) != set(second)  # ten distinct windows, a new ten next epoch
    x, y = batches[0]
    np.testing.assert_array_equal(y[:, 0], x[:, -1, 0] + 1)  # each target follows its own window


@pytest.mark.parametrize("patience, steps, expected", [(10, 3, 100), (10, 91, 10), (10, 30, 10), (10, 29, 11), (0, 3, 0), (50, 3, 100)])
def test_patience_covers_enough_gradient_steps(patience, steps, expected):
    assert effective_patience(patience, steps) == expected


@pytest.mark.parametrize(
    "windows,device,expected",
    [(76, "cpu", 32), (2047, "cpu", 32), (2048, "cpu", 64), (13_879, "cpu", 256), (10**6, "cpu", 256),
     (13_879, "gpu", 256), (10**6, "gpu", 1024), (10**6, "tpu", 1024)],
)
def test_default_batch_grows_with_the_training_windows_up_to_the_device_ceiling(windows, device, expected):
    assert choose_batch_size(windows, device) == expected


def _panel(values, freq="MS"):
    import pandas as pd

    from forecast.data.load import Panel, Series

    index = pd.date_range("2000-01-01", periods=len(values), freq=freq, name="month")
    frame = pd.DataFrame({"y": np.asarray(values, dtype=float)}, index=index)
    return Panel({"": Series(frame, "y", (), freq, "month", {"kind": "csv", "path": "y.csv"})}, None)


AUTO = dict(lookback=24, horizon=12, layers=1, units=4, epochs=3, batch_size=16, window_norm="auto", interval_refits=0)


def test_auto_on_a_purely_seasonal_series_forecasts_seasonal_naive_exactly():
    from forecast.config import TrainConfig
    from forecast.model.fit import fit, prepare

    season = 10 + 5 * np.sin(2 * np.pi * np.arange(12) / 12)
    fitted = fit(prepare(_panel(np.tile(season, 12)), TrainConfig(**AUTO)))
    assert fitted.selection.val_mae["seasonal naive"] == pytest.approx(0.0, abs=1e-6)  # float32 rounding only
    assert fitted.selection.chosen in ("seasonal", "seasonal naive")  # the anchored head had nothing to learn
    assert fitted.metrics.val_mae == pytest.approx(0.0, abs=1e-4)
    frame = fitted.prepared.panel.series[""].frame
    stamps = pd.date_range(frame.index[0], periods=len(frame) + 12, freq="MS")  # the next year's read as known inputs
    (forecast,) = fitted.forecaster().forecast({"": frame.to_numpy()}, 12, stamps={"": stamps})[""]
    np.testing.assert_allclose(forecast, season, rtol=1e-5)  # next year repeats the last one


def test_auto_never_keeps_a_network_that_loses_to_seasonal_naive_on_validation():
    from forecast.config import TrainConfig, WindowNorm
    from forecast.model.fit import NAIVE, SEASONAL_NAIVE, fit, prepare

    noise = np.random.default_rng(3).normal(100, 10, 160)
    fitted = fit(prepare(_panel(noise), TrainConfig(**AUTO)), log=(notes := []).append)
    scores = fitted.selection.val_mae
    assert set(scores) == {"revin", "seasonal", SEASONAL_NAIVE, NAIVE}
    kept = fitted.selection.chosen
    assert fitted.metrics.val_mae == scores[kept] <= scores[SEASONAL_NAIVE]
    if kept not in (SEASONAL_NAIVE, NAIVE):  # a network only when it beats both baselines
        assert scores[kept] < min(scores[SEASONAL_NAIVE], scores[NAIVE])
    assert fitted.metrics.seasonal_naive_mae == pytest.approx(scores[SEASONAL_NAIVE])
    assert fitted.metrics.naive_mae == pytest.approx(scores[NAIVE])
    assert fitted.prepared.config.window_norm is (WindowNorm.revin if kept == "revin" else WindowNorm.seasonal)
    assert any(note.startswith(f"window norm auto: kept {kept}") for note in notes)


@pytest.mark.parametrize("anchor, baseline", [(12, "seasonal_naive_mae"), (1, "naive_mae")])
def test_the_baseline_candidates_are_the_anchored_network_with_a_zero_correction(anchor, baseline):
    from forecast.config import TrainConfig
    from forecast.model.devices import choose_placement
    from forecast.model.fit import _anchor_errors, _validate, _with_norm, _zero_correction, prepare
    from forecast.config import WindowNorm

    values = np.random.default_rng(4).normal(50, 5, 120)
    prepared = _with_norm(prepare(_panel(values), TrainConfig(**{**AUTO, "batch_size": 16})), WindowNorm.seasonal)
    placement = choose_placement()
    fitted = _validate(prepared, placement, _zero_correction(prepared, placement, anchor))
    assert fitted.metrics.val_mae == pytest.approx(getattr(fitted.metrics, baseline), rel=1e-6)
    assert fitted.metrics.epochs_run == 0
    # What lets auto score the baselines without building their networks:
    np.testing.assert_allclose(_anchor_errors(prepared, anchor), fitted.window_errors, rtol=1e-5, atol=1e-4)


def test_auto_on_a_random_walk_keeps_nothing_worse_than_naive():
    from forecast.config import TrainConfig
    from forecast.model.fit import NAIVE, fit, prepare

    walk = 1000 + np.cumsum(np.random.default_rng(5).normal(0, 10, 160))
    fitted = fit(prepare(_panel(walk), TrainConfig(**AUTO)))
    scores = fitted.selection.val_mae
    assert scores[NAIVE] == pytest.approx(fitted.metrics.naive_mae)
    assert fitted.selection.chosen in (NAIVE, "seasonal naive") or fitted.metrics.val_mae < scores[NAIVE]
    if fitted.selection.chosen == NAIVE:  # the version forecasts the last value, every step
        frame = fitted.prepared.panel.series[""].frame
        stamps = pd.date_range(frame.index[0], periods=len(frame) + 12, freq="MS")
        forecast = fitted.forecaster().forecast({"": frame.to_numpy()}, 12, stamps={"": stamps})[""][0]
        np.testing.assert_allclose(forecast, walk[-1], rtol=1e-5)


def test_a_network_must_beat_the_baseline_by_more_than_one_standard_error():
    from types import SimpleNamespace

    from forecast.model.fit import _gain

    def candidate(errors):
        return np.asarray(errors, dtype=float)

    # 8 validation windows of horizon 2: 4 independent windows.
    prepared = SimpleNamespace(config=SimpleNamespace(horizon=2), splits={"": SimpleNamespace(n_val=8)})
    baseline = candidate([[3, 3]] * 8)
    network = candidate([[1, 1], [5, 5]] * 4)  # per window: 2 better, 2 worse, in turn
    gain, error = _gain(baseline, network, prepared)
    assert gain == 0.0 and error == pytest.approx(np.std([2, -2] * 4, ddof=1) / 2)
    steady = candidate([[2, 2.5]] * 8)  # 0.75 better on every window: no noise at all
    assert _gain(baseline, steady, prepared) == (0.75, 0.0)
    # One independent window (horizon 2, 2 validation windows) cannot tell anything apart.
    short = SimpleNamespace(config=SimpleNamespace(horizon=2), splits={"": SimpleNamespace(n_val=2)})
    assert _gain(candidate([[3, 3]] * 2), candidate([[1, 1]] * 2), short) == (2.0, np.inf)


def test_auto_moves_up_from_seasonal_naive_only_on_clear_wins():
    from types import SimpleNamespace

    from forecast.model.fit import NAIVE, SEASONAL_NAIVE, _choose

    def candidate(errors):
        return np.asarray(errors, dtype=float)[:, None]  # (windows, horizon 1)

    prepared = SimpleNamespace(config=SimpleNamespace(horizon=1), splits={"": SimpleNamespace(n_val=8)})
    flat, noisy_better, clearly_better = [4] * 8, [1, 6] * 4, [2] * 8
    notes = []
    # Naive narrowly ahead of seasonal naive (3.5 vs 4, noisily): seasonal naive stays; so does it
    # against a network that is better only by noise.
    chosen, error = _choose({"revin": candidate(noisy_better), SEASONAL_NAIVE: candidate(flat),
                             NAIVE: candidate(noisy_better)}, prepared, notes.append)
    assert chosen == SEASONAL_NAIVE and error > 0.5
    assert "window norm auto: naive beats seasonal naive on validation by 0.5, less than one standard error" in notes[0]
    # A clear network win over seasonal naive, but naive is lower still: never a network that loses to a baseline.
    assert _choose({"revin": candidate([2.5] * 8), SEASONAL_NAIVE: candidate(flat), NAIVE: candidate([2, 2.1] * 4)},
                   prepared, notes.append)[0] == NAIVE
    # Naive lower than the network but, over two independent windows, not clearly better than
    # seasonal naive: seasonal naive stays, and the network, which loses to naive, does not replace it.
    two = SimpleNamespace(config=SimpleNamespace(horizon=4), splits={"": SimpleNamespace(n_val=8)})
    assert _choose({"revin": candidate([2.5] * 8), SEASONAL_NAIVE: candidate(flat), NAIVE: candidate([0, 4.8] * 4)},
                   two, notes.append)[0] == SEASONAL_NAIVE
    assert _choose({"revin": candidate(clearly_better), "seasonal": candidate([np.nan] * 8),
                    SEASONAL_NAIVE: candidate(flat)}, prepared, notes.append) == ("revin", 0.0)


RACE = dict(lookback=24, horizon=12, layers=1, units=4, epochs=6, patience=2, batch_size=4, window_norm="auto", interval_refits=0)


def _long_noisy_season():
    rng = np.random.default_rng(6)
    return 10 + 5 * np.sin(2 * np.pi * np.arange(600) / 12) + rng.normal(0, 1, 600)


@pytest.mark.parametrize("pause", ["a second fit call", "a snapshot between the fit calls"])
def test_a_run_trained_in_stages_matches_one_trained_in_one_go(pause):
    from forecast.config import TrainConfig, WindowNorm
    from forecast.model.devices import choose_placement
    from forecast.model.fit import _Run, _with_norm, prepare

    prepared = _with_norm(prepare(_panel(_long_noisy_season()), TrainConfig(**RACE)), WindowNorm.revin)
    placement = choose_placement()
    whole = _Run(prepared, placement, lambda m: None, 0)
    whole.advance(4)
    staged = _Run(prepared, placement, lambda m: None, 0)  # built after `whole` trained: the same seeds
    staged.advance(2)
    if pause.startswith("a snapshot"):
        staged.snapshot()
    staged.advance(4)
    assert staged.epochs_run == whole.epochs_run == 4
    np.testing.assert_allclose(staged.history["val_loss"], whole.history["val_loss"], rtol=1e-5)
    first, second = whole.finish(), staged.finish()  # both back at the same best epoch
    assert first.metrics.val_mae == pytest.approx(second.metrics.val_mae, rel=1e-5)


def test_auto_races_its_networks_and_trains_only_the_leader_to_the_end():
    from forecast.config import TrainConfig
    from forecast.model.devices import choose_placement
    from forecast.model.fit import _race, prepare

    prepared = prepare(_panel(_long_noisy_season()), TrainConfig(**RACE))
    notes = []
    runs = _race(prepared, choose_placement(), notes.append, 0)
    rung = 3  # the effective patience: 110 gradient steps an epoch need 3 epochs to reach 300
    (leader,) = [name for name, fitted in runs.items() if fitted.metrics.epochs_run > rung]
    (other,) = set(runs) - {leader}
    assert runs[other].metrics.epochs_run == rung
    (lead,) = [note for note in notes if note.startswith(f"window norm auto: the {leader} network leads after {rung} epochs")]
    at_rung = {name: float(value) for name, value in re.findall(r"(\w+) ([\d.]+)[,)]", lead)}
    assert at_rung[leader] <= at_rung[other] == pytest.approx(runs[other].metrics.val_mae, rel=1e-3)  # logged to 4 digits


@pytest.mark.parametrize("epochs", [6, 3], ids=["the leader trains on", "both end within the race"])
def test_every_race_candidate_forecasts_with_the_weights_it_was_scored_with(epochs):
    from forecast.config import TrainConfig
    from forecast.model.devices import choose_placement
    from forecast.model.fit import _race, prepare

    # A large step, so that some candidate's best epoch is not its last (the weights a snapshot must keep).
    prepared = prepare(_panel(_long_noisy_season()), TrainConfig(**{**RACE, "epochs": epochs, "learning_rate": 0.3}))
    runs = _race(prepared, choose_placement(), lambda m: None, 0)
    assert any(fitted.metrics.best_epoch < fitted.metrics.epochs_run for fitted in runs.values())
    split, frame = prepared.splits[""], prepared.panel.series[""].frame
    origins = np.arange(split.val_start, split.n_windows) + split.lookback
    actual = target_windows(frame.to_numpy()[:, 0], 0, split.horizon)[origins]
    for fitted in runs.values():  # a snapshot (the race's other network, or both when they end in it) included
        forecast = fitted.forecaster().forecast({"": frame.to_numpy()}, split.horizon, {"": origins}, {"": frame.index})[""]
        assert np.abs(forecast - actual).mean() == pytest.approx(fitted.metrics.val_mae, rel=1e-5)



def test_interval_refits_by_default_only_where_the_validation_part_is_short_and_as_many_as_the_history_allows():
    from forecast.config import TrainConfig
    from forecast.errors import DataError
    from forecast.model.fit import _refits, prepare

    config = TrainConfig(lookback=24, horizon=12)
    notes = []
    assert _refits(prepare(_panel(np.arange(144.0)), config), notes.append) == 3  # 33 validation origins
    assert _refits(prepare(_panel(np.arange(1000.0)), config), notes.append) == 0  # 200
    assert _refits(prepare(_panel(np.arange(90.0)), config), notes.append) == 2
    assert _refits(prepare(_panel(np.arange(70.0)), config), notes.append) == 0
    assert notes == ["intervals: the history allows 2 of 3 refits",
                     "intervals: the history is too short to retrain at earlier cutoffs; calibrating on the validation errors"]
    assert _refits(prepare(_panel(np.arange(1000.0)), TrainConfig(lookback=24, horizon=12, interval_refits=2)), notes.append) == 2
    with pytest.raises(DataError, match=r"\(The earliest of 3 --interval-refits learns from 43 rows: use fewer, or 0"):
        _refits(prepare(_panel(np.arange(90.0)), TrainConfig(lookback=24, horizon=12, interval_refits=3)), notes.append)


def test_step_residuals_calibrate_as_the_padded_table_of_every_origin_did():
    """Validation calibrates steps past the horizon on the rolled origins alone; taking each
    step's residuals from the forecasts that reach it gives what one (origins, steps) table,
    NaN where an origin was not rolled, gave."""
    from forecast.evaluation.intervals import calibrate, calibrate_residuals
    from forecast.model.fit import _step_residuals

    rng = np.random.default_rng(0)
    horizon, steps = 5, 15
    direct, rolled, table = [], [], ([], [])
    for n in (31, 47):
        seen, made = rng.normal(size=(n, horizon)), rng.normal(size=(n, horizon))
        seen[-3:, -2:] = np.nan  # past the data's end
        at = np.arange(0, n - 8, 3)
        far_seen, far_made = rng.normal(size=(len(at), steps)), rng.normal(size=(len(at), steps))
        far_seen[:, :horizon], far_made[:, :horizon] = seen[at], made[at]
        far_seen[-2:, -4:] = np.nan
        direct.append((seen, made))
        rolled.append((far_seen, far_made))
        padded = [np.concatenate([a, np.full((n, steps - horizon), np.nan)], axis=1) for a in (seen, made)]
        padded[0][at, horizon:], padded[1][at, horizon:] = far_seen[:, horizon:], far_made[:, horizon:]
        table[0].append(padded[0])
        table[1].append(padded[1])
    expected = calibrate(np.concatenate(table[0]), np.concatenate(table[1]))
    assert calibrate_residuals(_step_residuals(direct, 0) + _step_residuals(rolled, horizon)) == expected
