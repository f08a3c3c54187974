"""The training loop: window batches, rounds of gradient steps, and the rules that stop training.

Keras's `fit` costs a roughly fixed overhead per epoch (its iterator, callbacks, a validation
pass), about 70 ms on a CPU. An epoch of a short series is only a few gradient steps of a few
milliseconds each, so epoch by epoch that overhead would be most of the run. Training therefore
goes in rounds: one Keras epoch of whole passes over the training windows, at least ROUND_STEPS
gradient steps, compiled as one execution, and validated once at its end. On a long series a
pass is already that long, and a round is one pass. Epochs (`--epochs`, `--patience`, what is
reported) still count passes over the windows; early stopping and the learning-rate schedule look
at the validation loss once per round.

Keras is imported only when a run starts, so preparing data stays free of it.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from forecast.data.frequency import season_length
from forecast.data.windowing import input_windows, target_windows
from forecast.model import stopping
from forecast.model.backend import import_keras
from forecast.model.prepare import Prepared

Log = Callable[[str], None]
PATIENCE_STEPS = 300  # gradient steps early stopping waits at least, however short an epoch is
ROUND_STEPS = 30  # gradient steps a round covers at least: a short series' passes are grouped into rounds
BATCH_CEILING = {"cpu": 256}  # the fastest batch on 2 CPU cores (bench/throughput.py); accelerators: 1024
WARM_PATIENCE_SHARE = 4  # a warm start waits this many times fewer epochs for a better validation loss


def choose_batch_size(train_windows: int, device: str) -> int:
    """The default batch: 32 (the common choice, and the best on small series) up to 2,047
    training windows, then the power of two that keeps 32 or more gradient steps per pass over
    them, up to 256 on a CPU (windows/s stop rising there) or 1024 on a GPU or TPU."""
    ceiling = BATCH_CEILING.get(device, 1024)
    return int(min(ceiling, max(32, 2 ** math.floor(math.log2(max(train_windows, 1) / 32)))))


def effective_patience(patience: int, steps_per_epoch: int) -> int:
    """Epochs early stopping waits: `patience`, or more when epochs are so short (a small series
    gives a few gradient steps each) that `patience` epochs are too few steps to tell a plateau
    from noise. Patience 0 (stop at the first epoch without improvement) is kept as asked."""
    if patience == 0:
        return 0
    return max(patience, math.ceil(PATIENCE_STEPS / max(1, steps_per_epoch)))


def passes_per_round(steps_per_pass: int, epochs: int) -> int:
    """How many passes over the training windows one round makes: enough for ROUND_STEPS
    gradient steps, never more than the epoch ceiling."""
    return max(1, min(epochs, math.ceil(ROUND_STEPS / max(1, steps_per_pass))))


def seed_everything(seed: int) -> None:
    """Python's, NumPy's and the backend's generators from `seed`; on TensorFlow, deterministic ops too."""
    import keras

    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Same data, same machine, same seed: the same model (bench/loop.py measures what it costs).
        tf.config.experimental.enable_op_determinism()


