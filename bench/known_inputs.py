"""What known future inputs are worth: public holidays, and future features (an oracle experiment).

Two experiments, each a pair of arms that differ in one option only, everything else default,
scored on 3 forecast origins after the training data. Nothing is chosen on them.

holidays: NYC taxi passengers (sample_data/nyc-taxi.csv, NAB; half-hourly, 2014-07 to 2015-01),
    horizon 48 (a day), with and without `--holidays US-NY`. For each New York holiday in the last
    40% of the data, one model per arm is trained on the rows before the day before it and
    forecasts three days from it, a day apart: the day before, the day itself and the day after
    (each origin reading the actual rows before it, as `predict --data` would). Once more at the
    data's end, three ordinary days, to see what the inputs cost where no holiday falls. One model
    per cut rather than one per fold (as `forecast evaluate` trains) keeps the 36 trainings of the
    latter to 12; nothing after the first origin is seen either way.
future: ETTh1's oil temperature OT (the first 14,400 rows, as the Informer protocol uses), horizon
    24, with the six load columns as past-only `--features` against the same columns as
    `--future-features`: the latter reads their actual values over the forecast period, which in
    use would be a load forecast, so this is an oracle experiment. A 3-fold backtest exactly as
    `forecast evaluate` makes it (each fold trains on the rows before its origin), folds a week
    (168 rows) apart.
weather: Beijing's PM2.5 (pollution.csv, UCI "Beijing PM2.5 Data"; hourly, the last two years,
    2013-2014, its 181 missing values interpolated), horizon 24, with four weather columns (dew
    point, temperature, pressure, cumulated wind speed) as past-only `--features` against the same
    columns as `--future-features`: the actual weather over the next day standing in for a weather
    forecast, so an oracle experiment too. A 3-fold backtest as for `future`, folds a week apart.

Three origins of one horizon each are 72 hours of one stretch of weather, so both future-feature
experiments also score one model per arm, trained on the rows before the first of 42 daily
origins at the data's end, on all 42 (each reading the actual rows before it, as for holidays).

    python bench/known_inputs.py                      # all three experiments (see docs/accuracy.md for the wall time)
    python bench/known_inputs.py --only future weather --json bench/known_inputs.json
    python bench/known_inputs.py --json bench/known_inputs.json --table-only --docs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from publish import stamp, write_section  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
TAXI, ETT, POLLUTION = ROOT / "sample_data" / "nyc-taxi.csv", DATASETS / "ETTh1.csv", DATASETS / "pollution.csv"
LOADS = ("HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL")
WEATHER = ("DEWP", "TEMP", "PRES", "Iws")
FOLDS = 3
DAILY = 42  # origins a day apart for the future-feature experiments' second score
EXPERIMENTS = {
    "holidays": {"arms": {"without": {}, "--holidays US-NY": {"holidays": "US-NY"}}, "horizon": 48, "step": 48},
    "future": {"arms": {"--features (past only)": {"features": LOADS}, "--future-features": {"future_features": LOADS}},
               "horizon": 24, "step": 168},
    "weather": {"arms": {"--features (past only)": {"features": WEATHER}, "--future-features": {"future_features": WEATHER}},
                "horizon": 24, "step": 168},
}
BACKTESTS = {  # the backtest experiments: what they forecast, for the table
    "future": "ETTh1 OT (first 14,400 rows), horizon 24, 3 folds a week apart; the six load columns as inputs",
    "weather": "Beijing PM2.5 (2013-2014), horizon 24, 3 folds a week apart; dew point, temperature, pressure and "
               "wind as inputs",
}


def taxi_cuts(panel) -> dict[str, int]:
    """Rows to cut the taxi series at, by name: the end of the day after each US-NY holiday in the
    data's last 40%, and the data's end."""
    import pandas as pd

    from forecast.data.public_holidays import load_holidays

    index = panel.first.frame.index
    start = index[int(len(index) * 0.6)]
    holidays = load_holidays("US-NY", index[0], index[-1])
    cuts = {}
    for day in map(pd.Timestamp, holidays.dates):
        if start <= day and day + pd.Timedelta(days=2) <= index[-1]:
            cuts[f"{day:%Y-%m-%d}"] = int(index.searchsorted(day + pd.Timedelta(days=2)))  # midnight after the day after
    cuts["the last 3 days"] = len(index)
    return cuts


def load(experiment: str, arm: dict):
    from forecast.config import DataConfig

    from forecast.data.load import load_panel

    if experiment == "holidays":
        return load_panel(DataConfig(path=str(TAXI)))
    data = {key: value for key, value in arm.items() if key in ("features", "future_features")}
    if experiment == "future":
        return load_panel(DataConfig(path=str(ETT), target="OT", **data)).head({"": 14_400})
    import pandas as pd

    from forecast.config import Fill
    from forecast.data.load import load_frame

    frame = pd.read_csv(POLLUTION).query("year >= 2013")
    frame.insert(0, "date", pd.to_datetime(frame[["year", "month", "day", "hour"]]))
    return load_frame(frame[["date", "pm2.5", *WEATHER]],
                      DataConfig(path=POLLUTION.name, time_col="date", target="pm2.5", fill=Fill.interpolate, **data))


REFERENCES: dict = {}  # the statistical models' forecasts by (experiment, cut): the same for both arms


def run(experiment: str, arm_name: str, cut_name: str | None) -> dict:
    from forecast.config import TrainConfig
    from forecast.evaluate import backtest

    spec = EXPERIMENTS[experiment]
    arm = spec["arms"][arm_name]
    panel = load(experiment, arm)
    if experiment == "holidays":
        panel = panel.head({"": taxi_cuts(panel)[cut_name]})
    options = {key: value for key, value in arm.items() if key not in ("features", "future_features")}
    started = time.perf_counter()
    if experiment == "holidays" or cut_name == "daily":
        count, step = (FOLDS, spec["step"]) if experiment == "holidays" else (DAILY, 24)
        return {**_rolling_origin(panel, TrainConfig(horizon=spec["horizon"], **options), count, step),
                "seconds": round(time.perf_counter() - started, 1)}
    references = REFERENCES.setdefault((experiment, cut_name), {})
    result = backtest(panel, TrainConfig(horizon=spec["horizon"], **options), folds=FOLDS, step=spec["step"], levels=(),
                      references=references)
    scores = result.scores()
    return {
        "mase": scores["model"]["mase"],
        "mse": scores["model"]["rmse"] ** 2,
        "mae": scores["model"]["mae"],
        "seasonal_naive_mase": scores["seasonal_naive"]["mase"],
        "val_mae": [fold.training["val_mae"] for fold in result.folds],
        "window_norm": [fold.training["window_norm"] for fold in result.folds],
        "origins": [fold.timestamps[0] for fold in result.folds],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _rolling_origin(panel, config, count: int, step: int) -> dict:
    """One model trained on the rows before the first of `count` origins `step` rows apart (the last
    forecasting the panel's last rows), forecasting `config.horizon` steps from each."""
    import numpy as np

    from forecast.data.frequency import season_length
    from forecast.evaluate import plan_origins
    from forecast.evaluation.baselines import forecast_baseline
    from forecast.evaluation.metrics import mase, mase_scale
    from forecast.model.fit import fit, prepare

    series = panel.first
    rows, target = series.frame.to_numpy(), series.frame[series.target].to_numpy()
    season, horizon = season_length(series.frequency), config.horizon
    origins = plan_origins(len(rows), horizon, count, step)
    fitted = fit(prepare(panel.head({"": origins[0]}), config))
    forecasts = fitted.forecaster().forecast({"": rows}, horizon, {"": origins}, {"": series.frame.index})[""]
    scores, naive, errors = [], [], []
    for origin, forecast in zip(origins, forecasts):
        actual, scale = target[origin : origin + horizon], mase_scale(target[:origin], season)
        scores.append(mase(actual, forecast, scale))
        naive.append(mase(actual, forecast_baseline("seasonal_naive", target[:origin], horizon, season), scale))
        errors.append(np.abs(actual - forecast))
    return {"mase": float(np.mean(scores)), "mae": float(np.mean(errors)), "mse": float(np.mean(np.square(errors))),
            "seasonal_naive_mase": float(np.mean(naive)), "val_mae": [fitted.metrics.val_mae],
            "window_norm": [fitted.selection.chosen if fitted.selection else config.window_norm.value],
            "origins": [format(series.frame.index[o]) for o in origins]}


def table(results: dict) -> str:
    lines = []
    holidays = results.get("holidays", {})
    if holidays:
        arms = list(EXPERIMENTS["holidays"]["arms"])
        lines += ["NYC taxi passengers, horizon 48 (a day), MASE over 3 origins a day apart (the day before, of and after "
                  "each holiday), one model per arm trained on the rows before the first:", "",
                  "| folds | " + " | ".join(f"MASE {arm}" for arm in arms) + " | "
                  + " | ".join(f"validation MAE {arm}" for arm in arms) + " | seasonal naive MASE |",
                  "|---|" + "---|" * (2 * len(arms) + 1)]
        cuts = list(next(iter(holidays.values())))
        for cut in cuts:
            runs = [holidays[arm].get(cut) for arm in arms]
            if any(r is None for r in runs):
                continue
            label = f"days around {cut}" if cut[0].isdigit() else cut
            lines.append(f"| {label} | " + " | ".join(f"{r['mase']:.3f}" for r in runs) + " | "
                         + " | ".join(f"{sum(r['val_mae']) / len(r['val_mae']):.0f}" for r in runs)
                         + f" | {runs[0]['seasonal_naive_mase']:.3f} |")
        means = [_mean([holidays[arm][c]["mase"] for c in cuts if c[0].isdigit() and c in holidays[arm]]) for arm in arms]
        lines += ["| **mean over the holidays** | " + " | ".join(f"**{m:.3f}**" for m in means) + " | | | |", ""]
    for experiment, title in BACKTESTS.items():
        arms = list(EXPERIMENTS[experiment]["arms"])
        done = [results.get(experiment, {}).get(arm, {}) for arm in arms]
        if all(d.get("") for d in done):
            daily = all(d.get("daily") for d in done)
            lines += [f"{title}:", "", "| inputs as | 3-fold backtest MSE | MAE | MASE | validation MAE (per fold) |"
                      + (f" {DAILY} daily origins, one model: MSE | MAE | MASE |" if daily else ""),
                      "|---|---|---|---|---|" + ("---|---|---|" if daily else "")]
            for arm, d in zip(arms, done):
                r = d[""]
                lines.append(f"| {arm} | {r['mse']:.4f} | {r['mae']:.4f} | {r['mase']:.3f} | "
                             + ", ".join(f"{v:.4f}" for v in r["val_mae"]) + " |"
                             + (f" {d['daily']['mse']:.4f} | {d['daily']['mae']:.4f} | {d['daily']['mase']:.3f} |" if daily else ""))
            lines.append("")
    if any(experiment in results for experiment in BACKTESTS):
        lines += ["The future features' arms read the inputs' actual values over the forecast period (an oracle: in "
                  "use they would be forecasts themselves).", ""]
    seconds = sum(r["seconds"] for arms in results.values() for cuts in arms.values() for r in cuts.values())
    lines += [f"Every arm trained with default settings otherwise. Wall time {seconds / 60:.0f} min in all.", "", stamp()]
    return "\n".join(lines)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(EXPERIMENTS), help="run only these experiments")
    parser.add_argument("--json", help="keep results in this file; runs in it are not made again")
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table from --json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/accuracy.md")
    args = parser.parse_args()
    if not DATASETS.is_dir():
        sys.exit(f"error: {DATASETS} is missing; put the shared datasets beside the checkout.")
    results = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else {}
    for experiment in [] if args.table_only else (args.only or list(EXPERIMENTS)):
        spec = EXPERIMENTS[experiment]
        cuts = list(taxi_cuts(load(experiment, {}))) if experiment == "holidays" else [None, "daily"]
        for cut in cuts:  # the arms side by side at each cut, so an interrupted run leaves pairs
            for arm in spec["arms"]:
                done = results.setdefault(experiment, {}).setdefault(arm, {})
                if (cut or "") in done:
                    continue
                done[cut or ""] = run(experiment, arm, cut)
                print(f"{experiment} {arm} {cut or ''}: MASE {done[cut or '']['mase']:.3f} "
                      f"in {done[cut or '']['seconds']:.0f} s", file=sys.stderr, flush=True)
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=2))
    text = table(results)
    print(text)
    if args.docs:
        write_section("known_inputs", text)


if __name__ == "__main__":
    main()
