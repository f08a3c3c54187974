"""Build and compile the stacked recurrent network."""

from __future__ import annotations

import keras

from forecast.config import Cell, TrainConfig

_LAYERS = {Cell.lstm: keras.layers.LSTM, Cell.gru: keras.layers.GRU, Cell.rnn: keras.layers.SimpleRNN}


def build_model(config: TrainConfig, n_features: int) -> keras.Model:
    """Stack `config.layers` recurrent layers of `config.cell` and a Dense head of `horizon` outputs.

    Layers keep Keras's defaults (tanh, sigmoid gates, no recurrent_dropout, no unroll) so that
    LSTM and GRU stay eligible for the fused cuDNN kernels on a GPU.

    Args:
        config: the shape of the network (lookback, horizon, cell, layers, units, dropout).
        n_features: input columns per step, the target included.

    Returns:
        An uncompiled model mapping (batch, lookback, n_features) to (batch, horizon).
    """
    layer = _LAYERS[Cell(config.cell)]
    inputs = keras.Input(shape=(config.lookback, n_features), name="window")
    x = inputs
    for i in range(config.layers):
        last = i == config.layers - 1
        # Only the last layer collapses the sequence; the ones below feed it every step.
        x = layer(config.units, return_sequences=not last, name=f"{config.cell.value}_{i + 1}")(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i + 1}")(x)
    outputs = keras.layers.Dense(config.horizon, name="forecast")(x)  # (batch, horizon)
    return keras.Model(inputs, outputs, name=f"stacked_{config.cell.value}")


def compile_model(model: keras.Model, config: TrainConfig) -> None:
    """Adam with gradient clipping, MSE loss on the scaled target, MAE reported beside it."""
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm)
    model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
