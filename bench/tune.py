"""What `forecast tune` buys: the tuned options' 3-fold backtest MASE against the defaults', on
three sample series of different frequencies.

For each series, `forecast tune --budget` searches on the rows before the backtest's test windows
(its default --holdout is exactly the 3 horizons `forecast evaluate --folds 3` tests on, so the
search never reads them), then `forecast evaluate --folds 3` backtests the defaults and the options
file tune wrote, on the same origins. Each command is its own process, as a user would run it.

    python bench/tune.py --json bench/tune.json --workdir /tmp/tune-work   # resumable, about 100 min
    python bench/tune.py --json bench/tune.json --table-only --docs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from command import forecast  # noqa: E402
from publish import publish  # noqa: E402

SERIES = {  # name: (file, horizon, data options)
    "airline (monthly)": (ROOT / "sample_data" / "airline-passengers.csv", 12, []),
    "daily minimum temperature": (ROOT / "sample_data" / "daily-min-temperatures.csv", 7, ["--fill", "interpolate"]),
    "NYC taxi (half-hourly)": (ROOT / "sample_data" / "nyc-taxi.csv", 48, []),
}
BUDGET = "20m"


def run(name: str, workdir: Path) -> dict:
    path, horizon, options = SERIES[name]
    slug = name.split(" ")[0].lower()
    study, best = workdir / f"{slug}.journal", workdir / f"{slug}.toml"
    common = [str(path), "--horizon", str(horizon), *options]
    table, seconds = forecast("tune", *common, "--budget", BUDGET, "--study", str(study), "--output", str(best), "--quiet")
    trials = [line for line in table.splitlines()[1:] if line.strip() and not line.startswith("*")]
    header = best.read_text().splitlines()[0]
    scores = {}
    for arm, extra in (("defaults", []), ("tuned", ["--config", str(best)])):
        report, _ = forecast("evaluate", *common, "--folds", "3", *extra, "--json", "--quiet")
        result = json.loads(report)
        scores[arm] = {"mase": result["scores"]["model"]["mase"],
                       "auto_theta_mase": result["scores"]["auto_theta"]["mase"],
                       "seasonal_naive_mase": result["scores"]["seasonal_naive"]["mase"]}
    return {"tune_seconds": round(seconds, 1), "trials": len(trials), "best": header.lstrip("# "),
            "options": best.read_text(), **scores}


def table(results: dict) -> list[str]:
    lines = [f"`forecast tune --budget {BUDGET}` on the rows before each backtest's test windows, then "
             "`forecast evaluate --folds 3` with the defaults and with the options it wrote:", "",
             "| series | trials | 3-fold MASE, defaults | 3-fold MASE, tuned | AutoTheta | seasonal naive |",
             "|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['trials']} | {r['defaults']['mase']:.3f} | {r['tuned']['mase']:.3f} | "
                     f"{r['defaults']['auto_theta_mase']:.3f} | {r['defaults']['seasonal_naive_mase']:.3f} |")
    lines += ["", "What each search chose (the options file's first line is its validation score):", ""]
    for name, r in results.items():
        lines += [f"- {name}: {r['best']}", "  `" + "; ".join(r["options"].splitlines()[1:]) + "`"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="keep results in this file; series in it are not run again")
    parser.add_argument("--workdir", default="tune-work", help="journals and options files (a search resumes from its journal)")
    parser.add_argument("--only", nargs="+", choices=list(SERIES), help="run only these series")
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table from --json")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/accuracy.md")
    args = parser.parse_args()
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {}
    if not args.table_only:
        workdir = Path(args.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        for name in args.only or SERIES:
            if name in results:
                continue
            results[name] = run(name, workdir)
            path.write_text(json.dumps(results, indent=1))
            print(f"{name}: defaults {results[name]['defaults']['mase']:.3f}, tuned {results[name]['tuned']['mase']:.3f}", flush=True)
    publish("tune", table(results), args.docs)


if __name__ == "__main__":
    main()
