"""Reading the future features' values a forecast needs (--future-data), one row per forecast step."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from forecast.config import DataConfig
from forecast.data.datafile import as_rows, index_as_column, line, read_table, time_index_as
from forecast.data.frequency import stamp_text
from forecast.data.load import LARGEST, to_number
from forecast.data.times import combine_time_parts, parse_times, time_columns
from forecast.errors import DataError, names, quote

Log = Callable[[str], None]


def load_future(
    source: str | pd.DataFrame,
    config: DataConfig,
    stamps: dict[str, pd.DatetimeIndex],
    log: Log = lambda message: None,
    name: str = "--future-data",
) -> dict[str, np.ndarray]:
    """The future features' values at the timestamps a forecast needs, from a file (or DataFrame)
    holding the time column, the id column for several series, and `config.future_features`.
    Rows at other timestamps, other columns and other series are ignored.

    Args:
        source: the file's path, or a DataFrame from the Python API.
        config: the training data's columns and time parsing (time_col, id_col, future_features,
            sep, time_format, dayfirst).
        stamps: per series id, the forecast's timestamps.
        name: what messages call the data.

    Returns:
        Per series id, (len(stamps), future features) in the data's units.

    Raises:
        DataError: an unreadable file, a missing column, series or row, a timestamp given twice,
            or a value that is missing or not a number.
    """
    if isinstance(source, pd.DataFrame):
        raw = as_rows(index_as_column(time_index_as(source, config.time_col), name))
    else:
        raw = read_table(source, config.sep, log)
    columns = list(config.future_features)
    wanted = [*time_columns(config.time_col), *([config.id_col] if config.id_col else []), *columns]
    missing = [column for column in wanted if column not in raw.columns]
    if missing:
        raise DataError(f"{name} has no column {quote(missing[0])}. Columns: {names(raw.columns)}. It needs "
                        f"{', '.join(quote(c) for c in wanted)}, one row per forecast step.")
    if config.time_col in raw.columns:
        times = parse_times(raw[config.time_col], config.time_col, log, time_format=config.time_format, dayfirst=config.dayfirst)
    else:
        times = combine_time_parts(raw, config.time_col)
    keys = raw[config.id_col].astype(str) if config.id_col else pd.Series("", index=raw.index)
    out = {}
    for key, needed in stamps.items():
        label = f"{name} for series {quote(key)}" if key else name
        rows = np.flatnonzero((keys == key).to_numpy())
        at = pd.DatetimeIndex(times[rows])
        if at.has_duplicates:
            raise DataError(f"{label} gives {stamp_text(at[at.duplicated()][0])} twice. Give each forecast step one row.")
        where = at.get_indexer(needed)
        if (where < 0).any():
            first = needed[int(np.flatnonzero(where < 0)[0])]
            raise DataError(
                f"{label} has no row for {stamp_text(first)}: the forecast needs the values of "
                f"{', '.join(quote(c) for c in columns)} at each of its {len(needed)} steps, "
                f"{stamp_text(needed[0])} to {stamp_text(needed[-1])}. Add the missing rows."
            )
        picked = raw.iloc[rows[where]]
        values = np.stack([to_number(picked[column]).to_numpy() for column in columns], axis=1)
        unusable = ~(np.abs(values) <= LARGEST)  # empty, text, infinite or too large
        if unusable.any():
            step, column = map(int, np.argwhere(unusable)[0])
            cell = picked[columns[column]].iloc[step]
            cell = cell.item() if isinstance(cell, np.generic) else cell  # inf, not np.float64(inf)
            what = "empty" if pd.isna(cell) else f"{quote(cell)}, not a number {'' if np.isnan(values[step, column]) else 'it can model '}"
            raise DataError(f"{label}: column {quote(columns[column])} is {what.rstrip()} at {stamp_text(needed[step])} "
                            f"({line(picked[columns[column]], step)}). Every forecast step needs a number: fix it.")
        out[key] = values
    return out
