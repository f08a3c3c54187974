import dataclasses

import keras
import numpy as np
import pytest

from forecast.config import Cell, EnsembleCells, TrainConfig, WindowNorm
from forecast.model.network import build_model, compile_model, member_cells, training_view


@pytest.mark.parametrize("cell,layer_type", [(Cell.lstm, keras.layers.LSTM), (Cell.gru, keras.layers.GRU), (Cell.rnn, keras.layers.SimpleRNN)])
def test_stack_of_the_chosen_cell(cell, layer_type):
    config = TrainConfig(cell=cell, layers=3, units=5, lookback=7, horizon=4, dropout=0.1, window_norm=WindowNorm.revin)
    model = build_model(config, n_features=2)
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    assert [type(layer) for layer in recurrent] == [layer_type] * 3
    # Every layer but the last hands its whole sequence to the next one.
    assert [layer.return_sequences for layer in recurrent] == [True, True, False]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 3
    assert model.input_shape == (None, 7, 2) and model.output_shape == (None, 4)


def test_no_dropout_layers_when_dropout_is_zero():
    model = build_model(TrainConfig(dropout=0.0, layers=2, units=3, window_norm=WindowNorm.revin), n_features=1)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.parametrize("cell", [Cell.lstm, Cell.gru])
def test_layers_stay_eligible_for_cudnn(cell):
    model = build_model(TrainConfig(cell=cell, layers=2, units=4, window_norm=WindowNorm.revin), n_features=1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN):
            config = layer.get_config()
            assert config["activation"] == "tanh"
            assert config["recurrent_activation"] == "sigmoid"
            assert config["recurrent_dropout"] == 0
            assert config["unroll"] is False
            assert config["use_bias"] is True
            if cell is Cell.gru:
                assert config["reset_after"] is True


def test_compiled_with_clipped_adam_and_mse():
    config = TrainConfig(learning_rate=0.01, clipnorm=0.5, layers=1, units=2, lookback=3, horizon=2, window_norm=WindowNorm.revin)
    model = build_model(config, n_features=1)
    compile_model(model, config)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.clipnorm == 0.5
    assert np.isclose(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 0.01)
    assert model.loss is keras.losses.mean_squared_error


def test_forward_pass_shape():
    config = TrainConfig(layers=2, units=4, lookback=5, horizon=3, window_norm=WindowNorm.revin)
    model = build_model(config, n_features=2)
    out = model(np.zeros((6, 5, 2), dtype="float32"))
    assert tuple(out.shape) == (6, 3)


def test_a_single_stack_is_its_own_training_view():
    model = build_model(TrainConfig(layers=1, units=2, lookback=4, horizon=2, window_norm=WindowNorm.revin), n_features=1)
    assert training_view(model) is model


@pytest.mark.parametrize("kind, cells", [
    (EnsembleCells.same, [Cell.gru] * 3),
    (EnsembleCells.mixed, [Cell.lstm, Cell.gru, Cell.lstm]),
])
def test_ensemble_members_and_their_cells(kind, cells):
    config = TrainConfig(layers=2, units=3, lookback=5, horizon=2, cell=Cell.gru, ensemble=3, ensemble_cells=kind, window_norm=WindowNorm.revin)
    assert member_cells(config) == cells
    model = build_model(config, n_features=1)
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    assert len(recurrent) == 6
    assert [type(layer).__name__.lower() for layer in recurrent if layer.name.endswith("_2")] == [c.value for c in cells]


@pytest.mark.parametrize("combine, members, expected", [
    ("median", 3, lambda each: np.median(each, axis=1)),
    ("median", 4, lambda each: np.median(each, axis=1)),  # the mean of the middle two
    ("mean", 3, lambda each: each.mean(axis=1)),
])
def test_ensemble_forecast_combines_members_fitted_on_their_own(combine, members, expected, tmp_path):
    config = TrainConfig(layers=1, units=3, lookback=5, horizon=2, ensemble=members, ensemble_combine=combine, window_norm="last")
    model = build_model(config, n_features=1)
    members_view = training_view(model)
    x = np.random.default_rng(0).random((4, 5, 1)).astype("float32")
    each = keras.ops.convert_to_numpy(members_view(x))
    assert each.shape == (4, members, 2)
    assert not np.allclose(each[:, 0], each[:, 1])  # different initial weights
    combined = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(combined, expected(each), rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), combined, rtol=1e-6)


def test_the_ensemble_loss_is_each_members_own():
    config = TrainConfig(layers=1, units=3, lookback=5, horizon=2, ensemble=3, window_norm="last")
    members = training_view(build_model(config, n_features=1))
    x = np.random.default_rng(0).random((4, 5, 1)).astype("float32")
    each = keras.ops.convert_to_numpy(members(x))

    compile_model(members, config)
    y = np.random.default_rng(1).random((4, 2)).astype("float32")
    loss = members.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    # The loss is every member's own MSE, averaged: not the MSE of the averaged forecast.
    np.testing.assert_allclose(loss, np.mean((each - y[:, None, :]) ** 2), rtol=1e-5)
    assert not np.isclose(loss, np.mean((each.mean(axis=1) - y) ** 2), rtol=1e-3)


