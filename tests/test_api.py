"""The Python API: train and predict on DataFrames give what the command line gives on files."""

import re
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, SAMPLE, invoke
from forecast import api
from forecast.errors import ConfigError, DataError

TINY = dict(layers=2, units=8, epochs=3, patience=2, batch_size=16, window_norm="revin", lookback=12, horizon=6, interval_refits=0)


@pytest.fixture(scope="module")
def airline():
    return pd.read_csv(SAMPLE / "airline-passengers.csv", parse_dates=["Month"]).set_index("Month")


def test_train_and_predict_on_a_dataframe_match_the_command_line_on_the_file(airline, tmp_path):
    result = api.train(airline, model_dir=tmp_path / "api", **TINY)
    assert result.verdict.promote and result.metrics.val_mae > 0
    cli = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", tmp_path / "cli", "--quiet",
                 *[item for name, value in TINY.items() for item in (f"--{name.replace('_', '-')}", value)])
    assert cli.exit_code == 0, cli.stderr
    frame = api.predict(tmp_path / "api", levels=[80]).frame
    assert list(frame.columns) == ["timestamp", "forecast", "lower_80", "upper_80"]
    expected = pd.read_csv(pd.io.common.StringIO(invoke("predict", "--model-dir", tmp_path / "cli", "--level", "80").stdout))
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False, rtol=1e-5)  # the same training, the same forecast
    # New rows as a DataFrame, read as --data reads a file
    recent = airline.iloc[:-12]
    from_frame = api.predict(tmp_path / "api", data=recent).frame
    recent.reset_index().assign(Month=lambda f: f["Month"].dt.strftime("%Y-%m")).to_csv(tmp_path / "recent.csv", index=False)
    pd.testing.assert_frame_equal(from_frame, api.predict(tmp_path / "api", data=tmp_path / "recent.csv").frame)
    assert from_frame["timestamp"].iloc[0] == "1960-01-01"
    assert "a DataFrame (the Python API)" in invoke("info", "--model-dir", tmp_path / "api").stdout


def test_the_api_refuses_as_the_command_line_does(airline, tmp_path):
    with pytest.raises(ConfigError, match="train\\(\\) has no option 'horizn'"):
        api.train(airline, model_dir=tmp_path / "m", horizn=3)
    with pytest.raises(DataError, match="column 'Passengers' has a non-numeric value 'many'") as caught:
        api.train(airline.astype(object).assign(Passengers=lambda f: f["Passengers"].where(f.index.year != 1955, "many")),
                       model_dir=tmp_path / "m")
    assert caught.value.exit_code == 2 and not (tmp_path / "m").exists()


def test_importing_the_api_loads_no_keras():
    done = subprocess.run([sys.executable, "-c", "import sys; from forecast.api import train; print('keras' in sys.modules, callable(train))"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr


@pytest.mark.parametrize("columns,option,shown", [
    ([0, 1], {}, "the time column has the name 0, of type int, not text"),  # as header=None reads
    ([0, 1], {"target": 1}, "train()'s target must be a column name (text). Received: 1, of type int."),
    (["Month", ("sales", "total")], {}, "the target column has the name ('sales', 'total'), of type tuple"),  # a pivot's
    (["Month", None], {}, "the target column has the name nan, of type float"),  # pandas turns a None name into NaN
    (["Month", float("nan")], {}, "the target column has the name nan, of type float"),
])
def test_columns_without_a_text_name_are_refused_before_training(airline, tmp_path, columns, option, shown):
    frame = airline.reset_index().set_axis(columns, axis=1)
    if columns[0] == 0:
        frame[0] = frame[0].dt.strftime("%Y-%m")  # as header=None reads a file: the dates as text
    with pytest.raises((ConfigError, DataError), match=re.escape(shown)) as caught:
        api.train(frame, model_dir=tmp_path / "m", **option, **TINY)
    assert "df.columns = [" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("frame,message", [
    (lambda air: air.assign(Copy=air["Passengers"]).rename(columns={"Copy": "Passengers"}),
     "the DataFrame has 2 columns named 'Passengers'; each column needs its own name. Rename or drop the repeats "
     "(df = df.loc[:, ~df.columns.duplicated()] keeps the first)."),
    (lambda air: air.reset_index().set_index("Month", drop=False),
     "the DataFrame's index is named 'Month', as one of its columns is, so the two cannot both be read as columns. "
     "Drop one: df = df.reset_index(drop=True), or df = df.drop(columns='Month')."),
    (lambda air: air.astype(object).assign(Passengers=lambda f: f["Passengers"].where(f.index.year != 1955, "many")),
     "column 'Passengers' has a non-numeric value 'many' at row 73 (1955-01-01)"),  # rows, not a file's lines
])
def test_dataframes_a_file_cannot_hold_are_refused(airline, tmp_path, frame, message):
    with pytest.raises(DataError) as caught:
        api.train(frame(airline), model_dir=tmp_path / "m", **TINY)
    assert message in str(caught.value) and "line" not in str(caught.value)
    assert not (tmp_path / "m").exists()


def test_an_unnamed_datetime_index_is_the_time_column(airline, tmp_path):
    """As the README says: a DatetimeIndex, named or not."""
    result = api.train(airline.rename_axis(None), model_dir=tmp_path / "m", **{**TINY, "epochs": 1})
    assert result.verdict.promote
    assert api.predict(tmp_path / "m", data=airline.rename_axis(None).iloc[:-12]).frame["timestamp"].iloc[0] == "1960-01-01"


def test_new_rows_on_an_unnamed_datetime_index_serve_a_model_trained_from_a_file(monthly_bundle, airline):
    """The model reads its time column as 'Month'; a frame of new rows indexed by date, unnamed, is read as it."""
    frame = airline.rename_axis(None).iloc[:-12]
    assert api.predict(monthly_bundle, data=frame).frame["timestamp"].iloc[0] == "1960-01-01"
