"""Accuracy of forecast's defaults on the standard protocols, beside the published numbers.

Runs ../shared/docs/benchmarks.md's protocols on ../shared/datasets through the project's own
train and predict code, prints check rows (naive baselines that must reproduce the published
numbers exactly, proving the harness scores correctly), and with --docs writes the results
table into docs/accuracy.md between the accuracy markers.

    python bench/accuracy.py                 # everything (see docs/accuracy.md for its wall time)
    python bench/accuracy.py --quick         # a subset in minutes: 40 M4 series, ETT at h=96
    python bench/accuracy.py --only airline m4-weekly --json bench/accuracy.json
    python bench/accuracy.py --json bench/accuracy.json --table-only --docs   # table from kept results

Settings are forecast's defaults; the protocol fixes only what it must (the horizon, ETT's input
length of 336 and its validation block, and no cycle inputs for M4, whose files have no dates).
Nothing is tuned on test parts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from publish import write_section  # noqa: E402
from wide_to_long import wide_to_long  # noqa: E402

from forecast.evaluation.baselines import forecast_baseline  # noqa: E402
from forecast.evaluation.intervals import coverage  # noqa: E402
from forecast.config import DataConfig, TrainConfig  # noqa: E402
from forecast.evaluation.metrics import mase_scale, smape  # noqa: E402
from forecast.evaluation.statistical import forecast_statistical  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
COVERAGE_LEVEL = 80  # the prediction interval whose share of test values inside it is reported
PUBLISHED = {  # ../shared/docs/benchmarks.md
    "m4-hourly": {"Naive": (43.003, 11.608, 3.593), "Seasonal naive": (13.912, 1.193, 0.627), "Naive2": (18.383, 2.395, 1.000),
                  "Theta": (18.138, 2.455, 1.006), "M4 RNN benchmark": (14.698, 3.048, 1.036), "ES-RNN (winner)": (9.328, 0.893, 0.440)},
    "m4-weekly": {"Naive": (9.161, 2.777, 1.000), "Seasonal naive": (9.161, 2.777, 1.000), "Naive2": (9.161, 2.777, 1.000),
                  "Theta": (9.093, 2.637, 0.971), "M4 RNN benchmark": (15.220, 5.132, 1.755), "ES-RNN (winner)": (7.817, 2.356, 0.851)},
    "etth1": {"repeat last value": {96: (0.069, 0.203), 192: (0.092, 0.236), 336: (0.113, 0.265), 720: (0.129, 0.283)},
              "NLinear": {96: (0.053, 0.177), 192: (0.069, 0.204), 336: (0.081, 0.226), 720: (0.080, 0.226)}},
    "etth2": {"repeat last value": {96: (0.295, 0.423), 192: (0.337, 0.462), 336: (0.390, 0.502), 720: (0.437, 0.531)},
              "NLinear": {96: (0.129, 0.278), 192: (0.169, 0.324), 336: (0.194, 0.355), 720: (0.225, 0.381)}},
    "airline": {"seasonal naive": 0.13189, "SARIMA(0,1,1)(0,1,1)12": 0.081},
}


def naive2(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """M4's Naive2: naive on seasonally adjusted data when a lag-`season` autocorrelation test says seasonal."""
    n = len(history)
    if season > 1 and n >= 3 * season:
        centred = history - history.mean()
        acf = np.array([np.sum(centred[k:] * centred[:-k]) for k in range(1, season + 1)]) / np.sum(centred**2)
        limit = 1.645 / np.sqrt(n) * np.sqrt(1 + 2 * np.sum(acf[: season - 1] ** 2))
        if abs(acf[season - 1]) > limit:
            index = _seasonal_index(history, season)
            adjusted = history / index
            future = np.resize(index[-season:], horizon)  # the last season's indices, repeated
            return np.full(horizon, adjusted[-1]) * future
    return np.full(horizon, float(history[-1]))


def _seasonal_index(x: np.ndarray, m: int) -> np.ndarray:
    """Classical multiplicative decomposition (R's decompose): the seasonal factor of every point."""
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    half = len(weights) // 2
    trend = np.full(len(x), np.nan)
    trend[half : len(x) - half] = np.convolve(x, weights, mode="valid")
    ratio = x / trend
    figure = np.array([np.nanmean(ratio[i::m]) for i in range(m)])
    figure /= figure.mean()
    return np.resize(figure, len(x))


