"""Convert a wide file of series (one row per series, values across columns) to long format.

The M4 competition files hold one series per row: an id in the first column, then the values,
NaN-padded on the right, with no timestamps. `forecast` reads long format (one row per series
and time step) with `--id-col`, so this writes `id,timestamp,value` rows, dating each series
from --start at --freq (M4 gives no dates; any regular calendar serves the same purpose).

    python bench/wide_to_long.py ../shared/datasets/Hourly-train.csv hourly.csv --freq h
    forecast train hourly.csv --id-col id --horizon 48
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def wide_to_long(wide: pd.DataFrame, freq: str, start: str = "2000-01-03") -> pd.DataFrame:
    """(series, values) rows to id/timestamp/value rows; trailing NaN padding is dropped."""
    parts = []
    for key, row in wide.iterrows():
        values = row.dropna().to_numpy(dtype=float)
        stamps = pd.date_range(start, periods=len(values), freq=freq)
        parts.append(pd.DataFrame({"id": str(key), "timestamp": stamps, "value": values}))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wide", help="wide CSV: first column the series id, then its values")
    parser.add_argument("long", help="long CSV to write: id,timestamp,value")
    parser.add_argument("--freq", required=True, help="pandas frequency of the series, e.g. h, D, W-MON, MS")
    parser.add_argument("--start", default="2000-01-03", help="first timestamp of every series (a Monday)")
    args = parser.parse_args()
    frame = wide_to_long(pd.read_csv(args.wide, index_col=0), args.freq, args.start)
    frame.to_csv(args.long, index=False, float_format="%.10g")
    print(f"wrote {frame['id'].nunique()} series, {len(frame)} rows to {args.long}")


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
