"""Training windows/s on a GPU: forecast's network and training step beside PyTorch's cuDNN LSTM/GRU.

forecast's side is its own model code (`build_model`, `compile_model`: window normalisation,
2 stacked layers of 64 units, dropout 0.2, Dense head, Adam with clipnorm, MSE) trained with
`model.fit`; PyTorch's side is `nn.LSTM`/`nn.GRU` (2 layers of 64, dropout 0.2 between them) and
a Linear head with Adam, MSE and the same clipping, on the same shapes. Each row times `--steps`
steps after a warm-up, with the device synchronised, in the same process.

    KERAS_BACKEND=jax python bench/gpu.py                  # lookback 60, horizon 30
    KERAS_BACKEND=jax python bench/gpu.py --precision float32 mixed_bfloat16
    KERAS_BACKEND=jax python bench/gpu.py --steps 500 --docs   # the table into docs/performance.md

Needs a CUDA GPU, Keras 3 on the JAX (or torch) backend, and PyTorch with CUDA.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def keras_rate(cell: str, batch: int, steps: int, lookback: int, horizon: int, precision: str) -> float:
    import keras

    from forecast.config import Cell, TrainConfig, WindowNorm
    from forecast.model.network import build_model, compile_model

    keras.mixed_precision.set_global_policy(precision)
    config = TrainConfig(cell=Cell(cell), lookback=lookback, horizon=horizon, batch_size=batch, window_norm=WindowNorm.revin)
    model = build_model(config, n_features=1)
    compile_model(model, config)
    rng = np.random.default_rng(0)
    x = rng.random((batch * steps, lookback, 1), dtype=np.float32)
    y = rng.random((batch * steps, horizon), dtype=np.float32)
    model.fit(x[: batch * 5], y[: batch * 5], batch_size=batch, epochs=1, verbose=0)  # compile
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # fit returns after its last step's loss is read
    seconds = time.perf_counter() - started
    keras.mixed_precision.set_global_policy("float32")
    return batch * steps / seconds


def torch_rate(cell: str, batch: int, steps: int, lookback: int, horizon: int) -> float:
    import torch

    device = torch.device("cuda")
    recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](1, 64, num_layers=2, dropout=0.2, batch_first=True).to(device)
    head = torch.nn.Linear(64, horizon).to(device)
    parameters = list(recurrent.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    x = torch.rand(batch * steps, lookback, 1, device=device)
    y = torch.rand(batch * steps, horizon, device=device)

    def step(i: int) -> None:
        xb, yb = x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]
        out, _ = recurrent(xb)
        loss = torch.nn.functional.mse_loss(head(torch.nn.functional.dropout(out[:, -1], 0.2)), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()

    for i in range(5):
        step(i)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--batches", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--precision", nargs="+", default=["float32"], help="Keras dtype policies to time")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--lookback", type=int, default=60)
    parser.add_argument("--horizon", type=int, default=30)
    parser.add_argument("--docs", action="store_true", help="write the table into its page under docs/")
    args = parser.parse_args()
    import keras
    import torch

    lines = [f"{torch.cuda.get_device_name(0)}; Keras {keras.__version__} on {keras.backend.backend()}, "
             f"PyTorch {torch.__version__}; lookback {args.lookback}, horizon {args.horizon}, {args.steps} steps per row.", "",
             "| cell | batch | forecast (Keras) windows/s | precision | PyTorch cuDNN windows/s | forecast / PyTorch |",
             "|---|---|---|---|---|---|"]
    print("\n".join(lines))
    for cell in args.cells:
        for batch in args.batches:
            reference = torch_rate(cell, batch, args.steps, args.lookback, args.horizon)
            for precision in args.precision:
                try:
                    ours = keras_rate(cell, batch, args.steps, args.lookback, args.horizon, precision)
                except Exception as exc:  # e.g. a dtype the backend's cuDNN RNN kernel lacks
                    keras.mixed_precision.set_global_policy("float32")
                    lines.append(f"| {cell} | {batch} | fails: {str(exc).splitlines()[0][:80]} | {precision} | {reference:,.0f} | |")
                else:
                    lines.append(f"| {cell} | {batch} | {ours:,.0f} | {precision} | {reference:,.0f} | {ours / reference:.0%} |")
                print(lines[-1], flush=True)
    if args.docs:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from publish import stamp, write_section

        write_section("gpu", "\n".join([*lines, "", stamp()]))


if __name__ == "__main__":
    main()