def run_m4(name: str, horizon: int, season: int, freq: str, quick: bool, workdir: Path) -> dict:
    from forecast.predict import predict
    from forecast.train import train

    label = name.split("-")[1].capitalize()
    trains = pd.read_csv(DATASETS / f"{label}-train.csv", index_col=0)
    tests = pd.read_csv(DATASETS / f"{label}-test.csv", index_col=0)
    if quick:
        trains, tests = trains.iloc[:40], tests.iloc[:40]
    long_path = workdir / f"{name}.csv"
    wide_to_long(trains, freq).to_csv(long_path, index=False, float_format="%.10g")
    started = time.perf_counter()
    # M4 publishes no dates, so the calendar here is invented and cycle inputs would read noise.
    config = TrainConfig(horizon=horizon, cycle_inputs="none")
    result = train(DataConfig(path=str(long_path), id_col="id"), config, str(workdir / name))
    seconds = time.perf_counter() - started
    frame = predict(str(workdir / name), levels=(COVERAGE_LEVEL,)).frame
    by_id = {key: group for key, group in frame.groupby("id")}
    model = {key: group["forecast"].to_numpy() for key, group in by_id.items()}
    bounds = {key: (group[f"lower_{COVERAGE_LEVEL}"].to_numpy(), group[f"upper_{COVERAGE_LEVEL}"].to_numpy())
              for key, group in by_id.items()}

    methods = {"forecast (this tool)": [], "Naive": [], "Seasonal naive": [], "Naive2": [], "AutoETS": [], "AutoTheta": []}
    scores = {method: ([], []) for method in methods}
    covered = []
    for key, row in trains.iterrows():
        history = row.dropna().to_numpy(dtype=float)
        actual = tests.loc[key].dropna().to_numpy(dtype=float)
        scale = mase_scale(history, season)
        lower, upper = bounds[str(key)]
        covered.append(coverage(actual, lower, upper))
        forecasts = {
            "forecast (this tool)": model[str(key)],
            "Naive": forecast_baseline("naive", history, horizon, season),
            "Seasonal naive": forecast_baseline("seasonal_naive", history, horizon, season),
            "Naive2": naive2(history, horizon, season),
            "AutoETS": forecast_statistical("auto_ets", history, horizon, season),
            "AutoTheta": forecast_statistical("auto_theta", history, horizon, season),
        }
        for method, values in forecasts.items():
            scores[method][0].append(smape(actual, values))
            scores[method][1].append(float(np.mean(np.abs(actual - values)) / scale))
    means = {method: (float(np.mean(s)), float(np.mean(m))) for method, (s, m) in scores.items()}
    base = means["Naive2"]
    rows = {method: (s, m, 0.5 * (s / base[0] + m / base[1])) for method, (s, m) in means.items()}
    return {"rows": rows, "series": len(trains), "train_seconds": seconds, "epochs": result.metrics.epochs_run,
            "val_mae": result.metrics.val_mae, "coverage": float(np.mean(covered)),
            "lookback": result.fitted.prepared.config.lookback,
            "selection": result.fitted.selection.to_dict() if result.fitted.selection else None}


