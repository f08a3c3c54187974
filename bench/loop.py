"""What each lever of the training loop does to the cost of a pass on a short series.

On airline passengers as `forecast train` trains it by default (horizon 12, lookback 24, the month
of the year as an input, batch 32: 76 training windows, 3 gradient steps a pass), one network
(revin) trains in a fresh process per row, in turn within each round. A row's cost is the wall
time per pass after its first round (which compiles), validation included, and its compile time
is that first round's; medians over rounds.

Rows:
  pass-per-epoch     one Keras epoch per pass, one gradient step per compiled call
  rounds             Keras epochs of whole passes, at least 30 gradient steps, validated at their end
  rounds-compiled    the same, a round's steps in one compiled execution (the default)
  no-determinism     the default without TensorFlow's op determinism

    python bench/loop.py --rounds 3
    python bench/loop.py --rounds 3 --docs     # the table into docs/performance.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from publish import publish  # noqa: E402

DATA = ROOT / "sample_data" / "airline-passengers.csv"
ROWS = ["pass-per-epoch", "rounds", "rounds-compiled", "no-determinism"]
PASSES = 60  # timed after the first round


def measure(row: str) -> dict:
    """One row in this process: compile seconds and seconds per pass."""
    from forecast.config import DataConfig, TrainConfig
    from forecast.data.load import load_panel
    from forecast.model import loop as training
    from forecast.model.devices import choose_placement
    from forecast.model.prepare import prepare

    if row == "pass-per-epoch":
        training.ROUND_STEPS = 1
    if row in ("pass-per-epoch", "rounds"):
        training._steps_per_execution = lambda steps, placement: 1
    if row == "no-determinism":
        import keras

        training.seed_everything = keras.utils.set_random_seed
    prepared = prepare(load_panel(DataConfig(path=str(DATA))), TrainConfig(horizon=12, window_norm="revin", batch_size=32,
                                                                          epochs=1000, patience=1000))
    run = training.Run(prepared, choose_placement(), lambda message: None, 0)
    started = time.perf_counter()
    run.advance(run.passes)
    first = time.perf_counter() - started
    started = time.perf_counter()
    run.advance(run.passes + PASSES)
    return {"compile": first, "per_pass": (time.perf_counter() - started) / (run.epochs_run - run.passes),
            "passes_per_round": run.passes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS)
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # one row, in this process
    parser.add_argument("--docs", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args()
    if args.row:
        print(json.dumps(measure(args.row)))
        return
    results: dict[str, list[dict]] = {row: [] for row in args.rows}
    for number in range(1, args.rounds + 1):
        for row in args.rows:
            done = subprocess.run([sys.executable, __file__, "--row", row], capture_output=True, text=True, check=True)
            results[row].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {number} {row}: {results[row][-1]}", file=sys.stderr, flush=True)
    base = statistics.median(r["per_pass"] for r in results[args.rows[0]])
    lines = [f"Airline passengers, default network (revin), batch 32, 3 gradient steps a pass; medians of {args.rounds} rounds.", "",
             "| row | passes a round | compile (s) | ms per pass | × first row |", "|---|---|---|---|---|"]
    for row, runs in results.items():
        per_pass = statistics.median(r["per_pass"] for r in runs)
        lines.append(f"| {row} | {runs[0]['passes_per_round']} | {statistics.median(r['compile'] for r in runs):.2f} | "
                     f"{1000 * per_pass:.1f} | {base / per_pass:.2f} |")
    publish("loop", lines, args.docs)


if __name__ == "__main__":
    main()
