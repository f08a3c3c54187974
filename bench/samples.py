"""Default settings against seasonal naive and AutoETS on every long sample series.

Runs `forecast evaluate`'s backtest with default settings (horizon 12, 3 folds, --window-norm
auto) on each monthly or daily series of ../shared/datasets with at least 8 years or 3 seasons
of data, and tabulates the network's MASE beside seasonal naive, naive, AutoETS and AutoTheta on
the same folds, with what `auto` kept in each fold. Nothing is chosen on these folds: they are
test windows.

    python bench/samples.py                      # every series (see docs/accuracy.md for its wall time)
    python bench/samples.py --only airline car-sales --json bench/samples.json
    python bench/samples.py --json bench/samples.json --table-only --docs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from publish import stamp, write_section  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
SERIES = {  # name -> (file, data options); the target is each file's default
    "airline": ("airline-passengers.csv", {}),
    "car-sales": ("monthly-car-sales.csv", {}),
    "champagne": ("monthly_champagne_sales.csv", {}),
    "mean-temperature": ("monthly-mean-temp.csv", {}),
    "robberies": ("monthly-robberies.csv", {}),
    "writing-paper": ("monthly-writing-paper-sales.csv", {}),  # years numbered 1-13: see _dated
    # shampoo.csv (3 years) is too short for 3 folds of 12 months after a lookback and validation.
    "sunspots": ("monthly-sunspots.csv", {}),
    "female-births": ("daily-total-female-births.csv", {}),  # 1 year: 52 weekly seasons
    "max-temperature": ("daily-max-temperatures.csv", {"fill": "interpolate"}),  # 2 days missing
    "min-temperature": ("daily-min-temperatures.csv", {"fill": "interpolate"}),  # 2 days missing
    "exchange-rate": ("exchange_rate.csv", {}),
}
METHODS = ("model", "seasonal_naive", "naive", "auto_ets", "auto_theta")


def run(name: str) -> dict:
    from forecast.config import DataConfig, TrainConfig
    from forecast.data.load import load_panel
    from forecast.evaluate import backtest

    file, options = SERIES[name]
    with tempfile.TemporaryDirectory() as tmp:
        panel = load_panel(DataConfig(path=_dated(DATASETS / file, Path(tmp)), **options))
    started = time.perf_counter()
    result = backtest(panel, TrainConfig(), folds=3, levels=(80,))
    scores = result.scores()
    return {
        "file": file,
        "options": options,
        "rows": len(panel.first.frame),
        "frequency": result.frequency,
        "season": result.season,
        "mase": {method: scores[method]["mase"] for method in METHODS},
        "kept": [fold.training["window_norm"] for fold in result.folds],
        "val_mae": [fold.training["val_mae"] for fold in result.folds],  # what a default may be chosen on
        "coverage_80": result.coverage().get(80),
        "seconds": round(time.perf_counter() - started, 1),
    }


def _dated(path: Path, workdir: Path) -> str:
    """The file as is, or a copy dated from 2001 when its months are numbered "1-01" to "13-12"
    (the writing-paper file counts years from 1, which no parser reads as a month)."""
    import pandas as pd

    frame = pd.read_csv(path)
    first = str(frame.iloc[0, 0])
    if not first.startswith("1-"):
        return str(path)
    year, month = frame.iloc[:, 0].str.split("-", expand=True).astype(int).T.to_numpy()
    frame.iloc[:, 0] = [f"{2000 + y}-{m:02d}" for y, m in zip(year, month)]
    copy = workdir / path.name
    frame.to_csv(copy, index=False)
    return str(copy)


def _no_worse(model: float, other: float) -> bool:
    """At most `other`, allowing float32 rounding: a version that kept seasonal naive forecasts it
    through the network in float32, a hundred-millionth away from the float64 baseline."""
    return model <= other * (1 + 1e-6)


def table(results: dict) -> str:
    names = {"model": "forecast", "seasonal_naive": "seasonal naive", "naive": "naive", "auto_ets": "AutoETS",
             "auto_theta": "AutoTheta"}
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["| series | rows | season | " + " | ".join(names[m] for m in METHODS) + " | kept by fold | time |",
             "|---|---|---|" + "---|" * len(METHODS) + "---|---|"]
    wins = 0
    for name, r in results.items():
        mase = r["mase"]
        best = min((m for m in METHODS if mase[m] is not None), key=lambda m: mase[m])
        cells = [f"**{fmt(mase[m])}**" if m == best else fmt(mase[m]) for m in METHODS]
        wins += _no_worse(mase["model"], mase["seasonal_naive"])
        option = f", --fill {r['options']['fill']}" if r["options"].get("fill") else ""
        lines.append(f"| {name} (`{r['file']}`{option}) | {r['rows']} | {r['season']} | " + " | ".join(cells)
                     + f" | {', '.join(r['kept'])} | {r['seconds'] / 60:.1f} min |")
    total = sum(r["seconds"] for r in results.values()) / 60
    beats_ets = sum(_no_worse(r["mase"]["model"], r["mase"]["auto_ets"] or float("inf")) for r in results.values())
    lines += ["", f"MASE, 3 folds of 12 steps, default settings; the lowest in each row in bold. The network is no "
              f"worse than seasonal naive on {wins} of {len(results)} series (equal up to float32 rounding counts) and no worse than AutoETS on "
              f"{beats_ets} of {len(results)}. Wall time {total:.0f} min in all.", "", stamp()]
    return "\n".join(lines)


def series_main(description: str, run, table, section: str) -> None:
    """The command line of a benchmark over SERIES: `run(name)` gives one series' results,
    `table(results)` the text written into docs/accuracy.md's `section`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--only", nargs="+", choices=list(SERIES), help="run only these series")
    parser.add_argument("--json", help="keep results in this file; series in it and not run again are kept")
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table from --json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/accuracy.md")
    args = parser.parse_args()
    if not DATASETS.is_dir():
        sys.exit(f"error: {DATASETS} is missing; put the shared datasets beside the checkout.")
    results = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else {}
    for name in [] if args.table_only else (args.only or list(SERIES)):
        results[name] = run(name)
        print(f"{name}: done in {results[name]['seconds']:.0f} s", file=sys.stderr, flush=True)
        if args.json:  # keep what is finished even if a later series is interrupted
            Path(args.json).write_text(json.dumps(results, indent=2))
    results = {name: results[name] for name in SERIES if name in results}
    text = table(results)
    print(text)
    if args.docs:
        write_section(section, text)


if __name__ == "__main__":
    series_main(__doc__.splitlines()[0], run, table, "samples")
