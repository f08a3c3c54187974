"""CPU training throughput: forecast's default training beside the common tutorial recipe, same data, same run.

On ETTh1's oil temperature (17,420 hourly rows, ../shared/datasets), horizon 24, lookback 48
(forecast's default for hourly data at that horizon): `bench/tutorial_reference.py` (Python-loop
windows, numpy arrays, batch 32, one-step head fed back through `model.predict` per step), then
`forecast train` with the tutorial's batch of 32, then `forecast train` with its defaults. Each
trains until early stopping or `--epochs`. Forecasts of 24 steps from the same 20 validation
windows give the time per forecast and the MAE (in degrees), so speed is not bought with accuracy.

    python bench/throughput.py                      # until early stopping (long)
    python bench/throughput.py --epochs 12 --readme # capped, and the table into README.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from readme import stamp, write_section  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets" / "ETTh1.csv"
LOOKBACK, HORIZON = 48, 24


def run_forecast(csv: Path, model_dir: Path, extra: list[str], env: dict) -> dict:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecast", "train", str(csv), "--target", "OT", "--horizon", str(HORIZON),
                    "--model-dir", str(model_dir), "--quiet", *extra], check=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    meta = json.loads((model_dir / "current" / "metadata.json").read_text())
    metrics, config = meta["metrics"], meta["config"]
    per_epoch = min(config["epoch_windows"], metrics["train_windows"])
    return {"batch": config["batch_size"], "epochs": metrics["epochs_run"], "lookback": config["lookback"],
            "windows_per_second": metrics["epochs_run"] * per_epoch / metrics["train_seconds"], "seconds_to_trained": seconds}


def score_forecast(model_dir: Path, values: np.ndarray, starts: list[int]) -> tuple[float, float]:
    """Seconds per 24-step forecast and MAE over the windows starting at `starts` (Keras engine)."""
    from forecast.bundle import open_bundle
    from forecast.config import Engine
    from forecast.inference import runner
    from forecast.scaling import inverse_target

    bundle = open_bundle(model_dir)
    run, _ = runner(bundle, Engine.keras)
    scaler = bundle.scalers[""]
    windows = np.stack([scaler.transform(values[s : s + LOOKBACK, None]) for s in starts]).astype("float32")
    run(windows[:1])  # the first call traces the model
    started = time.perf_counter()
    forecasts = np.stack([run(window[None])[0] for window in windows])
    seconds = (time.perf_counter() - started) / len(starts)
    actual = np.stack([values[s + LOOKBACK : s + LOOKBACK + HORIZON] for s in starts])
    return seconds, float(np.mean(np.abs(inverse_target(scaler, forecasts) - actual)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="epoch ceiling for every run (early stopping may end sooner)")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"error: {DATA} is missing; this benchmark needs ../shared/datasets beside the repository.")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    values = pd.read_csv(DATA)["OT"].to_numpy(dtype="float64")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "etth1_ot.csv"
        pd.read_csv(DATA)[["date", "OT"]].to_csv(csv, index=False)
        reference = json.loads(subprocess.run(
            [sys.executable, str(ROOT / "bench" / "tutorial_reference.py"), str(csv), "--target", "OT", "--lookback", str(LOOKBACK),
             "--horizon", str(HORIZON), "--epochs", str(args.epochs)],
            check=True, env=env, cwd=ROOT, capture_output=True, text=True).stdout.splitlines()[-1])
        rows.append(("tutorial recipe (`bench/tutorial_reference.py`)", 32, reference["epochs"], reference["windows_per_second"],
                     reference["seconds_to_trained"], reference["forecast_seconds"], reference["mae"]))
        for name, extra in (("forecast, batch 32", ["--batch-size", "32"]), ("forecast, defaults", [])):
            model_dir = Path(tmp) / name.replace(" ", "").replace(",", "")
            result = run_forecast(csv, model_dir, [*extra, "--epochs", str(args.epochs)], env)
            assert result["lookback"] == LOOKBACK, result
            seconds, mae = score_forecast(model_dir, values, reference["window_starts"])
            rows.append((f"`{name}`", result["batch"], result["epochs"], result["windows_per_second"],
                         result["seconds_to_trained"], seconds, mae))
    base = rows[0][3]
    lines = [
        f"ETTh1 OT, lookback {LOOKBACK}, horizon {HORIZON}, epoch ceiling {args.epochs}, 2x64 LSTM.",
        "",
        "| run | batch | epochs | training windows/s | × tutorial | seconds to trained model | seconds per 24-step forecast | MAE on 20 validation windows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, batch, epochs, rate, trained, forecast_s, mae in rows:
        lines.append(f"| {name} | {batch} | {epochs} | {rate:,.0f} | {rate / base:.1f} | {trained:,.0f} | {forecast_s:.3f} | {mae:.3f} |")
    lines += ["", stamp()]
    text = "\n".join(lines)
    print(text)
    if args.readme:
        write_section("throughput", text)


if __name__ == "__main__":
    main()
