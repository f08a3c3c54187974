"""Anomaly detection on the Numenta Anomaly Benchmark files in ../shared/datasets/nab, scored by NAB's rules.

For each file, `forecast detect --train-fraction` trains a version with default settings on
NAB's probationary period (the first 15% of the rows, at most 750) and scores every later row
with default detection settings; its `alarm` column (each anomaly with none in the 10 rows
before it, where an episode starts) is the detector's alarms, and a second row of the summary
counts every `anomaly` row as an alarm instead. A rolling
z-score detector goes through the same harness as a check row: a row is an alarm when it lies
more than `Z` standard deviations from the mean of the `probation` rows before it. Both are
scored with forecast.evaluation.nab (NAB's standard profile, written from the NAB paper):
windows detected, false alarms, and the normalised score, 0 for no alarm and 100 for a perfect
detector. Nothing here looks at the labels before scoring.

Some files are not on a regular grid (road traffic: steps of 4 to 6 minutes; keyboard timings:
gaps of minutes to hours; a latency file: repeated timestamps). `forecast` reads regular series
only, so the harness puts each file on its median step (the mean of the rows in each step, steps
without rows filled by linear interpolation), detects there, and raises an alarm on the first
original row in or after each flagged step (a step filled in has no reading of its own: its alarm
comes with the next reading, as it would in a stream).

    python bench/anomaly.py                                  # every file (about ten minutes)
    python bench/anomaly.py --only nyc_taxi art_daily_jumpsup --json bench/anomaly.json
    python bench/anomaly.py --json bench/anomaly.json --table-only --docs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from forecast.config import DataConfig, TrainConfig  # noqa: E402
from forecast.errors import ForecastError  # noqa: E402
from forecast.evaluation.nab import FileScore, normalised, probation_rows, score_file, window_rows  # noqa: E402
from publish import publish  # noqa: E402

NAB = ROOT.parent / "shared" / "datasets" / "nab"
Z = 4.0  # the check row's threshold, in standard deviations
PUBLISHED = [  # NAB's scoreboard, standard profile, all 58 files (results/final_results.json)
    ("ARTime", 74.9), ("Numenta HTM", 70.1), ("contextOSE", 69.9), ("knncad", 58.0),
    ("random cut forest", 51.7), ("random", 16.8),
]


def regular(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The file on its median step, and for each original row the index of its step."""
    step = frame["timestamp"].diff().median()
    origin = frame["timestamp"].iloc[0]
    bins = ((frame["timestamp"] - origin) // step).to_numpy()
    grid = frame.groupby(bins)["value"].mean().reindex(np.arange(bins.max() + 1)).interpolate()
    stamps = origin + step * grid.index.to_numpy()
    return pd.DataFrame({"timestamp": stamps, "value": grid.to_numpy()}), bins


def forecast_alarms(path: Path, frame: pd.DataFrame, probation: int, workdir: Path) -> tuple[dict[str, np.ndarray], dict]:
    """The tool's alarms on each original row, trained on the first `probation` rows: its `alarm`
    column ("forecast") and its `anomaly` column ("forecast_rows")."""
    from forecast.detect import train_and_detect

    grid, bins = regular(frame)
    fraction = (bins[probation] + 0.5) / len(grid)  # the steps before the first scored row
    data = workdir / path.name
    grid.to_csv(data, index=False)
    started = time.perf_counter()
    result = train_and_detect(DataConfig(path=str(data)), TrainConfig(), str(workdir / path.stem), float(fraction))
    seconds = time.perf_counter() - started
    stamps = pd.to_datetime(result.frame["timestamp"])
    first_of_step = np.r_[True, bins[1:] != bins[:-1]]
    alarms = {}
    for method, column in (("forecast", "alarm"), ("forecast_rows", "anomaly")):
        steps = np.searchsorted(grid["timestamp"].to_numpy(), stamps[result.frame[column]].to_numpy())
        rows = np.searchsorted(bins, steps)  # the first reading in or after each flagged step
        alarms[method] = np.zeros(len(frame), dtype=bool)
        alarms[method][rows[rows < len(frame)]] = True
        alarms[method][:probation] = False
    return alarms, {"seconds": round(seconds, 1), "regular": bool(len(grid) == len(frame) and first_of_step.all()),
                    "scored_rows": int(len(result.frame))}


def zscore_alarms(frame: pd.DataFrame, probation: int) -> np.ndarray:
    """Rows more than Z standard deviations from the mean of the `probation` rows before them."""
    values = frame["value"]
    mean = values.rolling(probation).mean().shift(1)
    std = values.rolling(probation).std().shift(1)
    z = ((values - mean) / std.where(std > 0)).abs().fillna(0).to_numpy()
    alarms = z > Z
    alarms[:probation] = False
    return alarms


def run_file(name: str, windows: list, workdir: Path) -> dict:
    path = NAB / name
    frame = pd.read_csv(path, parse_dates=["timestamp"])
    probation = probation_rows(len(frame))
    rows = window_rows(frame["timestamp"], windows)
    try:
        alarms, info = forecast_alarms(path, frame, probation, workdir)
    except ForecastError as exc:  # recorded as no alarm, and shown in the table
        none = np.zeros(len(frame), dtype=bool)
        alarms, info = {"forecast": none, "forecast_rows": none}, {"seconds": 0.0, "regular": True, "refused": str(exc)}
    out = {"rows": len(frame), "probation": probation, "windows": len(rows), **info}
    for method, flags in ({**alarms, "zscore": zscore_alarms(frame, probation)}).items():
        score = score_file(flags, rows, probation=probation)
        out[method] = {"raw": score.raw, "detected": score.detected, "false_alarms": score.false_alarms,
                       "scored_windows": score.windows}
    return out


def table(results: dict) -> list[str]:
    lines = ["| file | rows | windows | forecast: detected | false alarms | raw score | z-score: detected | false alarms | raw score | time |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        f, z = r["forecast"], r["zscore"]
        note = "" if r["regular"] else " (regridded)"
        if "refused" in r:
            note += " (training refused: a constant series; no alarm)" if "constant" in r["refused"] else " (refused; no alarm)"
        lines.append(f"| `{name}`{note} | {r['rows']} | {r['windows']} | {f['detected']} | {f['false_alarms']} | {f['raw']:.2f} | "
                     f"{z['detected']} | {z['false_alarms']} | {z['raw']:.2f} | {r['seconds']:.0f} s |")
    scores = {method: [FileScore(r[method]["raw"], r[method]["scored_windows"], r[method]["detected"], r[method]["false_alarms"])
                       for r in results.values()] for method in ("forecast", "forecast_rows", "zscore")}
    windows = sum(s.windows for s in scores["forecast"])
    lines += ["", "| detector | NAB score (standard profile) | windows detected | false alarms |", "|---|---|---|---|"]
    for method, label in (("forecast", "forecast (this tool, defaults): its alarms"),
                          ("forecast_rows", "forecast, every anomalous row an alarm"),
                          ("zscore", f"rolling z-score, \\|z\\| > {Z:g} (check)")):
        s = scores[method]
        lines.append(f"| {label} | {normalised(s):.1f} | {sum(x.detected for x in s)} of {windows} | {sum(x.false_alarms for x in s)} |")
    lines += [f"| {name} (published, all 58 files) | {score:.1f} | | |" for name, score in PUBLISHED]
    noise = [r["forecast"]["false_alarms"] for n, r in results.items() if n.startswith("artificialNoAnomaly/")]
    found = [r["forecast"]["detected"] for n, r in results.items() if n.startswith("artificialWithAnomaly/")]
    minutes = sum(r["seconds"] for r in results.values()) / 60
    lines += ["", f"{len(results)} files, {minutes:.0f} minutes of training and detection. "
              f"False alarms on the {len(noise)} files without anomalies: {sum(noise)}; "
              f"anomalies found in the {len(found)} synthetic files with one: {sum(found)}."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    labels = json.loads((NAB / "labels.json").read_text())
    stems = {Path(name).stem: name for name in labels}
    parser.add_argument("--only", nargs="+", choices=sorted(stems), help="run only these files")
    parser.add_argument("--json", help="keep results in this file; files in it and not run again are kept")
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table from --json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/anomaly.md")
    args = parser.parse_args()
    results = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else {}
    if not args.table_only:
        with tempfile.TemporaryDirectory() as tmp:
            for stem in args.only or sorted(stems, key=lambda s: stems[s]):
                name = stems[stem]
                print(f"{name} ...", file=sys.stderr, flush=True)
                results[name] = run_file(name, labels[name], Path(tmp))
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=2))
    results = dict(sorted(results.items()))
    publish("anomaly", table(results), args.docs)


if __name__ == "__main__":
    main()
