"""Build and compile the stacked recurrent network."""

from __future__ import annotations

import keras
from keras import ops

from forecast.config import Cell, EnsembleCells, EnsembleCombine, Loss, TrainConfig, WindowNorm

_LAYERS = {Cell.lstm: keras.layers.LSTM, Cell.gru: keras.layers.GRU, Cell.rnn: keras.layers.SimpleRNN}
_LOSSES = {Loss.mse: keras.losses.mean_squared_error, Loss.mae: keras.losses.mean_absolute_error, Loss.huber: keras.losses.huber}


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
class SeasonalAnchor(keras.layers.Layer):
    """The window's own seasonal naive forecast, and the window expressed relative to it.

    With season m (1 when the season does not fit the lookback: the last value) and trained
    horizon H, the baseline repeats the window's last m target values: step h is
    window[lookback - m + h % m]. The target column is centred on the mean of that last season and
    divided by the window's standard deviation, so the network sees the shape, not the level; its
    output, times the same scale, is a correction added to the baseline (`AddCorrection`). A head
    that outputs zero forecasts seasonal naive exactly.

    Returns (normalised window, baseline (batch, H), scale (batch, 1)).
    """

    def __init__(self, season: int = 1, horizon: int = 1, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.season, self.horizon, self.epsilon = int(season), int(horizon), epsilon

    def call(self, window):
        target = window[:, :, 0]  # (batch, lookback)
        last_season = target[:, -self.season :]  # (batch, m)
        repeats = -(-self.horizon // self.season)
        baseline = ops.tile(last_season, (1, repeats))[:, : self.horizon]  # (batch, H)
        centre = ops.mean(last_season, axis=1, keepdims=True)  # (batch, 1)
        scale = ops.sqrt(ops.var(target, axis=1, keepdims=True) + self.epsilon)  # (batch, 1)
        normalised = (target - centre) / scale
        return ops.concatenate([normalised[:, :, None], window[:, :, 1:]], axis=-1), baseline, scale

    def get_config(self):
        return {**super().get_config(), "season": self.season, "horizon": self.horizon, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="forecast")
class AddCorrection(keras.layers.Layer):
    """The anchored forecast: baseline + correction * scale, on the (batch, horizon) outputs."""

    def call(self, correction, baseline, scale):
        return baseline + correction * scale


@keras.saving.register_keras_serializable(package="forecast")
class DenormalizeForecast(keras.layers.Layer):
    """Undo `WindowNormalization` on the (batch, horizon) forecast."""

    def call(self, forecast, shift, scale):
        return forecast * scale + shift


@keras.saving.register_keras_serializable(package="forecast")
class MemberMedian(keras.layers.Layer):
    """The median of the ensemble members' (batch, horizon) forecasts at each step: the mean of the
    middle two for an even count, so two members give their mean."""

    def call(self, forecasts):
        ordered = ops.sort(ops.stack(forecasts, axis=-1), axis=-1)  # (batch, horizon, members)
        count = len(forecasts)
        return (ordered[..., (count - 1) // 2] + ordered[..., count // 2]) / 2


@keras.saving.register_keras_serializable(package="forecast")
class StepPositions(keras.layers.Layer):
    """The known inputs (batch, horizon, k) with each step's place in the horizon appended, from
    0 at the first step to 1 at the last, so an input's effect can differ with the lead."""

    def call(self, known):
        horizon = known.shape[1]
        positions = ops.reshape(ops.linspace(0.0, 1.0, horizon) if horizon > 1 else ops.zeros((1,)), (1, horizon, 1))
        return ops.concatenate([known, ops.zeros_like(known[:, :, :1]) + ops.cast(positions, known.dtype)], axis=-1)


def anchor_season(season: int, lookback: int) -> int:
    """The season a seasonal anchor repeats: the data's, when it fits the lookback; else 1 (the last value)."""
    return season if 1 <= season <= lookback else 1


def build_model(config: TrainConfig, n_features: int, season: int = 1, n_known: int = 0) -> keras.Model:
    """Stack `config.layers` recurrent layers of `config.cell` and a Dense head of `horizon` outputs.

    With known inputs (`n_known` > 0: date inputs and future features over the forecast period,
    see forecast.data.date_inputs), a second input "known" of (horizon, n_known) joins the
    recurrent state at every step through a GRU along the forecast steps (`_with_known_path`).

    Layers keep Keras's defaults (tanh, sigmoid gates, no recurrent_dropout, no unroll) so that
    LSTM and GRU stay eligible for the fused cuDNN kernels on a GPU. With `config.ensemble` above
    one, that many such stacks read the same normalised window side by side and an `ensemble`
    layer combines their forecasts (median or mean); `training_view` exposes the members so each learns on its own.

    Args:
        config: the shape of the network (lookback, horizon, cell, layers, units, dropout,
            window_norm, linear_path, ensemble, ensemble_cells).
        n_features: input columns per step, the target included.
        season: the data's seasonal period, for `--window-norm seasonal` (see `SeasonalAnchor`).
        n_known: known inputs per forecast step; 0 for none (the model then has one input).

    Returns:
        An uncompiled model mapping (batch, lookback, n_features) [and (batch, horizon, n_known)]
        to (batch, horizon).
    """
    norm = config.window_norm
    if norm is WindowNorm.auto:
        raise ValueError("window_norm auto is resolved by fitting (forecast.model.fit); build one of its candidates")
    window = keras.Input(shape=(config.lookback, n_features), name="window")
    known = keras.Input(shape=(config.horizon, n_known), name="known") if n_known else None
    x, shift, scale = window, None, None
    if norm is WindowNorm.seasonal:
        x, shift, scale = SeasonalAnchor(anchor_season(season, config.lookback), config.horizon, name="anchor")(x)
    elif norm is not WindowNorm.none:
        x, shift, scale = WindowNormalization(norm.value, name="window_norm")(x)
    cells = member_cells(config)
    forecasts = []
    for member, cell in enumerate(cells, start=1):
        prefix = f"m{member}_" if len(cells) > 1 else ""
        y = x
        for i in range(config.layers):
            last = i == config.layers - 1
            # Only the last layer collapses the sequence; the ones below feed it every step.
            y = _LAYERS[cell](config.units, return_sequences=not last, name=f"{prefix}{cell.value}_{i + 1}")(y)
            if config.dropout > 0:
                y = keras.layers.Dropout(config.dropout, name=f"{prefix}dropout_{i + 1}")(y)
        if norm is WindowNorm.seasonal:
            # A zero head: a fresh model forecasts the baseline, and training moves away from it
            # only as far as the loss rewards.
            state = y
            y = keras.layers.Dense(config.horizon, kernel_initializer="zeros", name=f"{prefix}correction")(y)
            y = _with_linear_path(y, x, config, prefix)
            y = _with_known_path(y, state, known, config, prefix)
            y = AddCorrection(name=f"{prefix}anchored")(y, shift, scale)
        else:
            state = y
            y = keras.layers.Dense(config.horizon, name=f"{prefix}forecast")(y)  # (batch, horizon)
            y = _with_linear_path(y, x, config, prefix)
            y = _with_known_path(y, state, known, config, prefix)
            if norm is not WindowNorm.none:
                y = DenormalizeForecast(name=f"{prefix}denormalize")(y, shift, scale)
        forecasts.append(y)
    if len(forecasts) == 1:
        outputs = forecasts[0]
    elif config.ensemble_combine is EnsembleCombine.median:
        outputs = MemberMedian(name="ensemble")(forecasts)
    else:
        outputs = keras.layers.Average(name="ensemble")(forecasts)
    name = f"stacked_{config.cell.value}" if len(cells) == 1 else f"ensemble_{len(cells)}"
    return keras.Model(window if known is None else [window, known], outputs, name=name)


def _with_linear_path(head, window, config: TrainConfig, prefix: str):
    """`head` plus, with `config.linear_path`, a linear map of the whole normalised window to the
    horizon (LSTNet's highway). It starts at zero, so a fresh model forecasts what it would without
    it; the map learns the linear part of the pattern directly, which a recurrent stack reaching
    back hundreds of steps learns slowly, and leaves the rest to the stack."""
    if not config.linear_path:
        return head
    flat = keras.layers.Flatten(name=f"{prefix}flatten")(window)
    linear = keras.layers.Dense(config.horizon, kernel_initializer="zeros", name=f"{prefix}linear")(flat)
    return keras.layers.Add(name=f"{prefix}head")([head, linear])


def _with_known_path(head, state, known, config: TrainConfig, prefix: str):
    """`head` plus, with known inputs, each step's effect of what is known about it.

    A GRU runs along the forecast steps: at each step it reads that step's known inputs, its place
    in the horizon and the recurrent state of the window, and its output there, through one dense
    unit, is added to the step's forecast (in the window's normalised units, before they are
    undone). Its weights are shared across steps, so an effect such as a holiday's is learnt from
    every step a holiday fell on, where a head per step would need each lead to see one; running
    along the steps lets a step read the known inputs of the steps before it too (the holiday
    yesterday, the rain an hour ago; docs/accuracy.md has what that was worth on validation
    windows). It is causal: a step never reads
    the steps after it, so a value missing past the end of the data touches no earlier step. Its
    last layer starts at zero, so a fresh model forecasts what it would without it.
    """
    if known is None:
        return head
    horizon = config.horizon
    context = keras.layers.RepeatVector(horizon, name=f"{prefix}known_context")(state)  # (batch, horizon, units)
    joined = keras.layers.Concatenate(name=f"{prefix}known_joined")([StepPositions(name=f"{prefix}known_steps")(known), context])
    hidden = keras.layers.GRU(config.units, return_sequences=True, name=f"{prefix}known_gru")(joined)
    if config.dropout > 0:
        hidden = keras.layers.Dropout(config.dropout, name=f"{prefix}known_dropout")(hidden)
    effect = keras.layers.Dense(1, kernel_initializer="zeros", name=f"{prefix}known_effect")(hidden)  # (batch, horizon, 1)
    effect = keras.layers.Reshape((horizon,), name=f"{prefix}known_steps_effect")(effect)
    return keras.layers.Add(name=f"{prefix}with_known")([head, effect])


def member_cells(config: TrainConfig) -> list[Cell]:
    """The cell of each ensemble member: all `config.cell`, or LSTM and GRU in turn."""
    if config.ensemble_cells is EnsembleCells.mixed:
        return [(Cell.lstm, Cell.gru)[i % 2] for i in range(config.ensemble)]
    return [config.cell] * config.ensemble


def training_view(model: keras.Model) -> keras.Model:
    """The model to fit: `model` itself, or for an ensemble the same layers with every member's
    forecast stacked as (batch, members, horizon), so each member is fitted to the target on its own
    (fitting the average would train one wide model, not an ensemble of independent ones)."""
    try:
        members = model.get_layer("ensemble").input
    except ValueError:
        return model
    horizon = members[0].shape[-1]
    stacked = keras.layers.Concatenate(axis=1)([keras.layers.Reshape((1, horizon))(m) for m in members])
    return keras.Model(model.input, stacked, name=f"{model.name}_members")


def compile_model(model: keras.Model, config: TrainConfig) -> None:
    """Adam with gradient clipping and the configured loss on the scaled target, MAE reported beside it."""
    optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate, clipnorm=config.clipnorm)
    loss, mae = _LOSSES[config.loss], keras.losses.mean_absolute_error
    if len(model.output.shape) == 3:  # ensemble members (batch, members, horizon) against (batch, horizon)
        loss, mae = _per_member(loss), _per_member(mae)
    model.compile(optimizer=optimizer, loss=loss, metrics=[mae])


def _per_member(function):
    def per_member(y_true, y_pred):
        return function(ops.expand_dims(y_true, 1), y_pred)

    per_member.__name__ = function.__name__
    return per_member
