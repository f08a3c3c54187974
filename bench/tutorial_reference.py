"""What the common LSTM forecasting tutorials do: the baseline `bench/throughput.py` measures against.

Windows built in a Python loop into lists, then numpy arrays; a MinMaxScaler fitted on the
training part; `model.fit` on the arrays with batch 32 and early stopping on the validation
part; multi-step forecasts by calling `model.predict` on one window per step and feeding each
one-step forecast back. The network is forecast's default stack (2 x 64 LSTM, dropout 0.2 after
each, Adam with learning rate 1e-3 and clipnorm 1, MSE) with the tutorials' one-step head.

    python bench/tutorial_reference.py DATA.csv --target OT --lookback 48 --horizon 24

Prints one JSON line: training windows, epochs, fit seconds, each epoch's seconds, seconds to the
end of training, seconds per multi-step forecast, and the forecast MAE on the sampled validation
windows (with where those windows start).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd


def create_dataset(series: np.ndarray, lookback: int):
    x, y = [], []
    for i in range(len(series) - lookback):
        x.append(series[i : i + lookback])
        y.append(series[i + lookback])
    return np.array(x), np.array(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--target", required=True)
    parser.add_argument("--lookback", type=int, required=True)
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--forecasts", type=int, default=20, help="validation windows forecast step by step")
    args = parser.parse_args()

    started = time.perf_counter()
    import keras
    from sklearn.preprocessing import MinMaxScaler

    keras.utils.set_random_seed(42)
    values = pd.read_csv(args.data)[args.target].to_numpy(dtype="float64").reshape(-1, 1)
    split = int(len(values) * 0.8)
    scaler = MinMaxScaler().fit(values[:split])
    scaled = scaler.transform(values)
    x_train, y_train = create_dataset(scaled[:split], args.lookback)
    x_val, y_val = create_dataset(scaled[split - args.lookback :], args.lookback)

    model = keras.Sequential([
        keras.Input(shape=(args.lookback, 1)),
        keras.layers.LSTM(64, return_sequences=True),
        keras.layers.Dropout(0.2),
        keras.layers.LSTM(64),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, clipnorm=1.0), loss="mse")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience, restore_best_weights=True)
    from forecast.model.fit import epoch_timer

    timer = epoch_timer()  # the benchmark's measurement, not part of the recipe
    fit_started = time.perf_counter()
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32,
                        callbacks=[stop, timer], verbose=0)
    epoch_seconds = timer.seconds
    fit_seconds = time.perf_counter() - fit_started
    epochs = len(history.history["loss"])
    trained_seconds = time.perf_counter() - started

    # Multi-step: one model.predict per step, each forecast appended to the window.
    val = scaled[split - args.lookback :, 0]
    origins = np.linspace(0, len(val) - args.lookback - args.horizon, args.forecasts).astype(int)
    errors, forecast_started = [], time.perf_counter()
    for origin in origins:
        window = list(val[origin : origin + args.lookback])
        steps = []
        for _ in range(args.horizon):
            step = model.predict(np.array(window[-args.lookback :]).reshape(1, args.lookback, 1), verbose=0)[0, 0]
            steps.append(step)
            window.append(step)
        actual = val[origin + args.lookback : origin + args.lookback + args.horizon]
        errors.append(np.abs(scaler.inverse_transform(np.array(steps).reshape(-1, 1))[:, 0]
                             - scaler.inverse_transform(actual.reshape(-1, 1))[:, 0]))
    forecast_seconds = (time.perf_counter() - forecast_started) / len(origins)
    print(json.dumps({
        "windows": len(x_train), "epochs": epochs, "fit_seconds": round(fit_seconds, 2),
        "epoch_seconds": [round(seconds, 3) for seconds in epoch_seconds],
        "seconds_to_trained": round(trained_seconds, 2), "forecast_seconds": round(forecast_seconds, 4),
        "mae": float(np.mean(errors)), "window_starts": (origins + split - args.lookback).tolist(),
    }))


if __name__ == "__main__":
    main()
