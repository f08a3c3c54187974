"""Nightly retraining with and without `--warm-start`: time per night and the forecasts it serves.

Two real daily series, horizon 7: Melbourne's daily minimum temperature (sample_data/, 1981-1990,
its two missing days interpolated; a small series whose training takes half a minute), and the
daily exchange rates of eight currencies against the US dollar (../shared/datasets/exchange_rate.csv,
7,588 days each, as one panel of 8 series and one global model; training takes minutes). Night 0
trains one version from scratch on all but the last NIGHTS + 7 days of each series, and both arms
start from a copy of that model directory. Each night adds one day and retrains as a cron line
would, one whole `forecast train` process per arm (in turn, which arm goes first alternating, so
both see the same machine): `scratch` as it is, `warm` with `--warm-start`. Promotion works as
usual in both. Then each arm's current version forecasts the next 7 days (`forecast predict`),
which no run has seen: the holdout. The newly trained version's validation MAE is recorded too,
for choosing anything on; the holdout is only reported.

    python bench/warm_start.py --json bench/warm_start.json --workdir /tmp/nightly   # resumable
    python bench/warm_start.py --json bench/warm_start.json --series exchange --workdir /tmp/nightly
    python bench/warm_start.py --json bench/warm_start.json --table-only --docs
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from command import forecast  # noqa: E402
from publish import publish  # noqa: E402

HORIZON = 7
NIGHTS = 30
ARMS = {"scratch": [], "warm": ["--warm-start"]}


@dataclasses.dataclass(frozen=True)
class Series:
    title: str
    path: Path
    options: tuple[str, ...]  # data options for train
    id_col: str | None = None  # the id column of a panel (long format)


SERIES = {
    "temperatures": Series("daily minimum temperatures", ROOT / "sample_data" / "daily-min-temperatures.csv",
                           ("--fill", "interpolate")),
    "exchange": Series("daily exchange rates, 8 currencies (one global model)",
                       ROOT.parent / "shared" / "datasets" / "exchange_rate.csv", ("--id-col", "currency"), "currency"),
}


def load(series: Series):
    """The series as a frame: the file as it is, or a wide panel turned into rows of (id, date, value)."""
    import pandas as pd

    frame = pd.read_csv(series.path)
    if series.id_col is None:
        return frame
    frame["date"] = pd.to_datetime(frame["date"], format="%Y/%m/%d %H:%M").dt.strftime("%Y-%m-%d")
    long = frame.melt(id_vars="date", var_name=series.id_col, value_name="rate")
    return long[[series.id_col, "date", "rate"]]


def head(series: Series, frame, rows: int):
    """The first `rows` rows of each series."""
    return frame.iloc[:rows] if series.id_col is None else frame.groupby(series.id_col, sort=False).head(rows)


def holdout_mae(series: Series, frame, rows: int, table: str) -> float:
    """MAE of the forecasts in `table` (predict's CSV) against the HORIZON rows after the first `rows`."""
    import numpy as np
    import pandas as pd

    predicted = pd.read_csv(io.StringIO(table))
    value = frame.columns[-1]
    if series.id_col is None:
        actual = frame[value].iloc[rows : rows + HORIZON].to_numpy()
        return float(np.abs(predicted["forecast"].to_numpy() - actual).mean())
    errors = []
    for key, group in frame.groupby(series.id_col, sort=False):
        actual = group[value].iloc[rows : rows + HORIZON].to_numpy()
        made = predicted.loc[predicted[series.id_col].astype(str) == str(key), "forecast"].to_numpy()
        errors.append(np.abs(made - actual))
    return float(np.concatenate(errors).mean())


def train_args(series: Series, data: Path, model_dir: Path) -> list[str]:
    return ["train", str(data), "--horizon", str(HORIZON), *series.options, "--model-dir", str(model_dir)]


def night(series: Series, workdir: Path, frame, first: int, n: int) -> dict:
    """Night `n`: each arm trains on the first `first + n` rows of each series, then forecasts the next HORIZON."""
    data = workdir / f"night-{n}.csv"
    head(series, frame, first + n).to_csv(data, index=False)
    order = list(ARMS) if n % 2 else list(ARMS)[::-1]
    result = {}
    for arm in order:
        out, seconds = forecast(*train_args(series, data, workdir / arm), "--json", "--quiet", *ARMS[arm])
        record = json.loads(out)
        table, _ = forecast("predict", "--model-dir", str(workdir / arm), "--quiet")
        result[arm] = {
            "seconds": round(seconds, 2),
            "train_seconds": record["metrics"]["train_seconds"],
            "epochs": record["metrics"]["epochs_run"],
            "val_mae": record["val_mae"],
            "promoted": record["current"],
            "warm_start": record.get("warm_start"),
            "window_norm": record["window_norm"],
            "holdout_mae": holdout_mae(series, frame, first + n, table),
        }
    data.unlink()
    return result


def table(results: dict) -> list[str]:
    lines = []
    for name, series in SERIES.items():
        run = results.get(name)
        nights = [run["nights"][key] for key in sorted(run["nights"], key=int)] if run else []
        if not nights:
            continue
        lines += section(series, run["night0"]["seconds"], nights, run.get("measured")) + [""]
    return lines[:-1] or ["(no nights run yet)"]


def section(series: Series, night0: float, nights: list[dict], measured: str | None) -> list[str]:
    import numpy as np

    def mean(arm: str, field: str) -> float:
        return sum(n[arm][field] for n in nights) / len(nights)

    lines = [
        f"{len(nights)} nights on {series.title}, horizon {HORIZON}; night 0 from scratch took {night0:.1f} s"
        + (f" (measured {measured})." if measured else "."),
        "",
        "| arm | seconds per night (whole process) | training seconds | epochs | validation MAE | holdout MAE (current version, next 7 days) | promoted |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        promoted = sum(n[arm]["promoted"] for n in nights)
        lines.append(f"| {'`--warm-start`' if arm == 'warm' else 'from scratch'} | {mean(arm, 'seconds'):.1f} | "
                     f"{mean(arm, 'train_seconds'):.1f} | {mean(arm, 'epochs'):.1f} | {mean(arm, 'val_mae'):.4g} | "
                     f"{mean(arm, 'holdout_mae'):.4g} | {promoted} of {len(nights)} |")

    def ratio(field: str) -> float:
        return sum(n["warm"][field] for n in nights) / sum(n["scratch"][field] for n in nights)

    difference = np.array([n["warm"]["holdout_mae"] - n["scratch"]["holdout_mae"] for n in nights])
    error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
    started = sum(bool(n["warm"]["warm_start"]) for n in nights)
    lines += ["", f"Warm start took {ratio('seconds'):.2f} of the from-scratch time per night, whole process "
              f"(target: at most 0.20), and {ratio('train_seconds'):.2f} of its training time; holdout MAE warm minus "
              f"from scratch {difference.mean():+.4g} (standard error {error:.2g}; warm lower on "
              f"{int((difference < 0).sum())} of {len(nights)} nights); {started} of {len(nights)} warm nights started "
              "from the current version's weights."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="keep results in this file; nights in it are not run again")
    parser.add_argument("--workdir", default="nightly-work", help="model directories and night files (kept between runs)")
    parser.add_argument("--series", choices=list(SERIES), default="temperatures", help="the series to run the nights on")
    parser.add_argument("--nights", type=int, default=NIGHTS)
    parser.add_argument("--table-only", action="store_true", help="run nothing: the tables from --json")
    parser.add_argument("--docs", action="store_true", help="write the tables into docs/performance.md")
    args = parser.parse_args()
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {}
    if not args.table_only:
        series = SERIES[args.series]
        run = results.setdefault(args.series, {"nights": {}})
        frame = load(series)
        length = len(frame) if series.id_col is None else int(frame.groupby(series.id_col).size().min())
        first = length - args.nights - HORIZON
        workdir = Path(args.workdir) / args.series
        workdir.mkdir(parents=True, exist_ok=True)
        if "night0" not in run:
            for arm in ARMS:
                shutil.rmtree(workdir / arm, ignore_errors=True)
            data = workdir / "night-0.csv"
            head(series, frame, first).to_csv(data, index=False)
            _, seconds = forecast(*train_args(series, data, workdir / "scratch"), "--quiet")
            shutil.copytree(workdir / "scratch", workdir / "warm", symlinks=True)
            run["night0"] = {"seconds": round(seconds, 2)}
            path.write_text(json.dumps(results, indent=1))
        for n in range(1, args.nights + 1):
            if str(n) in run["nights"]:
                continue
            run["nights"][str(n)] = night(series, workdir, frame, first, n)
            run["measured"] = dt.date.today().isoformat()
            path.write_text(json.dumps(results, indent=1))
            print(f"{args.series} night {n}: " + ", ".join(f"{arm} {r['seconds']:.1f} s, holdout MAE {r['holdout_mae']:.4g}"
                                                          for arm, r in run["nights"][str(n)].items()), flush=True)
    publish("warm_start", table(results), args.docs)


if __name__ == "__main__":
    main()
