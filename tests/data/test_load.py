import io
import json

import pandas as pd
import pytest

from conftest import RECORDED_AAPL, SAMPLE, TINY, error_line, invoke, recorded_aapl
from forecast.config import DataConfig, Fill
from forecast.data.load import load_series
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


def test_the_default_target_is_never_a_feature(tmp_path):
    path = write(tmp_path, "date,a,b\n2020-01-01,1,5\n2020-01-02,2,6\n2020-01-03,3,8\n")
    notes = []
    series = load_series(DataConfig(path=path, features=("b",)), notes.append)
    assert series.target == "a" and list(series.frame.columns) == ["a", "b"]
    assert notes[0] == "target: a (the only numeric column that is not a feature; --target picks another)"
    with pytest.raises(DataError, match=r"no numeric column to forecast besides --features among date, a, b\. Name the target"):
        load(path, features=("a", "b"))


def test_time_column_found_by_content_when_its_name_says_nothing(tmp_path):
    path = write(tmp_path, "when,value\n2021-03-01,1\n2021-03-02,2\n2021-03-03,4\n")
    assert load(path).time_col == "when"


def test_integer_years_are_parsed_as_years(tmp_path):
    path = write(tmp_path, "Year,Water\n1885,356\n1886,386\n1887,397\n1888,397\n")
    series = load(path)
    assert series.frequency.startswith("YS") and series.frame.index[0] == pd.Timestamp("1885-01-01")


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


# Files of the shapes other tools write, trained on through the command line.

def _train(data, model_dir, *options):
    result = invoke("train", data, "--lookback", "8", "--horizon", "3", "--model-dir", model_dir, *TINY, *options)
    assert result.exit_code == 0, result.stderr
    return json.loads((model_dir / "current" / "metadata.json").read_text())


def test_a_neuralforecast_long_file_is_a_panel_by_unique_id(tmp_path):
    airline = pd.read_csv(SAMPLE / "airline-passengers.csv").tail(60)
    cars = pd.read_csv(SAMPLE / "monthly-car-sales.csv").tail(60)
    long = pd.concat([
        pd.DataFrame({"unique_id": "airline", "ds": airline["Month"], "y": airline["Passengers"]}),
        pd.DataFrame({"unique_id": "cars", "ds": cars["Month"], "y": cars["Sales"]}),
    ])
    path = tmp_path / "long.csv"
    long.to_csv(path, index=False)
    meta = _train(path, tmp_path / "model")
    assert meta["id_col"] == "unique_id" and meta["target"] == "y" and meta["time_col"] == "ds"
    result = invoke("predict", "--model-dir", tmp_path / "model", "--quiet")
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["unique_id", "timestamp", "forecast"]  # the input's own id column name
    assert frame.groupby("unique_id").size().to_dict() == {"airline": 3, "cars": 3}


def test_a_stock_file_forecasts_its_close_not_the_last_column(tmp_path):
    path = tmp_path / "aapl.csv"
    recorded_aapl().droplevel("Ticker", axis=1).reset_index().to_csv(path, index=False)  # Date,Close,High,Low,Open,Volume
    assert pd.read_csv(path).columns[-1] == "Volume"
    meta = _train(path, tmp_path / "model", "--features", "Volume")
    assert meta["target"] == "Close" and meta["features"] == ["Volume"]
    adjusted = tmp_path / "adjusted.csv"
    pd.read_csv(path).assign(**{"Adj Close": lambda f: f["Close"]}).to_csv(adjusted, index=False)
    notes = []
    assert load_series(DataConfig(path=str(adjusted)), notes.append).target == "Adj Close"
    assert "target: Adj Close (by its name; --target picks another)" in notes


def test_a_yfinance_export_trains_on_its_close(tmp_path):
    meta = _train(RECORDED_AAPL, tmp_path / "model")
    assert meta["target"] == "Close" and meta["time_col"] == "Date" and meta["series"][""]["frequency"] == "B"


def test_an_id_named_column_whose_values_do_not_repeat_is_not_taken_for_ids(tmp_path):
    path = write(tmp_path, "date,item_id,y\n2020-01-01,a,1\n2020-01-02,b,2\n2020-01-03,c,3\n2020-01-04,d,5\n")
    assert load_series(DataConfig(path=path)).target == "y"
    from forecast.data.load import load_panel

    assert load_panel(DataConfig(path=path)).id_col is None


def test_a_parquet_column_with_an_empty_name_is_refused_before_training(tmp_path):
    """A bundle records its columns by name: an empty one would train and leave a bundle no command can read."""
    frame = pd.read_csv(SAMPLE / "airline-passengers.csv", parse_dates=["Month"]).rename(columns={"Passengers": ""})
    frame.to_parquet(tmp_path / "air.parquet", index=False)
    result = invoke("train", tmp_path / "air.parquet", "--model-dir", tmp_path / "m", "--target", "", *TINY)
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr) == (
        "error: the target column has an empty name (''); a model records its columns by name. Give every column a "
        "name: in the file's header, or for a DataFrame with df.columns = ['date', 'sales', ...].\n")
    assert not (tmp_path / "m").exists()
    result = invoke("train", tmp_path / "air.parquet", "--model-dir", tmp_path / "m", *TINY)  # picked, not named
    assert result.exit_code == 2 and "the target column has an empty name ('')" in result.stderr
    assert not (tmp_path / "m").exists()