def test_window_normalization_exact_values():
    """Constant-free arithmetic checked by hand, as Keras's own layer tests do."""
    from forecast.model.network import DenormalizeForecast, WindowNormalization

    # Two windows of 4 steps, target then one feature: (2, 4, 2).
    window = np.arange(16, dtype="float32").reshape(2, 4, 2)
    target = window[:, :, 0]  # [[0, 2, 4, 6], [8, 10, 12, 14]]

    normalised, shift, scale = (keras.ops.convert_to_numpy(x) for x in WindowNormalization("last")(window))
    np.testing.assert_array_equal(shift, [[6.0], [14.0]])
    np.testing.assert_array_equal(scale, [[1.0], [1.0]])
    np.testing.assert_array_equal(normalised[:, :, 0], [[-6, -4, -2, 0], [-6, -4, -2, 0]])
    np.testing.assert_array_equal(normalised[:, :, 1], window[:, :, 1])  # features pass through

    normalised, shift, scale = (keras.ops.convert_to_numpy(x) for x in WindowNormalization("revin", epsilon=0.0)(window))
    np.testing.assert_allclose(shift, [[3.0], [11.0]])  # means
    np.testing.assert_allclose(scale, [[np.sqrt(5.0)], [np.sqrt(5.0)]], rtol=1e-6)  # population std of 0, 2, 4, 6
    np.testing.assert_allclose(normalised[:, :, 0], (target - target.mean(axis=1, keepdims=True)) / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_array_equal(normalised[:, :, 1], window[:, :, 1])

    with_epsilon = keras.ops.convert_to_numpy(WindowNormalization("revin", epsilon=1e-5)(window)[2])
    np.testing.assert_allclose(with_epsilon, np.sqrt(5.0 + 1e-5), rtol=1e-6)

    # The forecast's inverse: forecast * scale + shift.
    forecast = np.array([[1.0, -1.0], [0.5, 0.0]], dtype="float32")
    back = keras.ops.convert_to_numpy(DenormalizeForecast()(forecast, shift, scale))
    np.testing.assert_allclose(back, [[3 + np.sqrt(5.0), 3 - np.sqrt(5.0)], [11 + 0.5 * np.sqrt(5.0), 11.0]], rtol=1e-6)


def test_a_constant_window_normalises_to_zero_without_dividing_by_zero():
    from forecast.model.network import WindowNormalization

    window = np.full((1, 5, 1), 7.0, dtype="float32")
    normalised, shift, scale = (keras.ops.convert_to_numpy(x) for x in WindowNormalization("revin")(window))
    np.testing.assert_array_equal(normalised, np.zeros((1, 5, 1)))
    np.testing.assert_allclose(shift, [[7.0]])
    np.testing.assert_allclose(scale, [[np.sqrt(1e-5)]], rtol=1e-6)


def test_seasonal_anchor_exact_values():
    from forecast.model.network import AddCorrection, SeasonalAnchor

    window = np.arange(16, dtype="float32").reshape(2, 4, 2)  # targets [0, 2, 4, 6] and [8, 10, 12, 14]
    normalised, baseline, scale = (keras.ops.convert_to_numpy(x) for x in SeasonalAnchor(season=2, horizon=5, epsilon=0.0)(window))
    # Seasonal naive repeats the last season [4, 6]: 4, 6, 4, 6, 4.
    np.testing.assert_array_equal(baseline, [[4, 6, 4, 6, 4], [12, 14, 12, 14, 12]])
    np.testing.assert_allclose(scale, [[np.sqrt(5.0)], [np.sqrt(5.0)]], rtol=1e-6)  # the window's std
    centred = np.array([0, 2, 4, 6]) - 5.0  # the last season's mean is 5
    np.testing.assert_allclose(normalised[0, :, 0], centred / np.sqrt(5.0), rtol=1e-6)
    np.testing.assert_array_equal(normalised[:, :, 1], window[:, :, 1])  # features pass through
    correction = np.array([[1.0, 0, 0, 0, -1.0], [0, 0, 0, 0, 0]], dtype="float32")
    forecast = keras.ops.convert_to_numpy(AddCorrection()(correction, baseline, scale))
    np.testing.assert_allclose(forecast, [[4 + np.sqrt(5.0), 6, 4, 6, 4 - np.sqrt(5.0)], [12, 14, 12, 14, 12]], rtol=1e-6)

    _, last_value, _ = SeasonalAnchor(season=1, horizon=3)(window)  # season 1: the last value
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(last_value), [[6, 6, 6], [14, 14, 14]])


@pytest.mark.parametrize("linear_path", [False, True])
def test_a_fresh_anchored_model_forecasts_seasonal_naive_exactly(linear_path):
    from forecast.model.network import anchor_season

    config = TrainConfig(lookback=8, horizon=6, layers=2, units=4, window_norm=WindowNorm.seasonal, linear_path=linear_path)
    model = build_model(config, n_features=2, season=4)
    window = np.random.default_rng(0).random((3, 8, 2)).astype("float32")
    expected = np.tile(window[:, -4:, 0], (1, 2))[:, :6]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(window)), expected, rtol=1e-6)
    assert anchor_season(12, 8) == 1 and anchor_season(4, 8) == 4  # a season longer than the lookback: last value


@pytest.mark.parametrize("norm", [WindowNorm.revin, WindowNorm.seasonal])
def test_the_linear_path_maps_the_whole_window_to_every_step_and_saves(norm, tmp_path):
    config = TrainConfig(lookback=8, horizon=6, layers=1, units=4, window_norm=norm, linear_path=True)
    model = build_model(config, n_features=3, season=4)
    linear = model.get_layer("linear")
    assert linear.kernel.shape == (8 * 3, 6)  # every step and column of the window, to each forecast step
    assert not np.any(keras.ops.convert_to_numpy(linear.kernel))  # starts at zero: a fresh model is unchanged by it
    linear.set_weights([w + 0.1 for w in linear.get_weights()])
    window = np.random.default_rng(3).random((2, 8, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded(window), model(window), rtol=1e-6)
    without = build_model(dataclasses.replace(config, linear_path=False), n_features=3, season=4)
    assert "linear" not in [layer.name for layer in without.layers]
