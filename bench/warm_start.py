"""Nightly retraining with and without `--warm-start`: time per night and the forecasts it serves.

Melbourne's daily minimum temperature (sample_data/daily-min-temperatures.csv, 1981-1990, its two
missing days interpolated), horizon 7. Night 0 trains one version from scratch on all but the last
NIGHTS + 7 days, and both arms start from a copy of that model directory. Each night adds one day
and retrains as a cron line would, one whole `forecast train` process per arm (in turn, which arm
goes first alternating, so both see the same machine): `scratch` as it is, `warm` with
`--warm-start`. Promotion works as usual in both. Then each arm's current version forecasts the
next 7 days (`forecast predict`), which no run has seen: the holdout. The newly trained version's
validation MAE is recorded too, for choosing anything on; the holdout is only reported.

    python bench/warm_start.py --json bench/warm_start.json --workdir /tmp/nightly   # resumable
    python bench/warm_start.py --json bench/warm_start.json --table-only --docs
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from command import forecast  # noqa: E402
from publish import publish  # noqa: E402

DATA = ROOT / "sample_data" / "daily-min-temperatures.csv"
HORIZON = 7
NIGHTS = 30
ARMS = {"scratch": [], "warm": ["--warm-start"]}


def night(workdir: Path, frame, first: int, n: int) -> dict:
    """Night `n`: each arm trains on the first `first + n` rows, then forecasts the next HORIZON."""
    import pandas as pd

    data = workdir / f"night-{n}.csv"
    frame.iloc[: first + n].to_csv(data, index=False)
    actual = frame["Temp"].iloc[first + n : first + n + HORIZON].to_numpy()
    order = list(ARMS) if n % 2 else list(ARMS)[::-1]
    result = {}
    for arm in order:
        out, seconds = forecast("train", str(data), "--horizon", str(HORIZON), "--fill", "interpolate",
                                "--model-dir", str(workdir / arm), "--json", "--quiet", *ARMS[arm])
        record = json.loads(out)
        table, _ = forecast("predict", "--model-dir", str(workdir / arm), "--quiet")
        predicted = pd.read_csv(io.StringIO(table))["forecast"].to_numpy()
        result[arm] = {
            "seconds": round(seconds, 2),
            "train_seconds": record["metrics"]["train_seconds"],
            "epochs": record["metrics"]["epochs_run"],
            "val_mae": record["val_mae"],
            "promoted": record["current"],
            "warm_start": record.get("warm_start"),
            "window_norm": record["window_norm"],
            "holdout_mae": float(abs(predicted - actual).mean()),
        }
    data.unlink()
    return result


def table(results: dict) -> list[str]:
    nights = [results["nights"][key] for key in sorted(results["nights"], key=int)]
    if not nights:
        return ["(no nights run yet)"]

    def mean(arm: str, field: str) -> float:
        return sum(n[arm][field] for n in nights) / len(nights)

    lines = [
        f"{len(nights)} nights on daily minimum temperatures, horizon {HORIZON}; night 0 from scratch took "
        f"{results['night0']['seconds']:.1f} s.",
        "",
        "| arm | seconds per night (whole process) | training seconds | epochs | validation MAE | holdout MAE (current version, next 7 days) | promoted |",
        "|---|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        promoted = sum(n[arm]["promoted"] for n in nights)
        lines.append(f"| {'`--warm-start`' if arm == 'warm' else 'from scratch'} | {mean(arm, 'seconds'):.1f} | "
                     f"{mean(arm, 'train_seconds'):.1f} | {mean(arm, 'epochs'):.1f} | {mean(arm, 'val_mae'):.4f} | "
                     f"{mean(arm, 'holdout_mae'):.4f} | {promoted} of {len(nights)} |")
    ratio = sum(n["warm"]["seconds"] for n in nights) / sum(n["scratch"]["seconds"] for n in nights)
    started = sum(bool(n["warm"]["warm_start"]) for n in nights)
    lines += ["", f"Warm start took {ratio:.2f} of the from-scratch time per night (target: at most 0.20); "
              f"{started} of {len(nights)} warm nights started from the current version's weights."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="keep results in this file; nights in it are not run again")
    parser.add_argument("--workdir", default="nightly-work", help="model directories and night files (kept between runs)")
    parser.add_argument("--nights", type=int, default=NIGHTS)
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table from --json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args()
    import pandas as pd

    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {"nights": {}}
    if not args.table_only:
        frame = pd.read_csv(DATA)
        first = len(frame) - args.nights - HORIZON
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        if "night0" not in results:
            for arm in ARMS:
                shutil.rmtree(workdir / arm, ignore_errors=True)
            data = workdir / "night-0.csv"
            frame.iloc[:first].to_csv(data, index=False)
            _, seconds = forecast("train", str(data), "--horizon", str(HORIZON), "--fill", "interpolate",
                                  "--model-dir", str(workdir / "scratch"), "--quiet")
            shutil.copytree(workdir / "scratch", workdir / "warm", symlinks=True)
            results["night0"] = {"seconds": round(seconds, 2)}
            path.write_text(json.dumps(results, indent=1))
        for n in range(1, args.nights + 1):
            if str(n) in results["nights"]:
                continue
            results["nights"][str(n)] = night(workdir, frame, first, n)
            path.write_text(json.dumps(results, indent=1))
            print(f"night {n}: " + ", ".join(f"{arm} {r['seconds']:.1f} s, holdout MAE {r['holdout_mae']:.3f}"
                                             for arm, r in results["nights"][str(n)].items()), flush=True)
    publish("warm_start", table(results), args.docs)


if __name__ == "__main__":
    main()
