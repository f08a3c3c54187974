"""Build and compile the stacked recurrent network."""

from __future__ import annotations

import keras
from keras import ops

from forecast.config import Cell, Loss, TrainConfig, WindowNorm

_LAYERS = {Cell.lstm: keras.layers.LSTM, Cell.gru: keras.layers.GRU, Cell.rnn: keras.layers.SimpleRNN}
_LOSSES = {Loss.mse: "mse", Loss.mae: "mae", Loss.huber: "huber"}


@keras.saving.register_keras_serializable(package="forecast")
class WindowNormalization(keras.layers.Layer):
    """Re-centre (and for "revin", rescale) each window's target so forecasts can leave the training range.

    A global MinMax scale maps the training range to [0, 1]; a series that trends beyond it feeds
    the network values it never saw, and a tanh network cannot answer beyond what it learnt. Here
    each window's target column is expressed relative to that window: "last" subtracts the
    window's last value, "revin" subtracts the window's mean and divides by its standard deviation
    (Kim et al., 2022). `DenormalizeForecast` applies the inverse to the forecast.

    Returns (normalised window, shift (batch, 1), scale (batch, 1)).
    """

    def __init__(self, mode: str = "last", epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.epsilon = epsilon

    def call(self, window):
        target = window[:, :, :1]  # (batch, lookback, 1)
        if self.mode == "revin":
            shift = ops.mean(target, axis=1)  # (batch, 1)
            scale = ops.sqrt(ops.var(target, axis=1) + self.epsilon)
        else:
            shift = target[:, -1, :]
            scale = ops.ones_like(shift)
        normalised = (target - shift[:, None, :]) / scale[:, None, :]
        return ops.concatenate([normalised, window[:, :, 1:]], axis=-1), shift, scale

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="forecast")
class DenormalizeForecast(keras.layers.Layer):
    """Undo `WindowNormalization` on the (batch, horizon) forecast."""

    def call(self, forecast, shift, scale):
        return forecast * scale + shift


def build_model(config: TrainConfig, n_features: int) -> keras.Model:
    """Stack `config.layers` recurrent layers of `config.cell` and a Dense head of `horizon` outputs.

    Layers keep Keras's defaults (tanh, sigmoid gates, no recurrent_dropout, no unroll) so that
    LSTM and GRU stay eligible for the fused cuDNN kernels on a GPU.

    Args:
        config: the shape of the network (lookback, horizon, cell, layers, units, dropout, window_norm).
        n_features: input columns per step, the target included.

    Returns:
        An uncompiled model mapping (batch, lookback, n_features) to (batch, horizon).
    """
    layer = _LAYERS[Cell(config.cell)]
    norm = WindowNorm(config.window_norm)
    inputs = keras.Input(shape=(config.lookback, n_features), name="window")
    x = inputs
    if norm is not WindowNorm.none:
        x, shift, scale = WindowNormalization(norm.value, name="window_norm")(x)
    for i in range(config.layers):
        last = i == config.layers - 1
        # Only the last layer collapses the sequence; the ones below feed it every step.
        x = layer(config.units, return_sequences=not last, name=f"{config.cell.value}_{i + 1}")(x)
        if config.dropout > 0:
            x = keras.layers.Dropout(config.dropout, name=f"dropout_{i + 1}")(x)
    outputs = keras.layers.Dense(config.horizon, name="forecast")(x)  # (batch, horizon)
    if norm is not WindowNorm.none:
        outputs = DenormalizeForecast(name="denormalize")(outputs, shift, scale)
    return keras.Model(inputs, outputs, name=f"stacked_{config.cell.value}")


def compile_model(model: keras.Model, config: TrainConfig) -> None:
    """Adam with gradient clipping and the configured loss on the scaled target, MAE reported beside it."""
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm)
    model.compile(optimizer=optimizer, loss=_LOSSES[Loss(config.loss)], metrics=["mae"])
