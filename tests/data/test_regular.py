"""Rows put on the regular grid: newest-first files reversed, duplicates, gaps and missing values
refused or filled within limits (read through the loader, as every command reads them)."""

import pandas as pd
import pytest

from conftest import error_line, invoke
from forecast.config import DataConfig, Fill
from forecast.data.load import load_series
from forecast.errors import DataError


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load(path, **options):
    return load_series(DataConfig(path=path, **options))


def test_descending_file_is_reversed(tmp_path):
    text = "Month,Sales\n2020-03,3\n2020-02,2\n2020-01,1\n"
    notes = []
    series = load_series(DataConfig(path=write(tmp_path, text)), notes.append)
    assert list(series.frame["Sales"]) == [1, 2, 3]
    assert any("newest first" in note for note in notes)


def test_fill_repairs_gaps_and_missing_values(tmp_path):
    text = "Date,v\n2020-01-01,1\n2020-01-02,\n2020-01-03,3\n2020-01-05,5\n2020-01-06,6\n"
    path = write(tmp_path, text)
    interpolated = load(path, fill=Fill.interpolate).frame["v"].tolist()
    assert interpolated == [1, 2, 3, 4, 5, 6]
    assert load(path, fill=Fill.ffill).frame["v"].tolist() == [1, 1, 3, 3, 5, 6]


def test_fill_drops_leading_rows_it_cannot_fill(tmp_path):
    path = write(tmp_path, "Date,v\n2020-01-01,\n2020-01-02,2\n2020-01-03,3\n2020-01-04,4\n")
    series = load(path, fill=Fill.ffill)
    assert series.frame.index[0] == pd.Timestamp("2020-01-02")


def test_fill_keeps_the_last_of_duplicated_timestamps(tmp_path):
    path = write(tmp_path, "Date,v\n2020-01-01,1\n2020-01-02,2\n2020-01-02,20\n2020-01-03,3\n")
    assert load(path, fill=Fill.ffill).frame["v"].tolist() == [1, 20, 3]


def test_day_first_dates_read_month_first_are_not_filled_into_a_made_up_series(tmp_path):
    # Five years of monthly rows written 01/MM/YYYY: read month first, they are 1-12 January of
    # each year, a daily series with 1413 of its 1473 days missing.
    stamps = pd.date_range("2015-01-01", periods=60, freq="MS")
    path = write(tmp_path, "date,y\n" + "".join(f"{t:%d/%m/%Y},{i}\n" for i, t in enumerate(stamps)))
    check = ["train", path, "--check", "--model-dir", tmp_path / "m", "--lookback", "12", "--horizon", "6"]
    gaps = invoke(*check)
    assert gaps.exit_code == 2
    assert gaps.stderr.splitlines()[-1].endswith(
        "error: 1413 daily timestamps are missing (first: 2015-01-13), but the dates, read month first, also read day "
        "first: pass --dayfirst if they are written day first (01/02/2020 for 1 February); else add the rows, or pass "
        "--fill ffill|interpolate.")
    filled = invoke(*check, "--fill", "interpolate", "--quiet")
    assert filled.exit_code == 2 and filled.stdout == ""
    assert error_line(filled.stderr).endswith(
        "error: --fill would make up 1413 of the 1473 daily rows (96%); it makes up at most 147 (10% of the rows), "
        "since more means misread dates or the wrong frequency, not a few gaps. The dates, read month first, also read "
        "day first: pass --dayfirst if they are written day first (01/02/2020 for 1 February).\n")
    right = invoke(*check, "--dayfirst", "--quiet")
    assert right.exit_code == 0, right.stderr
    assert right.stdout.startswith("ok: 60 rows")


def test_fill_makes_up_at_most_a_tenth_of_the_rows(tmp_path):
    days = pd.date_range("2020-01-01", periods=40, freq="D")
    kept = days.delete(range(10, 15))  # 5 of 40 days missing: more than 4 (10%)
    path = write(tmp_path, "date,y\n" + "".join(f"{t:%Y-%m-%d},{i}\n" for i, t in enumerate(kept)))
    with pytest.raises(DataError, match=r"^--fill would make up 5 of the 40 daily rows \(12%\); it makes up at most 4 "
                                        r"\(10% of the rows\), .* Check the time column \(--time-format, --dayfirst\) "
                                        r"and the data's spacing, or add the rows\.$"):
        load(path, fill=Fill.ffill)
    assert len(load(write(tmp_path, "date,y\n" + "".join(f"{t:%Y-%m-%d},{i}\n" for i, t in enumerate(days.delete(range(10, 14)))),
                      "four.csv"), fill=Fill.ffill).frame) == 40
