import keras
import numpy as np
import pytest

from forecast.config import Cell, TrainConfig
from forecast.model import build_model, compile_model


@pytest.mark.parametrize("cell,layer_type", [(Cell.lstm, keras.layers.LSTM), (Cell.gru, keras.layers.GRU), (Cell.rnn, keras.layers.SimpleRNN)])
def test_stack_of_the_chosen_cell(cell, layer_type):
    config = TrainConfig(cell=cell, layers=3, units=5, lookback=7, horizon=4, dropout=0.1)
    model = build_model(config, n_features=2)
    recurrent = [layer for layer in model.layers if isinstance(layer, keras.layers.RNN)]
    assert [type(layer) for layer in recurrent] == [layer_type] * 3
    # Every layer but the last hands its whole sequence to the next one.
    assert [layer.return_sequences for layer in recurrent] == [True, True, False]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 3
    assert model.input_shape == (None, 7, 2) and model.output_shape == (None, 4)


def test_no_dropout_layers_when_dropout_is_zero():
    model = build_model(TrainConfig(dropout=0.0, layers=2, units=3), n_features=1)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.parametrize("cell", [Cell.lstm, Cell.gru])
def test_layers_stay_eligible_for_cudnn(cell):
    model = build_model(TrainConfig(cell=cell, layers=2, units=4), n_features=1)
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
    config = TrainConfig(learning_rate=0.01, clipnorm=0.5, layers=1, units=2, lookback=3, horizon=2)
    model = build_model(config, n_features=1)
    compile_model(model, config)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.clipnorm == 0.5
    assert np.isclose(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 0.01)
    assert model.loss == "mse"


def test_forward_pass_shape():
    config = TrainConfig(layers=2, units=4, lookback=5, horizon=3)
    model = build_model(config, n_features=2)
    out = model(np.zeros((6, 5, 2), dtype="float32"))
    assert tuple(out.shape) == (6, 3)
