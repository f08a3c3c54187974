"""Cold-process start-up costs: `forecast --help`, `forecast predict --horizon 30` (from a version trained on TensorFlow, and one trained on JAX) and `forecast detect` of 10,000 rows from a bundle.

Each command runs in a fresh process, several times; the table gives the median wall time and
the median peak resident memory (from the kernel's accounting of that one process, `wait4`).

    python bench/startup.py              # prints the table
    python bench/startup.py --repeat 7   # more runs per command
    python bench/startup.py --docs     # and writes it into docs/performance.md
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from publish import publish  # noqa: E402

FORECAST = [sys.executable, "-m", "forecast"]
DATA = ROOT / "sample_data" / "daily-min-temperatures.csv"
TAXI = ROOT / "sample_data" / "nyc-taxi.csv"  # 10,320 half-hours


def measure(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak resident MiB of one run of `command` in a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"error: {' '.join(command)} failed with exit {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (median reported)")
    parser.add_argument("--docs", action="store_true", help="write the table into its page under docs/")
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        # The default network on Melbourne's daily minima, horizon 30; two epochs are enough to time predict.
        subprocess.run([*FORECAST, "train", str(DATA), "--fill", "interpolate", "--horizon", "30", "--epochs", "2",
                        "--model-dir", str(model_dir), "--quiet"], check=True, env=env, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        # The same trained on JAX (when it is installed): its bundle holds model.onnx instead of model.tflite.
        jax_dir = Path(tmp) / "jax"
        if importlib.util.find_spec("jax") is not None:
            subprocess.run([*FORECAST, "train", str(DATA), "--fill", "interpolate", "--horizon", "30", "--epochs", "2",
                            "--model-dir", str(jax_dir), "--quiet"], check=True, env={**env, "KERAS_BACKEND": "jax"},
                           cwd=ROOT, stdout=subprocess.DEVNULL)
        # The default network on the first 10% of NYC taxi; `detect` then scores all 10,320 rows but the first lookback.
        subprocess.run([*FORECAST, "detect", str(TAXI), "--train-fraction", "0.1", "--epochs", "2", "--model-dir",
                        str(Path(tmp) / "taxi"), "--quiet"], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        commands = {
            "forecast --help": [*FORECAST, "--help"],
            "forecast predict --horizon 30": [*FORECAST, "predict", "--model-dir", str(model_dir), "--horizon", "30", "--quiet"],
            "forecast predict --horizon 30 --engine keras": [*FORECAST, "predict", "--model-dir", str(model_dir), "--horizon", "30",
                                                             "--engine", "keras", "--quiet"],
            **({"forecast predict --horizon 30 (trained on jax: ONNX)": [*FORECAST, "predict", "--model-dir", str(jax_dir),
                                                                          "--horizon", "30", "--quiet"]}
               if jax_dir.exists() else {}),
            "forecast detect (10,320 rows)": [*FORECAST, "detect", str(TAXI), "--model-dir", str(Path(tmp) / "taxi"), "--quiet"],
        }
        rows = []
        for name, command in commands.items():
            runs = [measure(command, env) for _ in range(args.repeat)]
            rows.append((name, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)))
    lines = [f"| command (cold process, median of {args.repeat}) | wall s | peak MiB |", "|---|---|---|"]
    lines += [f"| `{name}` | {seconds:.2f} | {mib:.0f} |" for name, seconds, mib in rows]
    publish("startup", lines, args.docs)


if __name__ == "__main__":
    main()
