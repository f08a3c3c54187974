#!/usr/bin/env bash
# Interval coverage and accuracy against the baselines on a real series, with the default model:
# a 12-fold rolling-origin backtest of Nottingham monthly temperatures (144 forecasts).
# Usage: bash bench/coverage.sh   (about 3 minutes on 2 CPU cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${TMPDIR:-/tmp}/forecast-coverage.json"
.venv/bin/forecast evaluate sample_data/monthly-mean-temp.csv --horizon 12 --folds 12 --step 6 \
    --val-fraction 0.3 --output "$out" --quiet
.venv/bin/python - "$out" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
for method, score in result["scores"].items():
    print(f"{method:15} MAE {score['mae']:.3f}  MASE {score['mase']:.3f}  sMAPE {score['smape']:.2f}%")
for level, value in result["coverage"].items():
    print(f"{level}% interval coverage: {value:.1%} over {len(result['folds']) * result['horizon']} forecasts")
PY
