import time
import pandas as pd
import pytest

from conftest import SAMPLE, recorded_aapl
from forecast.config import DataConfig, Fill
from forecast.data.load import describe_frequency, format_timestamp, infer_frequency, load_series
from forecast.errors import DataError


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(path)


def monthly_csv(n=12, values=None):
    stamps = pd.date_range("2020-01-01", periods=n, freq="MS")
    values = values if values is not None else range(1, n + 1)
    return "Month,Sales\n" + "".join(f"{t:%Y-%m},{v}\n" for t, v in zip(stamps, values))


def load(path, **options):
    return load_series(DataConfig(path=path, **options))


def test_sample_monthly_series_loads_exactly():
    notes = []
    series = load_series(DataConfig(path=str(SAMPLE / "airline-passengers.csv")), notes.append)
    assert series.frequency == "MS" and series.target == "Passengers" and series.time_col == "Month"
    assert len(series.frame) == 144
    assert series.frame.iloc[0, 0] == 112 and series.frame.iloc[-1, 0] == 432
    assert notes == ["target: Passengers (the only numeric column; --target picks another)"]


def test_last_numeric_column_is_the_default_target(tmp_path):
    path = write(tmp_path, "date,a,label,b\n2020-01-01,1,x,5\n2020-01-02,2,y,6\n2020-01-03,3,z,8\n")
    notes = []
    series = load_series(DataConfig(path=path), notes.append)
    assert series.target == "b"
    assert "last numeric column" in notes[0]


def test_features_are_read_after_the_target(tmp_path):
    path = write(tmp_path, "date,a,b\n2020-01-01,1,5\n2020-01-02,2,6\n2020-01-03,3,8\n")
    series = load(path, target="b", features=("a",))
    assert list(series.frame.columns) == ["b", "a"]


def test_time_column_found_by_content_when_its_name_says_nothing(tmp_path):
    path = write(tmp_path, "when,value\n2021-03-01,1\n2021-03-02,2\n2021-03-03,4\n")
    assert load(path).time_col == "when"


def test_integer_years_are_parsed_as_years(tmp_path):
    path = write(tmp_path, "Year,Water\n1885,356\n1886,386\n1887,397\n1888,397\n")
    series = load(path)
    assert series.frequency.startswith("YS") and series.frame.index[0] == pd.Timestamp("1885-01-01")


@pytest.mark.parametrize(
    "index,expected",
    [
        (pd.date_range("2020-01-01", periods=30, freq="h"), "h"),
        (pd.date_range("2020-01-01", periods=30, freq="D"), "D"),
        (pd.date_range("2020-01-06", periods=30, freq="W-MON"), "W-MON"),
        (pd.date_range("2020-01-01", periods=30, freq="MS"), "MS"),
        (pd.date_range("2020-01-31", periods=30, freq="ME"), "ME"),
        (pd.date_range("2020-01-01", periods=30, freq="B"), "B"),
    ],
)
def test_regular_frequencies_are_inferred(index, expected):
    assert infer_frequency(index) == expected


def test_frequency_survives_a_gap():
    index = pd.date_range("2020-01-01", periods=60, freq="D").delete([10, 11, 40])
    assert infer_frequency(index) == "D"


def test_recorded_stock_days_are_business_days_with_holidays():
    index = recorded_aapl().index
    assert pd.infer_freq(index) is None  # holidays make the index irregular
    assert infer_frequency(index) == "B"


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


def test_sample_daily_temperatures_need_fill_for_their_two_missing_days():
    with pytest.raises(DataError, match=r"2 daily timestamps are missing \(first: 1984-12-31\)"):
        load(str(SAMPLE / "daily-min-temperatures.csv"))
    assert len(load(str(SAMPLE / "daily-min-temperatures.csv"), fill=Fill.interpolate).frame) == 3652


