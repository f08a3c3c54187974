"""Peak memory of `forecast train` as the series grows, as the lookback grows, and as a panel
of many series grows.

Each case trains the default network for one epoch of 2,000 windows (`--epochs 1
--epoch-windows 2000`: the peak comes from the data, the windows and the validation forecasts,
not from how long training runs) on a synthetic hourly series (daily and weekly cycles, a trend
and noise), in a fresh process whose peak resident memory the kernel reports (`wait4`). The
first row is the floor: a process that only imports Keras and TensorFlow.

The panel rows train one global network (`--window-norm revin`, `--epochs 1`, the default 20,000
windows per epoch) on 1,000 and 10,000 synthetic daily series of 500 points in one Parquet file,
and give the seconds per epoch (training and the validation loss) beside the peak.

    python bench/memory.py            # series of 10k, 100k, 1M points at lookback 256; lookback 64, 256, 1024 at 100k; panels
    python bench/memory.py --docs   # and the table into docs/performance.md
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
sys.path.insert(0, str(ROOT / "bench"))

from publish import publish  # noqa: E402

CASES = [(10_000, 256), (100_000, 256), (1_000_000, 256), (100_000, 64), (100_000, 1024)]
PANELS = [(1_000, 500), (10_000, 500)]  # series, points each


def synthetic(points: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(points, dtype="float64")
    value = 10 + 3 * np.sin(2 * np.pi * t / 24) + 2 * np.sin(2 * np.pi * t / 168) + t / 20_000 + rng.normal(0, 0.5, points)
    return pd.DataFrame({"time": pd.date_range("1990-01-01", periods=points, freq="h"), "value": value})


def panel(series: int, points: int) -> pd.DataFrame:
    """`series` daily series of `points` each, in long format: levels, weekly phases and noise of their own."""
    rng = np.random.default_rng(0)
    level, phase = rng.uniform(5, 50, (series, 1)), rng.uniform(0, 2 * np.pi, (series, 1))
    t = np.arange(points)
    values = level * (1 + 0.2 * np.sin(2 * np.pi * t / 7 + phase)) + rng.normal(0, 1, (series, points))
    return pd.DataFrame({"id": np.repeat([f"s{i:05d}" for i in range(series)], points),
                         "date": np.tile(pd.date_range("2020-01-01", periods=points, freq="D"), series),
                         "value": values.ravel()})


def peak(command: list[str], env: dict, out=None) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of `command` in a fresh process (its stdout into `out`)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=out or subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"error: {' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", action="store_true", help="write the table into its page under docs/")
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    rows = [("Keras and TensorFlow imported, nothing else", "", "", *peak([sys.executable, "-c", "import keras, tensorflow"], env))]
    with tempfile.TemporaryDirectory() as tmp:
        for points, lookback in CASES:
            csv = Path(tmp) / f"series_{points}.csv"
            if not csv.exists():
                synthetic(points).to_csv(csv, index=False)
            command = [sys.executable, "-m", "forecast", "train", str(csv), "--lookback", str(lookback), "--horizon", "24",
                       "--epochs", "1", "--epoch-windows", "2000", "--model-dir", str(Path(tmp) / f"m{points}_{lookback}"), "--quiet"]
            windows = points - lookback - 24 + 1
            rows.append((f"`forecast train`, {points:,} points", lookback, f"{windows * lookback / 1e6:,.1f}M", *peak(command, env)))
            print(rows[-1], file=sys.stderr, flush=True)
        epochs = []
        for series, points in PANELS:
            data = Path(tmp) / f"panel_{series}.parquet"
            panel(series, points).to_parquet(data)
            command = [sys.executable, "-m", "forecast", "train", str(data), "--id-col", "id", "--horizon", "7", "--epochs", "1",
                       "--window-norm", "revin", "--interval-refits", "0", "--model-dir", str(Path(tmp) / f"p{series}"),
                       "--json", "--quiet"]
            with open(Path(tmp) / "record.json", "w+") as record:
                seconds, mib = peak(command, env, record)
                record.seek(0)
                metrics = json.load(record)["metrics"]
            windows = metrics["train_windows"] + metrics["val_windows"]
            lookback = json.loads(next((Path(tmp) / f"p{series}" / "current").glob("metadata.json")).read_text())["config"]["lookback"]
            rows.append((f"`forecast train`, panel of {series:,} series × {points} points", lookback,
                         f"{windows * lookback / 1e6:,.1f}M", seconds, mib))
            epochs.append(f"{series:,} series: {metrics['train_seconds'] / metrics['epochs_run']:.1f} s per epoch")
            print(rows[-1], epochs[-1], file=sys.stderr, flush=True)
    lines = [
        "| run | lookback | window values (windows × lookback) | wall s | peak MiB |",
        "|---|---|---|---|---|",
        *(f"| {name} | {lookback} | {values} | {seconds:.0f} | {mib:,.0f} |" for name, lookback, values, seconds, mib in rows),
        "",
        "Panels, one epoch of 20,000 windows with its validation loss: " + "; ".join(epochs) + ".",
    ]
    publish("memory", lines, args.docs)


if __name__ == "__main__":
    main()
