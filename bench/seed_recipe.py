"""The forecasting recipe of the LSTM tutorials `forecast` replaces, as one fresh process: what a
default `forecast train` + `forecast predict` is timed against (bench/speed.py).

A MinMaxScaler fitted on the whole series, windows of 12 built in a Python loop, `LSTM(50,
return_sequences=True)`, `LSTM(50)`, `Dense(1)`, Adam 1e-3, MSE, batch 32, `validation_split=0.2`,
`EarlyStopping(patience=10)` over up to 100 epochs; then a forecast of `--horizon` steps from the
end of the data, one `model.predict` per step with each forecast fed back. TensorFlow's import is
part of the time, as it is part of a `forecast` process's.

    python bench/seed_recipe.py ../shared/datasets/airline-passengers.csv --horizon 12

Prints one JSON line: epochs run and the process's seconds to its forecast.
"""

from __future__ import annotations

import argparse
import json
import time

STARTED = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

LOOKBACK = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--horizon", type=int, default=12)
    args = parser.parse_args()

    import keras
    from sklearn.preprocessing import MinMaxScaler

    keras.utils.set_random_seed(42)
    frame = pd.read_csv(args.data)
    values = frame.select_dtypes("number").iloc[:, -1].to_numpy(dtype="float64").reshape(-1, 1)
    scaler = MinMaxScaler()
    scaled = scaler.fit_transform(values)[:, 0]
    x, y = [], []
    for i in range(len(scaled) - LOOKBACK):
        x.append(scaled[i : i + LOOKBACK])
        y.append(scaled[i + LOOKBACK])
    x, y = np.array(x)[..., None], np.array(y)

    model = keras.Sequential([
        keras.Input(shape=(LOOKBACK, 1)),
        keras.layers.LSTM(50, return_sequences=True),
        keras.layers.LSTM(50),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10)
    history = model.fit(x, y, batch_size=32, epochs=100, validation_split=0.2, callbacks=[stop], verbose=0)

    window = list(scaled[-LOOKBACK:])
    for _ in range(args.horizon):
        step = model.predict(np.array(window[-LOOKBACK:]).reshape(1, LOOKBACK, 1), verbose=0)[0, 0]
        window.append(step)
    forecast = scaler.inverse_transform(np.array(window[LOOKBACK:]).reshape(-1, 1))[:, 0]
    print(json.dumps({"epochs": len(history.history["loss"]), "seconds": round(time.perf_counter() - STARTED, 2),
                      "forecast": [round(float(v), 3) for v in forecast]}))


if __name__ == "__main__":
    main()