BAD_FILES = [
    ("missing", None, "does not exist"),
    ("empty", b"", "is empty"),
    ("header only", "Month,Sales\n", "has a header but no data rows"),
    ("binary", bytes(range(256)) * 4, "is not UTF-8"),
    ("latin-1", "Date,Température\n2020-01-01,1\n".encode("latin-1"), "is not UTF-8"),
    ("one column", "value\n1\n2\n", "has 1 column; forecast needs a time column and a value column"),
    ("ragged", "Month,Sales\n2020-01,1\n2020-02,2,3,4\n", "not valid CSV"),
    ("non-numeric", monthly_csv(12, [1, 2, "abc", *range(4, 13)]), "non-numeric value 'abc' at line 4 \\(2020-03-01\\)"),
    ("missing value", monthly_csv(5, [1, 2, "", 4, 5]), "column 'Sales' has 1 missing values \\(first at 2020-03-01\\)"),
    ("infinite", monthly_csv(5, [1, 2, "inf", 4, 5]), "infinite value at line 4"),
    ("duplicated", "Month,Sales\n2020-01,1\n2020-02,2\n2020-02,3\n2020-03,4\n", "2020-02-01 in column 'Month' appears more than once"),
    ("unsorted", "Month,Sales\n2020-01,1\n2020-03,3\n2020-02,2\n2020-04,4\n", "out of order: 2020-02-01 \\(line 4\\) comes after 2020-03-01 \\(line 3\\)"),
    ("gap", monthly_csv(12).replace("2020-03,3\n", ""), "1 monthly timestamps are missing \\(first: 2020-03-01\\)"),
    ("bad date", "Month,Sales\n2020-01,1\nnot a date,2\n2020-03,3\n", "not a date at line 3: 'not a date'"),
    ("no numbers", "Month,Name\n2020-01,a\n2020-02,b\n2020-03,c\n", "no numeric column to forecast"),
    ("no time", "a,b\n1,2\n3,4\n5,6\n", "no time column found"),
    ("irregular", "Date,v\n2020-01-01,1\n2020-01-04,2\n2020-01-05,3\n2020-01-11,4\n2020-01-12,5\n", "could not infer a frequency"),
]


@pytest.mark.parametrize("name,content,message", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_files_are_refused_with_a_fix(tmp_path, name, content, message):
    path = str(tmp_path / "absent.csv") if content is None else write(tmp_path, content)
    with pytest.raises(DataError, match=message):
        load(path)


def test_missing_target_and_time_columns_are_named(tmp_path):
    path = write(tmp_path, monthly_csv(5))
    with pytest.raises(DataError, match=r"target column 'Revenue' is not in the data. Columns: Month, Sales"):
        load(path, target="Revenue")
    with pytest.raises(DataError, match=r"time column 'Date' is not in the data"):
        load(path, time_col="Date")
    with pytest.raises(DataError, match=r"feature column 'Price' is not in the data"):
        load(path, features=("Price",))


def test_frequency_words_and_timestamp_text():
    assert describe_frequency("MS") == "monthly" and describe_frequency("W-SUN") == "weekly"
    assert describe_frequency("B") == "business-day" and describe_frequency("h") == "hourly"
    assert format_timestamp(pd.Timestamp("2020-01-01"), "MS") == "2020-01-01"
    assert format_timestamp(pd.Timestamp("2020-01-01 13:00"), "h") == "2020-01-01 13:00:00"


def test_a_file_still_being_written_is_refused(tmp_path, monkeypatch):
    import threading

    from forecast.data import load as data_module
    from forecast.errors import SourceError

    path = tmp_path / "growing.csv"
    path.write_text("date,y\n2020-01-01,1\n")
    stop = threading.Event()

    def writer():
        day = 1
        while not stop.is_set():
            with open(path, "a") as handle:
                handle.write(f"2021-01-{day % 28 + 1:02d},{day}\n")
            day += 1

    real_read = open

    def slow_open(file, mode="r", *args, **kwargs):
        handle = real_read(file, mode, *args, **kwargs)
        if str(file) == str(path) and "b" in mode:
            time.sleep(0.05)  # give the writer time to append between stat and read
        return handle

    monkeypatch.setattr(data_module, "open", slow_open, raising=False)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(SourceError, match="changed while it was being read.*something is still writing it") as caught:
            data_module.read_csv(str(path))
        assert caught.value.exit_code == 3
    finally:
        stop.set()
        thread.join()


def test_a_settled_file_reads_in_one_go(tmp_path):
    from forecast.data import load as data_module

    path = tmp_path / "still.csv"
    path.write_text("date,y\n2020-01-01,1\n2020-01-02,2\n")
    assert data_module.read_csv(str(path))["y"].tolist() == [1, 2]
