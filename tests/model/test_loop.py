"""The training loop: window batches in rounds, the patience and batch-size heuristics, networks
trained again from their first weights, and the validation loss early stopping reads."""

import keras
import numpy as np
import pytest

from forecast.config import TrainConfig, WindowNorm
from forecast.data.windowing import input_windows, target_windows
from forecast.model.loop import _window_batches, choose_batch_size, effective_patience, passes_per_round


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


@pytest.mark.parametrize("steps, epochs, expected", [(3, 100, 10), (30, 100, 1), (54, 100, 1), (7, 100, 5), (3, 4, 4), (1, 100, 30)])
def test_a_round_groups_passes_until_it_covers_enough_gradient_steps(steps, epochs, expected):
    assert passes_per_round(steps, epochs) == expected


def test_each_pass_of_a_round_visits_every_window_once_in_an_order_of_its_own():
    series = np.arange(40.0)
    inputs, targets = input_windows(series[:, None], 5), target_windows(series, 5, 2)
    batches = _window_batches(keras)(inputs, None, targets, np.arange(30), batch_size=4, shuffle_seed=0, passes=3)
    batches.on_epoch_begin()
    assert len(batches) == 3 * 8
    passes = [np.concatenate([batches[p * 8 + i][0][:, 0, 0] for i in range(8)]) for p in range(3)]
    for seen in passes:
        assert sorted(seen) == list(range(30))
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[1], passes[2])


def _prepared(**options):
    """A noisy monthly season of 120 rows: 82 training windows, 3 gradient steps a pass at batch 32."""
    import pandas as pd

    from forecast.data.load import Panel, Series
    from forecast.model.prepare import prepare

    values = 10 + 5 * np.sin(2 * np.pi * np.arange(120) / 12) + np.random.default_rng(3).normal(0, 1, 120)
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2000-01-01", periods=120, freq="MS", name="month"))
    panel = Panel({"": Series(frame, "y", (), "MS", "month", {"kind": "csv", "path": "y.csv"})}, None)
    config = dict(lookback=12, horizon=6, layers=1, units=4, dropout=0.0, batch_size=32, window_norm="revin", interval_refits=0)
    return prepare(panel, TrainConfig(**{**config, **options}))


def test_a_run_ends_on_the_epoch_asked_for_even_inside_a_round():
    from forecast.model.devices import choose_placement
    from forecast.model.loop import Run

    notes = []
    run = Run(_prepared(epochs=40, patience=100), choose_placement(), notes.append, 2)
    assert run.passes == 10  # 3 gradient steps a pass, 30 a round
    run.advance(15)
    assert run.epochs_run == 15 and run.history["epoch"] == [10, 15]
    run.advance(40)
    assert run.history["epoch"] == [10, 15, 25, 35, 40] and run.finished
    assert run.best_epoch in run.history["epoch"]
    assert [note.split(":")[0] for note in notes if note.startswith("epoch ")] == [
        "epoch 10/40", "epoch 15/40", "epoch 25/40", "epoch 35/40", "epoch 40/40"]


def test_a_network_trained_again_from_its_first_weights_trains_as_a_fresh_one():
    from forecast.model.devices import choose_placement
    from forecast.model.loop import Run

    prepared, placement = _prepared(epochs=20, patience=100), choose_placement()

    def twice():
        fresh = Run(prepared, placement, lambda m: None, 0)
        fresh.advance(20)
        trained_on = fresh.model.get_weights()
        again = Run(prepared, placement, lambda m: None, 0, network=fresh.network)  # weights and optimizer reset
        assert again.model is fresh.model
        assert all(np.array_equal(a, b) for a, b in zip(again.model.get_weights(), fresh.network.first))
        assert not all(np.array_equal(a, b) for a, b in zip(trained_on, fresh.network.first))
        again.advance(20)
        return fresh.history["val_loss"], again.history["val_loss"]

    fresh, again = twice()
    # The same training as a fresh network, up to float rounding (its compiled steps are reused),
    # where going on from the trained weights would start far lower.
    np.testing.assert_allclose(again, fresh, rtol=1e-2)
    assert twice() == (fresh, again)  # and the same seed gives the same models, reuse included


def test_the_validation_loss_is_the_loss_keras_evaluates():
    from forecast.model.devices import choose_placement
    from forecast.model.loop import Run, validation_loss

    run = Run(_prepared(epochs=10, window_norm=WindowNorm.seasonal, loss="huber"), choose_placement(), lambda m: None, 0)
    run.advance(10)
    inputs, targets = run.validation
    expected = run.members.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    assert validation_loss(run.members, inputs, targets, False) == pytest.approx(expected, rel=1e-5)
    assert run.history["val_loss"][-1] == pytest.approx(expected, rel=1e-5)
