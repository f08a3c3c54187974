"""What a default fit costs, whole process, against the tutorial recipe and the previous release.

For each small sample series, in turn within each round (so a shift in the machine's speed falls
on every row alike): `bench/seed_recipe.py` as a fresh process; `forecast train FILE --horizon 12`
then `forecast predict --horizon 12`, each a fresh process, from this checkout; and with
`--before DIR`, the same two commands from another checkout (a git worktree of the previous
release: `git worktree add /tmp/before HEAD~1`). With `--evaluate`, `forecast evaluate
monthly-car-sales.csv --horizon 12` from each checkout too. A row's time is the median over rounds;
its ratio to the recipe is taken within each round, then the median.

    python bench/speed.py --rounds 3
    python bench/speed.py --rounds 1 --before /tmp/before --evaluate --docs
"""

from __future__ import annotations

import argparse
import json
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

DATASETS = ROOT.parent / "shared" / "datasets"
SERIES = {"airline passengers": "airline-passengers.csv", "car sales": "monthly-car-sales.csv", "robberies": "monthly-robberies.csv"}
EVALUATED = "monthly-car-sales.csv"


def timed(command: list[str], checkout: Path) -> tuple[float, str]:
    """Wall seconds of `command` as a fresh process run from `checkout`, and its stdout.

    Raises:
        SystemExit: the command failed (with the end of its stderr).
    """
    env = {**os.environ, "PYTHONPATH": str(checkout), "TF_CPP_MIN_LOG_LEVEL": "3"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=checkout)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return seconds, done.stdout


def train_and_predict(checkout: Path, data: Path) -> float:
    """Seconds of a default `forecast train` then `forecast predict`, each its own process."""
    with tempfile.TemporaryDirectory() as models:
        train, _ = timed([sys.executable, "-m", "forecast", "train", str(data), "--horizon", "12", "--model-dir", models], checkout)
        predict, _ = timed([sys.executable, "-m", "forecast", "predict", "--horizon", "12", "--model-dir", models], checkout)
    return train + predict


def evaluate(checkout: Path) -> float:
    seconds, _ = timed([sys.executable, "-m", "forecast", "evaluate", str(DATASETS / EVALUATED), "--horizon", "12"], checkout)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="a checkout of the previous release (git worktree)")
    parser.add_argument("--evaluate", action="store_true", help="time `forecast evaluate` on car sales too")
    parser.add_argument("--docs", action="store_true", help="write the table into docs/performance.md")
    args = parser.parse_args()
    checkouts = {"this checkout": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    times: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    for round_number in range(1, args.rounds + 1):
        for name, file in SERIES.items():
            data = DATASETS / file
            recipe, out = timed([sys.executable, str(ROOT / "bench" / "seed_recipe.py"), str(data)], ROOT)
            times.setdefault((name, "recipe"), []).append(recipe)
            print(f"round {round_number} {name}: recipe {recipe:.1f} s ({json.loads(out)['epochs']} epochs)", flush=True)
            for checkout, path in checkouts.items():
                seconds = train_and_predict(path, data)
                times.setdefault((name, checkout), []).append(seconds)
                ratios.setdefault((name, checkout), []).append(seconds / recipe)
                print(f"round {round_number} {name}: {checkout} {seconds:.1f} s ({seconds / recipe:.2f} x recipe)", flush=True)
        if args.evaluate:
            for checkout, path in checkouts.items():
                seconds = evaluate(path)
                times.setdefault(("evaluate", checkout), []).append(seconds)
                print(f"round {round_number} evaluate car sales: {checkout} {seconds:.1f} s", flush=True)

    lines = [f"Default `forecast train FILE --horizon 12` then `forecast predict --horizon 12`, each a fresh process; "
             f"medians of {args.rounds} round(s).", "",
             "| series | recipe (s) | " + " | ".join(f"{c} (s) | {c} × recipe" for c in checkouts) + " |",
             "|---|---|" + "---|---|" * len(checkouts)]
    for name in SERIES:
        cells = [f"{statistics.median(times[(name, 'recipe')]):.1f}"]
        for checkout in checkouts:
            cells += [f"{statistics.median(times[(name, checkout)]):.1f}", f"{statistics.median(ratios[(name, checkout)]):.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if args.before:
        speedups = [statistics.median(b / a for a, b in zip(times[(n, "this checkout")], times[(n, "before")])) for n in SERIES]
        lines += ["", "Speed-up over the previous release (median of rounds): "
                  + ", ".join(f"{n} {s:.1f}x" for n, s in zip(SERIES, speedups)) + "."]
    if args.evaluate:
        cells = ", ".join(f"{c} {statistics.median(times[('evaluate', c)]):.0f} s" for c in checkouts)
        lines += ["", f"`forecast evaluate {EVALUATED} --horizon 12` (3 folds): {cells}."]
    publish("speed", lines, args.docs)


if __name__ == "__main__":
    main()
