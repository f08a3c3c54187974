"""Reading a data file: its bytes (a file still being written is refused), and each format the reader takes."""

import threading
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import RECORDED_AAPL, SAMPLE, error_line, invoke
from forecast.cli.commands import app
from forecast.data import datafile
from forecast.data.datafile import read_table
from forecast.errors import DataError, SourceError


def test_a_file_still_being_written_is_refused(tmp_path, monkeypatch):
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

    monkeypatch.setattr(datafile, "open", slow_open, raising=False)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(SourceError, match="changed while it was being read.*something is still writing it") as caught:
            datafile.read_table(str(path))
        assert caught.value.exit_code == 3
    finally:
        stop.set()
        thread.join()


def test_a_settled_file_reads_in_one_go(tmp_path):

    path = tmp_path / "still.csv"
    path.write_text("date,y\n2020-01-01,1\n2020-01-02,2\n")
    assert datafile.read_table(str(path))["y"].tolist() == [1, 2]


# Through the command line: the airline series in each format the reader takes gives the
# forecast the CSV gives, read by `predict --data` with a model trained on the CSV.
AIRLINE = SAMPLE / "airline-passengers.csv"


def _airline() -> pd.DataFrame:
    return pd.read_csv(AIRLINE)


@pytest.fixture(scope="module")
def csv_forecast(monthly_bundle):
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", AIRLINE, "--quiet")
    assert result.exit_code == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name, write", [
    ("airline.tsv", lambda frame, path: frame.to_csv(path, sep="\t", index=False)),
    ("airline.txt", lambda frame, path: frame.to_csv(path, sep="|", index=False)),
    # A spreadsheet set to European conventions: semicolons, and a decimal comma.
    ("airline-eu.csv", lambda frame, path: frame.assign(Passengers=frame["Passengers"] + 0.25).to_csv(
        path, sep=";", decimal=",", index=False)),
    ("airline.parquet", lambda frame, path: frame.assign(Month=pd.to_datetime(frame["Month"])).to_parquet(path, index=False)),
])
def test_each_format_reads_as_the_csv_does(monthly_bundle, csv_forecast, tmp_path, name, write):
    path = tmp_path / name
    write(_airline(), path)
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", path, "--quiet")
    assert result.exit_code == 0, result.stderr
    expected = csv_forecast
    if name == "airline-eu.csv":  # every value a quarter higher, so 112,25 must be read as 112.25
        plain = tmp_path / "plain.csv"
        _airline().assign(Passengers=_airline()["Passengers"] + 0.25).to_csv(plain, index=False)
        expected = invoke("predict", "--model-dir", monthly_bundle, "--data", plain, "--quiet").stdout
        assert expected != csv_forecast
    assert result.stdout == expected


def test_standard_input_is_read_when_data_is_a_dash(monthly_bundle, csv_forecast):
    result = CliRunner().invoke(app, ["predict", "--model-dir", str(monthly_bundle), "--data", "-", "--quiet"],
                                input=AIRLINE.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert result.stdout == csv_forecast


def test_the_separator_is_said_and_can_be_given(monthly_bundle, csv_forecast, tmp_path):
    path = tmp_path / "airline.tsv"
    _airline().to_csv(path, sep="\t", index=False)
    said = invoke("predict", "--model-dir", monthly_bundle, "--data", path)
    assert "columns separated by tabs (--sep sets the separator)" in said.stderr
    path = tmp_path / "airline.csv"
    _airline().to_csv(path, sep=";", index=False)
    rows = read_table(str(path), sep=";")
    assert list(rows.columns) == ["Month", "Passengers"] and rows.index[0] == 2
    with pytest.raises(DataError, match=r"has 1 column; .* Check the header row, and the separator \(read as comma; --sep sets it\)"):
        read_table(str(path), sep=",")


@pytest.mark.parametrize("name, content, message", [
    ("sales.xlsx", b"PK\x03\x04", "is a spreadsheet; forecast reads CSV and Parquet. Export the sheet as CSV"),
    ("broken.parquet", b"PAR1 not really", "is not a readable Parquet file"),
    # Renamed .csv: told by their first bytes what they are, not read as damaged text.
    ("sales.csv", b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "is a ZIP archive, as a spreadsheet (.xlsx, .ods) is, "
                                                                  "not CSV text; forecast reads CSV and Parquet. Export the sheet as CSV"),
    ("old.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", "is an old Excel workbook (.xls), not CSV text"),
    ("data.csv", __import__("gzip").compress(b"Month,Passengers\n1949-01,112\n"), "is gzip-compressed, not CSV text"),
    ("db.csv", b"SQLite format 3\x00\x10\x00", "is an SQLite database, not CSV text"),
    ("chart.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is a PNG image, not CSV text"),
])
def test_files_it_cannot_read_are_refused_with_the_fix(monthly_bundle, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", path)
    assert result.exit_code == 2
    assert message in error_line(result.stderr)


def test_a_yfinance_export_is_read_without_its_extra_header_rows():
    frame = read_table(str(RECORDED_AAPL))
    assert list(frame.columns) == ["Date", "Close", "High", "Low", "Open", "Volume"]
    assert frame.index[0] == 4  # the first bar is on the file's fourth line
    assert pd.api.types.is_float_dtype(frame["Close"]) and pd.api.types.is_integer_dtype(frame["Volume"])


def test_a_parquet_file_s_errors_count_rows_not_lines(monthly_bundle, tmp_path):
    """A Parquet file has no lines: the first row is row 1 (it was "line 0")."""
    frame = _airline().assign(Month=lambda f: pd.to_datetime(f["Month"]), Passengers=lambda f: f["Passengers"].astype(str))
    frame.loc[0, "Passengers"] = "many"  # a text column, as a Parquet file from a careless export holds
    frame.to_parquet(tmp_path / "air.parquet", index=False)
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", tmp_path / "air.parquet")
    assert result.exit_code == 2
    assert "column 'Passengers' has a non-numeric value 'many' at row 1 (1949-01-01)" in error_line(result.stderr)


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(monthly_bundle, tmp_path, monkeypatch):
    path = tmp_path / "huge.csv"
    with open(path, "wb") as handle:
        handle.write(b"Month,Passengers\n")
        handle.truncate(datafile.MAX_BYTES + 1)  # sparse: no disk space used, and it is never read
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", path)
    assert result.exit_code == 2
    assert "is 1.00 GiB; forecast reads data files of up to 1 GiB" in error_line(result.stderr)
    monkeypatch.setattr(datafile, "MAX_BYTES", 100)  # standard input is read only to one byte past the limit
    piped = CliRunner().invoke(app, ["predict", "--model-dir", str(monthly_bundle), "--data", "-", "--quiet"],
                               input=AIRLINE.read_bytes())
    assert piped.exit_code == 2 and "is more than 0.00 GiB" in error_line(piped.stderr)


def test_a_parquet_file_that_decompresses_past_the_limit_is_refused_from_its_footer(monthly_bundle, tmp_path, monkeypatch):
    frame = pd.DataFrame({"Month": pd.date_range("1949-01-01", periods=144, freq="MS"), "Passengers": 1.0})
    frame.to_parquet(tmp_path / "air.parquet", compression="zstd")
    monkeypatch.setattr(datafile, "MAX_CELLS", 200)  # 288 values: over a limit scaled down with the file
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", tmp_path / "air.parquet")
    assert result.exit_code == 2
    assert "holds 144 rows of 2 columns (288 values); forecast reads at most 200 values from a Parquet file" in \
        error_line(result.stderr)
