"""The time column: found by name or content, parsed as years, day-first dates or changing offsets."""

import pandas as pd
import pytest

from forecast.data.times import detect_time_column, parse_times
from forecast.errors import DataError


def test_the_time_column_is_found_by_name_then_by_content():
    assert detect_time_column(pd.DataFrame({"y": [1, 2], "Month": ["2020-01", "2020-02"]}), None) == "Month"
    unnamed = pd.DataFrame({"label": ["a", "b"], "when": ["2020-01-01", "2020-01-02"], "y": [1, 2]})
    assert detect_time_column(unnamed, None) == "when"
    assert detect_time_column(unnamed, "when") == "when"
    with pytest.raises(DataError, match=r"time column 'at' is not in the data. Columns: label, when, y. Fix --time-col."):
        detect_time_column(unnamed, "at")
    with pytest.raises(DataError, match="no time column found among label, y. Name it with --time-col."):
        detect_time_column(pd.DataFrame({"label": ["a", "b"], "y": [1, 2]}), None)


def test_whole_numbers_from_1000_to_9999_are_years():
    parsed = parse_times(pd.Series([1999, 2000, 2001]), "Year")
    assert list(parsed) == [pd.Timestamp("1999-01-01"), pd.Timestamp("2000-01-01"), pd.Timestamp("2001-01-01")]
    with pytest.raises(DataError, match="holds numbers, not dates"):
        parse_times(pd.Series([1.5, 2.5]), "t")


def test_a_day_above_12_makes_the_column_day_first_and_says_so():
    notes = []
    parsed = parse_times(pd.Series(["01/02/2020", "13/02/2020"]), "Date", notes.append)
    assert list(parsed) == [pd.Timestamp("2020-02-01"), pd.Timestamp("2020-02-13")]
    assert any("day-first" in note for note in notes), notes


def test_changing_utc_offsets_become_utc():
    notes = []
    parsed = parse_times(pd.Series(["2020-03-29 00:00+01:00", "2020-03-29 03:00+02:00"]), "time", notes.append)
    assert list(parsed) == [pd.Timestamp("2020-03-28 23:00"), pd.Timestamp("2020-03-29 01:00")]
    assert any("UTC" in note for note in notes), notes


def test_a_value_that_is_not_a_date_names_its_line():
    column = pd.Series(["2020-01-01", "soon"], index=[2, 5])  # read_csv labels rows by file line
    with pytest.raises(DataError, match="not a date at line 5: 'soon'"):
        parse_times(column, "date")