class Run:
    """One network's training, which can stop after any round and go on later where it stopped:
    `--window-norm auto` trains its networks a few epochs each, then only the leader on.
    Early stopping and the learning-rate schedule keep their state between the stages.

    Args:
        prepared: the series, split and scaled, with the network's settings (window norm resolved).
        placement: where it trains (forecast.model.devices).
        start: weights to start from (a warm start), or None for fresh ones.
        network: a network of the same shape built for an earlier run, trained again from its
            first weights instead of building (and compiling) a new one.
    """

    def __init__(self, prepared: Prepared, placement, log: Log, verbose: int, start: list | None = None,
                 network: "Network | None" = None):
        keras = import_keras()

        self.prepared, self.placement, self.verbose = prepared, placement, verbose
        config = prepared.config
        seed_everything(config.seed)
        inputs, known, targets, train_ids, val_ids = _windows(prepared)
        steps_per_pass = math.ceil(min(len(train_ids), config.epoch_windows) / config.batch_size)
        self.passes = passes_per_round(steps_per_pass, config.epochs)
        self.train_data = _window_batches(keras)(inputs, known, targets, train_ids, config.batch_size, shuffle_seed=config.seed,
                                                 draw=config.epoch_windows, passes=self.passes)
        # Early stopping watches a fixed sample of the validation windows; the metrics use them all.
        monitored = np.sort(np.random.default_rng(config.seed).permutation(val_ids)[: config.epoch_windows])
        self.validation = (inputs[monitored] if known is None else (inputs[monitored], known[monitored]), targets[monitored])

        self.patience = effective_patience(config.patience, steps_per_pass)  # epochs
        if start is not None:
            # Training starts near a good fit, so a plateau shows sooner.
            self.patience = math.ceil(self.patience / WARM_PATIENCE_SHARE)
            log(f"warm start: patience {self.patience} epochs")
        elif self.patience > config.patience:
            log(f"patience: {self.patience} epochs (an epoch here is only {steps_per_pass} gradient steps)")
        rounds = math.ceil(self.patience / self.passes)  # of patience
        with placement.scope():
            if network is None:
                network = Network.build(prepared, steps_per_execution=_steps_per_execution(len(self.train_data), placement))
            self.network = network.reset(config)
            self.model, self.members = self.network.model, self.network.members
            if start is not None:
                self.model.set_weights(start)
        self.early_stopping = _staged(keras.callbacks.EarlyStopping)(monitor="val_loss", patience=rounds, restore_best_weights=True)
        if start is not None:
            # The weights it starts from are the first candidate: no epoch that does worse on
            # validation replaces them.
            with placement.scope():
                self.early_stopping.initial = (validation_loss(self.members, *self.validation, placement.distributed), self.members.get_weights())
        self.timer = epoch_timer()
        self.callbacks = [
            _validation(keras, self.validation, placement.distributed),  # first: the callbacks after it read the loss it adds
            self.early_stopping,
            # Halve the step when validation stalls, well before early stopping gives up.
            _staged(keras.callbacks.ReduceLROnPlateau)(monitor="val_loss", factor=0.5, patience=max(1, rounds // 2), min_lr=1e-6),
        ]
        self.epoch_log = _epoch_log(keras, config.epochs, log)
        if verbose == 2:  # one log line per round instead of Keras's lines on stdout
            self.callbacks.append(self.epoch_log)
        self.callbacks += [_stop_on_request(keras), self.timer]
        self.history: dict[str, list[float]] = {"epoch": [], "loss": [], "val_loss": []}
        self.seconds = 0.0
        self.finished = False  # early stopping ended it, or it ran every epoch
        self.paused = None  # the weights training stood at when `best` put the best ones in place

    @property
    def epochs_run(self) -> int:
        """Passes over the training windows so far."""
        return int(self.history["epoch"][-1]) if self.history["epoch"] else 0

    @property
    def best_val_loss(self) -> float:
        """The lowest validation loss so far (a warm start's first weights included); infinite
        before the first round or when it diverged."""
        best = self.early_stopping.best
        return float(best) if best is not None and math.isfinite(best) else math.inf

    @property
    def best_epoch(self) -> int:
        """The epoch whose weights are the best so far; 0 when a warm start's first weights are."""
        index = self.early_stopping.best_epoch
        return int(self.history["epoch"][index]) if 0 <= index < len(self.history["epoch"]) else 0

    @property
    def loss_history(self) -> dict[str, list[float]]:
        """Training and validation loss at the end of each round, the epoch it ended on, and its
        wall seconds (validation pass included)."""
        return {**self.history, "epoch_seconds": [round(s, 3) for s in self.timer.seconds]}

    def advance(self, epochs: int) -> None:
        """Train until `epochs` epochs have run in all (whole rounds, within the epoch ceiling),
        or early stopping ends it first."""
        ceiling = self.prepared.config.epochs
        epochs = min(epochs, ceiling)
        if self.finished or epochs <= self.epochs_run:
            return
        if self.paused is not None:  # `best` left the best round's weights in place
            self.members.set_weights(self.paused)
            self.paused = None
        whole, part = divmod(epochs - self.epochs_run, self.passes)
        if self._rounds(whole, self.passes) and part:  # the last round is shorter: it ends on the epoch asked for
            self._rounds(1, part)
        self.finished = self.epochs_run < epochs or self.epochs_run >= ceiling  # stopped early, or done

    def _rounds(self, rounds: int, passes: int) -> bool:
        """Train `rounds` rounds of `passes` passes each; False if early stopping ended them first."""
        if rounds == 0:
            return True
        orders = self.train_data.orders
        self.train_data.orders = orders[:passes]
        done = len(self.history["epoch"])
        self.epoch_log.counting = (done, self.epochs_run, passes)
        started = time.perf_counter()
        try:
            with self.placement.scope(), stopping.cooperative():  # a signal stops training after the current execution, then raises
                fitted = self.members.fit(self.train_data, initial_epoch=done, epochs=done + rounds, callbacks=self.callbacks,
                                          verbose=1 if self.verbose == 1 else 0)
        finally:
            self.train_data.orders = orders
            self.seconds += time.perf_counter() - started
        for key in ("loss", "val_loss"):
            self.history[key] += [float(v) for v in fitted.history.get(key, [])]
        ran = len(fitted.history.get("loss", []))
        self.history["epoch"] += [self.epochs_run + (i + 1) * passes for i in range(ran)]
        return ran == rounds

    def best(self, pause: bool = False) -> None:
        """Put the best round's weights in place. With `pause`, keep the weights training stood
        at, so that `advance` goes on from them."""
        if pause:
            self.paused = self.members.get_weights()
        self.early_stopping.restore()


class Network:
    """A built and compiled network (its ensemble members exposed for training), and its first
    weights, so that a later run of the same shape trains it again from them: refits at earlier
    cutoffs then compile its steps once, not once each."""

    def __init__(self, model, members, first: list):
        self.model, self.members, self.first = model, members, first

    @classmethod
    def build(cls, prepared: Prepared, steps_per_execution: int) -> "Network":
        from forecast.model.network import build_model, compile_model, training_view

        config = prepared.config
        model = build_model(config, n_features=prepared.n_inputs, season=season_length(prepared.panel.first.frequency),
                            n_known=len(prepared.known_columns))
        members = training_view(model)  # the members of an ensemble, each fitted on its own
        compile_model(members, config, steps_per_execution=steps_per_execution)
        return cls(model, members, model.get_weights())

    def reset(self, config) -> "Network":
        """Back to its first weights, with a fresh optimizer state at `config`'s learning rate."""
        self.model.set_weights(self.first)
        optimizer = self.members.optimizer
        for variable in optimizer.variables:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
        optimizer.learning_rate = config.learning_rate
        return self


def _steps_per_execution(steps_per_round: int, placement) -> int:
    """A round's steps in one compiled execution, not one call from Python per step. One step
    per call on PyTorch (Keras runs its steps eagerly and allows no other) and where training is
    distributed (Keras's multi-step loop fails under several replicas: "You must feed a value
    for placeholder tensor" with MultiWorkerMirroredStrategy)."""
    import keras

    if placement.distributed or keras.backend.backend() == "torch":
        return 1
    return min(steps_per_round, ROUND_STEPS)


def _windows(prepared: Prepared):
    """Every series end to end: input windows, known inputs and targets as strided views, and
    the ids of the training and validation windows (only windows inside one series)."""
    config = prepared.config
    keys = list(prepared.panel.series)
    arrays = [prepared.inputs(k) for k in keys]
    offsets = np.cumsum([0] + [len(a) for a in arrays])[:-1]
    scaled = np.concatenate(arrays).astype("float32")  # (rows of all series, columns)
    inputs = input_windows(scaled, config.lookback)  # (rows - lookback + 1, lookback, columns)
    targets = target_windows(scaled[:, 0], config.lookback, config.horizon)  # (windows, horizon)
    columns = prepared.known_columns
    # Window i's known inputs: those of the rows it forecasts, as a view like the windows.
    known = input_windows(scaled[config.lookback :, columns], config.horizon) if columns else None
    splits = [prepared.splits[k] for k in keys]
    train_ids = np.concatenate([o + np.arange(s.n_train) for o, s in zip(offsets, splits)])
    val_ids = np.concatenate([o + np.arange(s.val_start, s.n_windows) for o, s in zip(offsets, splits)])
    return inputs, known, targets, train_ids, val_ids


def validation_loss(members, inputs, targets: np.ndarray, distributed: bool) -> float:
    """The training loss of `members` (a network, or an ensemble's members) on the validation
    windows `inputs` -> `targets`: from one compiled forecast of them all, or where the network
    is replicated (whose batch call splits or repeats its input over the replicas), from Keras's
    own evaluation."""
    from keras import ops

    if distributed:
        return float(members.evaluate(inputs, targets, batch_size=256, verbose=0, return_dict=True)["loss"])
    forecasts = members.predict_on_batch(inputs)
    return float(ops.convert_to_numpy(ops.mean(members.loss(targets, forecasts))))


def _validation(keras, validation: tuple, distributed: bool):
    class Validation(keras.callbacks.Callback):
        """Adds each round's validation loss to its logs (as `val_loss`), through the compiled
        forecast that validating the model uses anyway: Keras's own validation pass would
        compile a function of its own, and cost more each round."""

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                logs["val_loss"] = validation_loss(self.model, *validation, distributed)

    return Validation()


def _staged(callback_class):
    """`callback_class` keeping its state across the fit calls of one training run; an early
    stopping callback restores the best weights only when asked (`restore`), at the run's end."""

    class Staged(callback_class):
        started = False
        initial = None  # early stopping: (validation loss, weights) to beat, epoch 0's

        def on_train_begin(self, logs=None):
            if not self.started:
                self.started = True
                super().on_train_begin(logs)
                if self.initial is not None:
                    self.best, self.best_weights = self.initial
                    self.best_epoch = -1  # before the first epoch

        def on_train_end(self, logs=None):
            pass

        def restore(self):
            super().on_train_end()

    return Staged


def _stop_on_request(keras):
    class StopOnRequest(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if stopping.requested():
                self.model.stop_training = True

    return StopOnRequest()


def epoch_timer():
    """A Keras callback whose `seconds` lists each Keras epoch's wall seconds (also used by bench/)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Wall seconds of each epoch, so throughput can be read without the first epoch's tracing."""

        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    return EpochTimer()


def _epoch_log(keras, epochs: int, log: Log):
    class EpochLog(keras.callbacks.Callback):
        """A line at the end of each round, naming the epoch it ended on."""

        counting = (0, 0, 1)  # the fit call's first round, the epochs run before it, passes a round

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            first, before, passes = self.counting
            log(f"epoch {before + (epoch - first + 1) * passes}/{epochs}: loss {logs.get('loss', float('nan')):.4g}, "
                f"val_loss {logs.get('val_loss', float('nan')):.4g}")

    return EpochLog()


def _window_batches(keras):
    class WindowBatches(keras.utils.PyDataset):
        """Batches gathered from strided window views: only one batch is ever copied.

        With `shuffle_seed`, each pass visits the windows in a new random order and, when there
        are more than `draw`, only the first `draw` of that order. One Keras epoch is `passes`
        passes, each with its own order.
        """

        def __init__(self, inputs, known, targets, ids, batch_size, shuffle_seed=None, draw=None, passes=1):
            super().__init__()
            self.inputs, self.known, self.targets = inputs, known, targets
            self.orders = [np.array(ids) for _ in range(passes)]
            self.batch_size = batch_size
            self.size = len(ids) if draw is None else min(draw, len(ids))
            self.steps = math.ceil(self.size / self.batch_size)  # per pass
            self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)

        def __len__(self):
            return self.steps * len(self.orders)

        def __getitem__(self, index):
            order, step = divmod(index, self.steps)
            ids = self.orders[order][step * self.batch_size : min((step + 1) * self.batch_size, self.size)]
            if self.known is None:
                return self.inputs[ids], self.targets[ids]  # (batch, lookback, columns), (batch, horizon)
            return (self.inputs[ids], self.known[ids]), self.targets[ids]  # known: (batch, horizon, known inputs)

        def on_epoch_begin(self):
            # At the start of each epoch, not the end: Keras also ends an epoch when a fit call
            # starts, so a run trained in stages would otherwise shuffle once more per stage.
            if self.rng is not None:
                for ids in self.orders:
                    self.rng.shuffle(ids)

    return WindowBatches