def run_ett(name: str, horizons: list[int], workdir: Path) -> dict:
    from forecast.config import Engine
    from forecast.data.windowing import target_windows
    from forecast.store.versions import Store
    from forecast.train import train

    data = pd.read_csv(DATASETS / f"{name.upper().replace('ETTH', 'ETTh')}.csv").iloc[:14400]
    ot = data["OT"].to_numpy(dtype=float)
    mean, std = ot[:8640].mean(), ot[:8640].std()  # population std, ddof 0
    lookback, trained, out = 336, min(horizons), {}
    path = workdir / f"{name}.csv"
    data.iloc[:11520][["date", "OT"]].to_csv(path, index=False)
    # One model per dataset, trained at the shortest horizon; longer horizons are rolled forward
    # from its own forecasts, as `forecast predict --horizon` does (eight models at input 336
    # would not fit the hour on two CPU cores). Rows [0, 11520) train it; the protocol's
    # validation block [8640, 11520) is the last windows.
    windows = 11520 - lookback - trained + 1
    val_fraction = (windows - (8640 - lookback)) / windows
    started = time.perf_counter()
    config = TrainConfig(lookback=lookback, horizon=trained, val_fraction=val_fraction)
    result = train(DataConfig(path=str(path), target="OT"), config, str(workdir / name))
    seconds = time.perf_counter() - started
    forecaster, _ = Store(workdir / name).open().forecaster(Engine.keras)
    for horizon in horizons:
        # Every stride-1 test window: inputs may reach back `lookback` rows before row 11520.
        span = ot[11520 - lookback :]
        origins = lookback + np.arange(2880 - horizon + 1)  # rows of `span` where forecasts start
        actual = target_windows(span, lookback, horizon)
        stamps = {"": pd.DatetimeIndex(pd.to_datetime(data["date"]).iloc[11520 - lookback :])}  # for cycle inputs
        forecast = forecaster.forecast({"": span[:, None]}, horizon, {"": origins}, stamps)[""]
        last = span[origins - 1][:, None]
        covered = None  # intervals are calibrated for the trained horizon only
        if horizon == trained:
            bounds = [forecaster.interval("", row, COVERAGE_LEVEL) for row in forecast]
            covered = coverage(actual, *(np.array(side) for side in zip(*bounds)))
        z = lambda values: (values - mean) / std  # noqa: E731
        out[horizon] = {
            "forecast (this tool)": (float(np.mean((z(forecast) - z(actual)) ** 2)), float(np.mean(np.abs(z(forecast) - z(actual))))),
            "repeat last value (check)": (float(np.mean((z(last) - z(actual)) ** 2)), float(np.mean(np.abs(z(last) - z(actual))))),
            "train_seconds": seconds,
            "epochs": result.metrics.epochs_run,
            "val_mae": result.metrics.val_mae,
            "coverage": covered,
            "trained_horizon": trained,
            "selection": result.fitted.selection.to_dict() if result.fitted.selection else None,
        }
    return out


def run_airline(workdir: Path) -> dict:
    from forecast.predict import predict
    from forecast.train import train

    data = pd.read_csv(DATASETS / "airline-passengers.csv")
    values = data["Passengers"].to_numpy(dtype=float)
    path = workdir / "airline-108.csv"
    data.iloc[:108].to_csv(path, index=False)
    started = time.perf_counter()
    result = train(DataConfig(path=str(path)), TrainConfig(), str(workdir / "airline"))
    seconds = time.perf_counter() - started
    forecast = predict(str(workdir / "airline"), steps=36).frame["forecast"].to_numpy()
    actual = values[108:]
    mape = lambda f: float(np.mean(np.abs(actual - f) / actual))  # noqa: E731
    return {
        "forecast (this tool)": mape(forecast),
        "val_mae": result.metrics.val_mae,
        "selection": result.fitted.selection.to_dict() if result.fitted.selection else None,
        "seasonal naive (check)": mape(forecast_baseline("seasonal_naive", values[:108], 36, 12)),
        "AutoETS": mape(forecast_statistical("auto_ets", values[:108], 36, 12)),
        "AutoTheta": mape(forecast_statistical("auto_theta", values[:108], 36, 12)),
        "train_seconds": seconds,
        "horizon": result.fitted.prepared.config.horizon,
    }


