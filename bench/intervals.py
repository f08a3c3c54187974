"""Coverage the prediction intervals reach, by how each width was calibrated.

For every sample series of bench/samples.py, trains a default model (horizon 12) on the rows
before each of 4 origins, 12 rows apart, the last 24 rows before the end, and forecasts 24 steps
from it: 12 within the trained horizon and 12 rolled past it. Each step's 80% and 95% bounds
are scored against what happened, grouped by how their width was made: split-conformal or
Student t, on the direct steps or on the rolled ones, or extrapolated by √step. Nothing is chosen
on these folds; they are test windows.

    python bench/intervals.py                      # every series (see docs/accuracy.md for its wall time)
    python bench/intervals.py --only airline car-sales --json bench/intervals.json
    python bench/intervals.py --json bench/intervals.json --table-only --docs
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from publish import stamp  # noqa: E402
from samples import DATASETS, SERIES, _dated, series_main  # noqa: E402

HORIZON, STEPS, FOLDS = 12, 24, 4
LEVELS = (80, 95)
GROUPS = ("direct split-conformal", "direct Student t", "rolled split-conformal", "rolled Student t", "extrapolated")


def run(name: str) -> dict:
    from forecast.config import DataConfig, TrainConfig
    from forecast.data.load import load_panel
    from forecast.model.fit import fit, prepare

    file, options = SERIES[name]
    with tempfile.TemporaryDirectory() as tmp:
        panel = load_panel(DataConfig(path=_dated(DATASETS / file, Path(tmp)), **options))
    series = panel.first
    rows = len(series.frame)
    target = series.frame[series.target].to_numpy()
    started = time.perf_counter()
    points = []  # (level, group, inside)
    errors = []  # per fold: the validation errors behind steps 1 and HORIZON, and the steps calibrated
    for k in reversed(range(FOLDS)):
        origin = rows - STEPS - k * HORIZON
        fitted = fit(prepare(panel.head({"": origin}), TrainConfig(horizon=HORIZON)))
        forecaster, calibration = fitted.forecaster(), fitted.calibration
        index = series.frame.index
        (forecast,) = forecaster.forecast({"": series.frame.to_numpy()}, STEPS, {"": [origin]}, {"": index})[""]
        actual = target[origin : origin + STEPS]
        errors.append({"step_1": calibration.residuals[0], f"step_{HORIZON}": calibration.residuals[HORIZON - 1],
                       "steps": calibration.steps})
        for level in LEVELS:
            lower, upper = forecaster.interval("", forecast, level)
            for step in range(1, STEPS + 1):
                basis = calibration.basis(level, step)
                group = basis if basis == "extrapolated" else f"{'direct' if step <= HORIZON else 'rolled'} {basis}"
                inside = bool(lower[step - 1] <= actual[step - 1] <= upper[step - 1])
                points.append((level, group, inside))
        print(f"{name}: origin {origin} of {rows}, {calibration.steps} steps calibrated "
              f"({calibration.residuals[0]} to {calibration.residuals[-1]} residuals)", file=sys.stderr, flush=True)
    return {
        "file": file,
        "rows": rows,
        "errors": errors,
        "coverage": {
            str(level): {group: [sum(i for lv, g, i in points if lv == level and g == group),
                                 sum(1 for lv, g, _ in points if lv == level and g == group)]
                         for group in GROUPS}
            for level in LEVELS
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def table(results: dict) -> str:
    def cell(counts: list[list[int]]) -> str:
        inside, total = sum(c[0] for c in counts), sum(c[1] for c in counts)
        return f"{inside / total:.1%} of {total}" if total else "-"

    def pooled(level: int, groups, runs) -> str:
        return cell([r["coverage"][str(level)][group] for r in runs for group in groups])

    runs = list(results.values())
    lines = ["| width made by | " + " | ".join(f"{level}% interval" for level in LEVELS) + " |",
             "|---|" + "---|" * len(LEVELS)]
    for group in GROUPS:
        lines.append(f"| {group} | " + " | ".join(pooled(level, [group], runs) for level in LEVELS) + " |")
    lines.append("| **all steps** | " + " | ".join(f"**{pooled(level, GROUPS, runs)}**" for level in LEVELS) + " |")
    direct, past = GROUPS[:2], GROUPS[2:]
    lines += ["", "| series | rows | errors at step 1 / 12 | " + " | ".join(
        f"{level}% steps 1-{HORIZON} | {level}% steps {HORIZON + 1}-{STEPS}" for level in LEVELS) + " |",
              "|---|---|---|" + "---|" * (2 * len(LEVELS))]
    for name, r in results.items():
        first = r["errors"][0]
        lines.append(f"| {name} | {r['rows']} | {first['step_1']} / {first[f'step_{HORIZON}']} | " + " | ".join(
            f"{pooled(level, direct, [r])} | {pooled(level, past, [r])}" for level in LEVELS) + " |")
    total = sum(r["seconds"] for r in runs) / 60
    lines += ["", f"Share of actual values inside the interval: {FOLDS} origins {HORIZON} rows apart per series, "
              f"{STEPS} steps from each, by a model trained with default settings on horizon {HORIZON}; steps past "
              f"{HORIZON} are rolled. The error counts are the earliest fold's. Wall time {total:.0f} min in all.", "", stamp()]
    return "\n".join(lines)


if __name__ == "__main__":
    series_main(__doc__.splitlines()[0], run, table, "intervals")
