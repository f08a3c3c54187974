"""CPU training levers side by side in one process: what each change of network or execution does to windows/s.

`bench/throughput.py` compares whole `forecast train` runs with the tutorial recipe; this script
asks where the rest of a 3x gain could come from. On ETTh1's oil temperature (lookback 48,
horizon 24, forecast's own split: the last 20% of windows validate) it builds every
network below on the same scaled windows and trains them one epoch each, in turn, for `--rounds`
rounds, so a shift in the machine's speed (these shared machines flip between two speeds about 2x
apart) falls on every row alike. A row's rate is its fastest epoch after the first (which traces
the graph), validation pass included; its ratio is taken against the tutorial stack at batch 32
within each round, then the median over rounds.

Rows (pick some with `--rows`):
  tutorial-32      the tutorial's stack: 2 x 64 LSTM, dropout 0.2, Dense(24), Adam(1e-3, clipnorm 1),
                   MSE, numpy arrays, batch 32 (`bench/tutorial_reference.py`'s network)
  tutorial-256     the same at forecast's CPU batch
  unrolled-32/-256 the same with `unroll=True` (the loop written out in the graph)
  hoisted-256      the input projection of every step in one matmul before the recurrence
                   (what cuDNN does), the recurrence alone in the loop
  bfloat16-256     Keras's mixed_bfloat16 policy (this CPU has AMX bf16 units)
  xla-256          `jit_compile=True` (TensorFlow backend only)
  gru-256          the tutorial's stack with GRU layers; gru-xla-256 with `jit_compile=True` too
  forecast-256     forecast's default network (`build_model`: revin, the hour-of-day and
                   day-of-week cycle inputs through the known-input GRU along the horizon)
  torch-256        PyTorch's own `nn.LSTM` (its fused CPU kernel), same shapes, optimiser, clipping

    python bench/cpu_levers.py --rounds 4
    KERAS_BACKEND=jax python bench/cpu_levers.py --rows tutorial-32 tutorial-256 forecast-256
    python bench/cpu_levers.py --rounds 4 --docs     # the table into docs/performance.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# PyTorch's OpenMP threads otherwise spin after each of its ops, taking the cores from the row after it.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from publish import publish  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "ETTh1.csv"
LOOKBACK, HORIZON, UNITS = 48, 24, 64
ROWS = ["tutorial-32", "tutorial-256", "unrolled-32", "unrolled-256", "hoisted-256", "bfloat16-256", "xla-256",
        "gru-256", "gru-xla-256", "forecast-256", "torch-256"]


def windows() -> dict:
    """Scaled windows of ETTh1 OT, and the same rows' cycle inputs for forecast's network."""
    from forecast.config import DataConfig, TrainConfig, WindowNorm
    from forecast.data.load import load_panel
    from forecast.data.windowing import input_windows, target_windows
    from forecast.model.fit import prepare

    config = TrainConfig(horizon=HORIZON, lookback=LOOKBACK, window_norm=WindowNorm.revin)
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "etth1_ot.csv"
        pd.read_csv(DATA)[["date", "OT"]].to_csv(csv, index=False)
        prepared = prepare(load_panel(DataConfig(path=str(csv), target="OT")), config)
    key = next(iter(prepared.panel.series))
    scaled = prepared.inputs(key).astype("float32")  # (rows, target + cycle inputs)
    split = prepared.splits[key]
    inputs = input_windows(scaled, LOOKBACK)
    targets = target_windows(scaled[:, 0], LOOKBACK, HORIZON)
    known = input_windows(scaled[LOOKBACK:, prepared.known_columns], HORIZON)
    train, val = np.arange(split.n_train), np.arange(split.val_start, split.n_windows)
    return {
        "x": inputs[train][:, :, :1].copy(), "y": targets[train].copy(),  # the tutorial's one column
        "xv": inputs[val][:, :, :1].copy(), "yv": targets[val].copy(),
        "forecast_x": (inputs[train].copy(), known[train].copy()), "forecast_xv": (inputs[val].copy(), known[val].copy()),
        "config": config, "n_features": scaled.shape[1], "n_known": len(prepared.known_columns),
    }


def hoisted_lstm(keras):
    from keras import ops

    class HoistedLSTM(keras.layers.Layer):
        """An LSTM whose input projection for all steps is one matmul; the loop holds only h @ U."""

        def __init__(self, units, return_sequences=False, **kwargs):
            super().__init__(**kwargs)
            self.units, self.return_sequences = units, return_sequences

        def build(self, shape):
            u = self.units
            self.kernel = self.add_weight((shape[-1], 4 * u), initializer="glorot_uniform", name="kernel")
            self.recurrent_kernel = self.add_weight((u, 4 * u), initializer="orthogonal", name="recurrent_kernel")
            forget_one = np.concatenate([np.zeros(u), np.ones(u), np.zeros(2 * u)]).astype("float32")
            self.bias = self.add_weight((4 * u,), initializer=keras.initializers.Constant(forget_one), name="bias")

        def call(self, x):
            projected = ops.matmul(x, self.kernel) + self.bias  # (batch, steps, 4 units)
            h = ops.zeros((ops.shape(x)[0], self.units), x.dtype)
            c, outputs = h, []
            for step in ops.unstack(projected, axis=1):  # unstack: one gradient op, not one slice per step
                i, f, g, o = ops.split(step + ops.matmul(h, self.recurrent_kernel), 4, axis=-1)
                c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
                h = ops.sigmoid(o) * ops.tanh(c)
                outputs.append(h)
            return ops.stack(outputs, axis=1) if self.return_sequences else h

    return HoistedLSTM


class KerasRow:
    def __init__(self, name: str, data: dict):
        import keras

        self.batch = int(name.rsplit("-", 1)[1])
        kind = name.rsplit("-", 1)[0]
        if kind == "forecast":
            from forecast.model.network import build_model, compile_model

            self.model = build_model(data["config"], n_features=data["n_features"], n_known=data["n_known"])
            compile_model(self.model, data["config"])
            self.x, self.xv = data["forecast_x"], data["forecast_xv"]
        else:
            options = {"unroll": True} if kind == "unrolled" else {}
            if kind == "bfloat16":
                options["dtype"] = "mixed_bfloat16"
            layer = hoisted_lstm(keras) if kind == "hoisted" else keras.layers.GRU if "gru" in kind else keras.layers.LSTM
            self.model = keras.Sequential([
                keras.Input((LOOKBACK, 1)),
                layer(UNITS, return_sequences=True, **options), keras.layers.Dropout(0.2),
                layer(UNITS, **options), keras.layers.Dropout(0.2),
                keras.layers.Dense(HORIZON, dtype="float32"),
            ])
            compile_options = {"jit_compile": True} if "xla" in kind else {}
            self.model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0), loss="mse", **compile_options)
            self.x, self.xv = data["x"], data["xv"]
        self.y, self.yv = data["y"], data["yv"]
        self.epochs = 0

    def epoch(self) -> tuple[float, float]:
        started = time.perf_counter()
        history = self.model.fit(self.x, self.y, validation_data=(self.xv, self.yv), batch_size=self.batch,
                                 epochs=self.epochs + 1, initial_epoch=self.epochs, verbose=0)
        self.epochs += 1
        return time.perf_counter() - started, float(history.history["val_loss"][-1])


class TorchRow:
    """PyTorch's nn.LSTM on the CPU: 2 layers of 64 with dropout 0.2 between them, a Linear head."""

    def __init__(self, name: str, data: dict):
        import torch

        torch.manual_seed(0)
        self.torch, self.batch = torch, int(name.rsplit("-", 1)[1])
        self.lstm = torch.nn.LSTM(1, UNITS, num_layers=2, batch_first=True, dropout=0.2)
        self.head = torch.nn.Linear(UNITS, HORIZON)
        self.parameters = [*self.lstm.parameters(), *self.head.parameters()]
        self.optimizer = torch.optim.Adam(self.parameters, lr=1e-3)
        self.x, self.y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
        self.xv, self.yv = torch.from_numpy(data["xv"]), torch.from_numpy(data["yv"])

    def forward(self, x):
        out, _ = self.lstm(x)
        # The Keras stack's dropout after its last layer; nn.LSTM's own applies between layers only.
        return self.head(self.torch.nn.functional.dropout(out[:, -1], 0.2, self.lstm.training))

    def epoch(self) -> tuple[float, float]:
        torch = self.torch
        started = time.perf_counter()
        self.lstm.train()
        order = torch.randperm(len(self.x))
        for first in range(0, len(self.x), self.batch):
            ids = order[first : first + self.batch]
            self.optimizer.zero_grad()
            loss = torch.mean((self.forward(self.x[ids]) - self.y[ids]) ** 2)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.parameters, 1.0)
            self.optimizer.step()
        self.lstm.eval()
        with torch.no_grad():
            val = sum(float(torch.sum((self.forward(self.xv[i : i + 256]) - self.yv[i : i + 256]) ** 2))
                      for i in range(0, len(self.xv), 256)) / self.yv.numel()
        return time.perf_counter() - started, val


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS, help="which rows to run (tutorial-32 always runs)")
    parser.add_argument("--rounds", type=int, default=4, help="epochs of every row, in turn (the first traces)")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"error: {DATA} is missing; this benchmark needs ../shared/datasets beside the repository.")
    if args.rounds < 2:
        sys.exit("error: --rounds must be 2 or more (the first epoch of every row traces its graph).")
    from forecast.model.backend import import_keras

    keras = import_keras()
    backend = keras.backend.backend()
    names = ["tutorial-32", *[r for r in args.rows if r != "tutorial-32" and not ("xla" in r and backend != "tensorflow")]]
    keras.utils.set_random_seed(0)
    data = windows()
    rows = {name: (TorchRow if name.startswith("torch") else KerasRow)(name, data) for name in names}
    seconds = {name: [] for name in names}
    losses = {}
    for round_ in range(args.rounds):
        for name, row in rows.items():
            took, losses[name] = row.epoch()
            seconds[name].append(took)
        print(f"round {round_ + 1}: " + ", ".join(f"{n} {s[-1]:.2f}s" for n, s in seconds.items()), file=sys.stderr)
    n_train = len(data["y"])
    reference = seconds["tutorial-32"][1:]
    lines = [
        f"ETTh1 OT, lookback {LOOKBACK}, horizon {HORIZON}, {n_train:,} training and {len(data['yv']):,} validation windows; "
        f"Keras {keras.__version__} on {backend}; {args.rounds} rounds of one epoch per row, the first (tracing) left out.",
        "",
        "| row | batch | training windows/s (fastest epoch) | × tutorial stack at batch 32 (median of rounds) | validation MSE after the last round |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        own = seconds[name][1:]
        ratio = statistics.median(base / mine for base, mine in zip(reference, own))
        lines.append(f"| {name} | {rows[name].batch} | {n_train / min(own):,.0f} | {ratio:.2f} | {losses[name]:.5f} |")
    publish(f"cpu_levers_{backend}", lines, args.docs)


if __name__ == "__main__":
    main()