def table(results: dict, quick: bool) -> str:
    """Markdown for docs/accuracy.md: this tool's rows beside the check and published rows."""
    import keras

    from forecast import __version__

    runs = {name: r["run"] for name, r in results.items() if "run" in r}
    if runs:
        first = next(iter(runs.values()))
        dates = sorted({run["date"] for run in runs.values()})
        total = sum(run["wall_seconds"] for run in runs.values())
        each = ", ".join(f"{name} {run['wall_seconds'] / 60:.1f}" for name, run in runs.items())
        header = (f"Run {' to '.join(dict.fromkeys([dates[0], dates[-1]]))} with forecast {first['forecast']}, "
                  f"Keras {first['keras']} ({first['backend']} backend), Python {first['python']}, on "
                  f"{first['machine']}. Wall time {total / 60:.0f} min in all ({each} min)")
    else:
        header = (f"Run {dt.date.today().isoformat()} with forecast {__version__}, Keras {keras.__version__} "
                  f"({keras.backend.backend()} backend), Python {platform.python_version()}, on {platform.machine()} "
                  f"with {os.cpu_count()} CPU cores")
    lines = [header + (" — QUICK MODE (a subset)." if quick else "."), ""]
    for name in ("m4-hourly", "m4-weekly"):
        if name not in results:
            continue
        r = results[name]
        lines += [f"**M4 {name.split('-')[1].capitalize()}** ({r['series']} series, one global model, "
                  f"lookback {r['lookback']}, {r['epochs']} epochs, {r['train_seconds']:.0f} s of training"
                  f"{_coverage(r.get('coverage'))})", "",
                  *_note(r), "| method | sMAPE | MASE | OWA |", "|---|---|---|---|"]
        for method, (s, m, o) in r["rows"].items():
            suffix = {"forecast (this tool)": f"{_kept(r)}", "AutoETS": " (statsforecast, computed here)",
                      "AutoTheta": " (statsforecast, computed here)"}.get(method, " (check, computed here)")
            lines.append(f"| {method}{suffix} | {s:.3f} | {m:.3f} | {o:.3f} |")
        for method, (s, m, o) in PUBLISHED[name].items():
            lines.append(f"| {method} (published) | {s:.3f} | {m:.3f} | {o:.3f} |")
        lines.append("")
    for name in ("etth1", "etth2"):
        if name not in results:
            continue
        r = {h: row for h, row in results[name].items() if h != "run"}
        trained = next(iter(r.values()))["trained_horizon"]
        covered = next(iter(r.values())).get("coverage")
        kept = _kept(next(iter(r.values()))).strip(" ()")
        lines += [f"**{name.replace('etth', 'ETTh')}, univariate OT** (MSE / MAE on standardised values, input 336, "
                  "every stride-1 test window, no batch dropped; one model trained at horizon "
                  f"{trained}, longer horizons fed its own forecasts back as `forecast predict` does"
                  f"{'; ' + kept if kept else ''}{_coverage(covered)})", "",
                  *_note(results[name]),
                  "| horizon | this tool | repeat last value (check) | repeat last value (published) | NLinear (published) | training (one model) |",
                  "|---|---|---|---|---|---|"]
        for horizon, row in sorted(r.items(), key=lambda item: int(item[0])):
            mine, check = row["forecast (this tool)"], row["repeat last value (check)"]
            pub_last = PUBLISHED[name]["repeat last value"][int(horizon)]
            pub_nl = PUBLISHED[name]["NLinear"][int(horizon)]
            lines.append(f"| {horizon} | {mine[0]:.3f} / {mine[1]:.3f} | {check[0]:.3f} / {check[1]:.3f} | "
                         f"{pub_last[0]:.3f} / {pub_last[1]:.3f} | {pub_nl[0]:.3f} / {pub_nl[1]:.3f} | "
                         f"{row['epochs']} epochs, {row['train_seconds']:.0f} s |")
        lines.append("")
    if "airline" in results:
        r = results["airline"]
        lines += ["**Airline passengers** (train on the first 108 months, forecast the last 36; MAPE)", "",
                  "| method | MAPE |", "|---|---|",
                  f"| forecast (this tool; horizon {r['horizon']}, fed back to 36){_kept(r)} | {r['forecast (this tool)']:.4f} |",
                  *(f"| {name} (statsforecast, computed here) | {r[name]:.4f} |" for name in ("AutoETS", "AutoTheta") if name in r),
                  f"| seasonal naive (check) | {r['seasonal naive (check)']:.5f} |",
                  f"| seasonal naive (published) | {PUBLISHED['airline']['seasonal naive']:.5f} |",
                  f"| SARIMA(0,1,1)(0,1,1)12 on logs (published) | {PUBLISHED['airline']['SARIMA(0,1,1)(0,1,1)12']:.3f} |", ""]
    lines += ["**Against the targets** (worked out from the numbers above):", "", *targets(results), ""]
    return "\n".join(lines)


def _note(result: dict) -> list[str]:
    """A run's note (kept in its run record, for example that it predates a default), as a paragraph."""
    note = result.get("run", {}).get("note")
    return [f"*{note}*", ""] if note else []


