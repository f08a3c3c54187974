"""The time column: found by name or content, parsed as years, day-first dates, a given format or
changing offsets, or combined from date parts in several columns."""

import json

import pandas as pd
import pytest

from conftest import SAMPLE, TINY, error_line, invoke
from forecast.data.times import combine_time_parts, detect_time_column, parse_times
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


# Through the command line, on the airline series written as other tools and people write dates.

def _airline(tmp_path, name, **columns):
    frame = pd.read_csv(SAMPLE / "airline-passengers.csv")
    months = pd.to_datetime(frame["Month"])
    frame = frame.drop(columns="Month")
    for column, make in reversed(columns.items()):
        frame.insert(0, column, make(months))
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_dayfirst_reads_dates_that_no_day_above_12_gives_away(tmp_path):
    path = _airline(tmp_path, "dayfirst.csv", Month=lambda t: t.dt.strftime("%d/%m/%Y"))  # 01/02/1949 is February
    guessed = invoke("train", path, "--model-dir", tmp_path / "m0", *TINY[:-1])
    assert guessed.exit_code == 2
    assert "dates read month-first, as no day above 12 tells otherwise: '01/02/1949' at line 3 is month 1, day 2 " \
           "(--dayfirst reads them day first)" in guessed.stderr
    result = invoke("train", path, "--dayfirst", "--lookback", "12", "--horizon", "6", "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    meta = json.loads((tmp_path / "m" / "current" / "metadata.json").read_text())
    assert meta["series"][""]["frequency"] == "MS" and meta["data_config"]["dayfirst"] is True
    # New rows are read as training read them: day first.
    again = invoke("predict", "--model-dir", tmp_path / "m", "--data", path, "--quiet")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.splitlines()[1].startswith("1961-01-01,")


def test_time_format_parses_every_value_with_it(tmp_path):
    path = _airline(tmp_path, "dotted.csv", Month=lambda t: t.dt.strftime("%d.%m.%Y"))
    result = invoke("train", path, "--time-format", "%d.%m.%Y", "--lookback", "12", "--horizon", "6",
                    "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "m" / "current" / "metadata.json").read_text())["series"][""]["frequency"] == "MS"
    wrong = invoke("train", path, "--time-format", "%Y-%m-%d", "--model-dir", tmp_path / "m2")
    assert wrong.exit_code == 2
    assert "time column 'Month' has a value that does not match --time-format '%Y-%m-%d' at line 2: '01.01.1949'" \
           in error_line(wrong.stderr)
    assert invoke("train", path, "--time-format", "dd.mm.yyyy", "--model-dir", tmp_path / "m3").exit_code == 2


def test_date_parts_in_separate_columns_are_combined_when_named(tmp_path):
    path = _airline(tmp_path, "parts.csv", year=lambda t: t.dt.year, month=lambda t: t.dt.month)
    refused = invoke("train", path, "--model-dir", tmp_path / "m0")
    assert refused.exit_code == 2
    assert "columns year, month look like the parts of one timestamp. Name them all with --time-col year,month" \
           in error_line(refused.stderr)
    result = invoke("train", path, "--time-col", "year,month", "--lookback", "12", "--horizon", "6",
                    "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    meta = json.loads((tmp_path / "m" / "current" / "metadata.json").read_text())
    assert meta["time_col"] == "year,month" and meta["target"] == "Passengers" and meta["series"][""]["frequency"] == "MS"
    again = invoke("predict", "--model-dir", tmp_path / "m", "--data", path, "--quiet")
    assert again.exit_code == 0 and again.stdout.splitlines()[1].startswith("1961-01-01,"), again.stderr
    hourly = tmp_path / "hourly.csv"
    pd.DataFrame({"year": 2010, "month": 1, "day": [1, 1, 1], "hour": [0, 1, 25], "pm": [1.0, 2.0, 3.0]}).to_csv(hourly, index=False)
    with pytest.raises(DataError, match=r"time columns year,month,day,hour do not make a date at line 4 \(year=2010, month=1, day=1, hour=25\)"):
        combine_time_parts(pd.read_csv(hourly).set_axis([2, 3, 4]), "year,month,day,hour")


def test_one_rule_for_every_utc_offset_constant_or_changing():
    hours = pd.date_range("2020-01-10 06:00", periods=4, freq="h", tz="UTC")
    written = {
        "+05:00 throughout": hours.tz_convert("+05:00").strftime("%Y-%m-%d %H:%M%z"),
        "Z": hours.strftime("%Y-%m-%dT%H:%MZ"),
        "New York across a change": pd.date_range("2020-03-08 05:00", periods=4, freq="h", tz="UTC")
        .tz_convert("America/New_York").strftime("%Y-%m-%d %H:%M%z"),
    }
    read = {}
    for label, text in written.items():
        notes = []
        read[label] = parse_times(pd.Series(list(text)), "time", notes.append)
        assert notes == ["time column time: timestamps with UTC offsets converted to UTC"], (label, notes)
    assert list(read["+05:00 throughout"]) == list(read["Z"]) == list(hours.tz_localize(None))
    assert list(read["New York across a change"]) == list(pd.date_range("2020-03-08 05:00", periods=4, freq="h"))
    # Dates (every time midnight) keep the dates they name, one offset or several.
    for text in (["2020-01-01T00:00+05:00", "2020-01-02T00:00+05:00"], ["2020-03-07 00:00-05:00", "2020-03-08 00:00-04:00"]):
        notes = []
        parsed = parse_times(pd.Series(text), "day", notes.append)
        assert [t.hour for t in parsed] == [0, 0] and parsed[0].day in (1, 7)
        assert notes == ["time column day: the timestamps carry UTC offsets but every time is midnight, so their local dates are used"]


def test_a_time_format_reading_offsets_that_change_goes_to_utc_by_the_same_rule():
    stamps = pd.date_range("2024-03-31 00:00", periods=4, freq="h", tz="UTC").tz_convert("Europe/Berlin")
    notes = []
    parsed = parse_times(pd.Series(list(stamps.strftime("%Y-%m-%dT%H:%M:%S%z"))), "time", notes.append,
                         time_format="%Y-%m-%dT%H:%M:%S%z")
    assert list(parsed) == list(pd.date_range("2024-03-31 00:00", periods=4, freq="h"))
    assert notes == ["time column time: timestamps with UTC offsets converted to UTC"]