def _coverage(share: float | None) -> str:
    """The trained horizon's 80% intervals' coverage of the test values, for a heading."""
    return "" if share is None else f"; its {COVERAGE_LEVEL}% intervals hold {share:.0%} of the test values"


def _kept(result: dict) -> str:
    """What --window-norm auto kept, for the row's label."""
    selection = result.get("selection")
    return f" (auto kept {selection['chosen']})" if selection else ""


def targets(results: dict) -> list[str]:
    """One line per target of the accuracy issue: met or missed, with the numbers."""
    verdict = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    out = []
    for name, bar, strict in (("m4-hourly", 0.50, False), ("m4-weekly", 0.85, False)):
        if name in results:
            owa = results[name]["rows"]["forecast (this tool)"][2]
            ok = owa < bar if strict else owa <= bar
            out.append(f"- M4 {name.split('-')[1].capitalize()} OWA {'below' if strict else 'at or below'} {bar:.2f}: "
                       f"{owa:.3f}, {verdict(ok)}.")
    for name in ("etth1", "etth2"):
        if name not in results:
            continue
        rows = {int(h): row for h, row in results[name].items() if h != "run"}
        parts = []
        for horizon, row in sorted(rows.items()):
            mse, last = row["forecast (this tool)"][0], row["repeat last value (check)"][0]
            nlinear = PUBLISHED[name]["NLinear"][horizon][0]
            ok = mse < last and round(mse, 3) <= nlinear
            parts.append(f"{horizon}: {mse:.3f} vs {last:.3f} / {nlinear:.3f} {verdict(ok)}")
        out.append(f"- {name.replace('etth', 'ETTh')} MSE below repeating the last value and at or below NLinear: "
                   + "; ".join(parts) + ".")
    if "airline" in results:
        mape = results["airline"]["forecast (this tool)"]
        bar = PUBLISHED["airline"]["seasonal naive"]
        out.append(f"- Airline passengers MAPE below seasonal naive's {bar:.4f}: {mape:.4f}, {verdict(mape < bar)}.")
    return out


def _run_record(seconds: float, quick: bool) -> dict:
    """When, with what and on what a protocol ran, kept beside its numbers."""
    import keras

    from forecast import __version__

    return {"date": dt.date.today().isoformat(), "wall_seconds": round(seconds, 1), "quick": quick,
            "forecast": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
            "python": platform.python_version(), "machine": f"{platform.machine()} with {os.cpu_count()} CPU cores"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a subset in minutes: 40 M4 series, ETT at horizon 96")
    parser.add_argument("--only", nargs="+", choices=["m4-hourly", "m4-weekly", "etth1", "etth2", "airline"],
                        help="run only these protocols")
    parser.add_argument("--docs", action="store_true", help="write the table into its page under docs/")
    parser.add_argument("--json", help="keep the raw results in this file: protocols already in it and not run "
                                           "again are kept, so the table can be assembled from separate runs")
    parser.add_argument("--table-only", action="store_true", help="run nothing: print (and with --docs write) the table from --json")
    args = parser.parse_args()
    if not DATASETS.is_dir():
        sys.exit(f"error: {DATASETS} is missing; put the shared datasets beside the checkout.")
    chosen = [] if args.table_only else (args.only or ["airline", "m4-weekly", "m4-hourly", "etth1", "etth2"])
    results = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).is_file() else {}
    if args.table_only and not results:
        sys.exit("error: --table-only needs --json naming a results file.")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in chosen:
            started = time.perf_counter()
            if name == "airline":
                results[name] = run_airline(workdir)
            elif name == "m4-hourly":
                results[name] = run_m4(name, 48, 24, "h", args.quick, workdir)
            elif name == "m4-weekly":
                results[name] = run_m4(name, 13, 1, "W-MON", args.quick, workdir)
            else:
                results[name] = run_ett(name, [96] if args.quick else [96, 192, 336, 720], workdir)
            results[name]["run"] = _run_record(time.perf_counter() - started, args.quick)
            print(f"{name}: done in {results[name]['run']['wall_seconds']:.0f} s", file=sys.stderr, flush=True)
            if args.json:  # keep what is finished even if a later protocol is interrupted
                Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    text = table(results, any(r.get("run", {}).get("quick") for r in results.values()))
    print(text)
    if args.docs:
        write_section("accuracy", text)


if __name__ == "__main__":
    main()
