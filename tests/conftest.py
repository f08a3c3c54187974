"""Shared fixtures: tiny trained bundles (trained once per run) and a recorded yfinance download."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecast.cli.commands import app, globals_first

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
RECORDED_AAPL = Path(__file__).resolve().parent / "recorded" / "yfinance_AAPL_1d.csv"

# Small enough to train in seconds on two CPU cores, still two stacked layers; one network, not
# the two that the default --window-norm auto trains (its own tests train both).
TINY = ["--layers", "2", "--units", "8", "--epochs", "3", "--patience", "2", "--batch-size", "16", "--window-norm", "revin",
        "--interval-refits", "0", "--quiet"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def invoke(*args: str):
    """Run the CLI in-process as the `forecast` command does; stdout and stderr come back separately."""
    return CliRunner().invoke(app, globals_first([str(a) for a in args]))


def snapshot(directory: Path) -> dict[str, str]:
    """Content hashes of every file under `directory` and the target of every link, to prove it
    was left untouched (the lock file, rewritten by whoever takes the lock, aside)."""
    out = {}
    for path in sorted(directory.rglob("*")):
        name = str(path.relative_to(directory))
        if path.is_symlink():
            out[name] = "-> " + os.readlink(path)
        elif path.is_file() and path.name != ".lock":
            out[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def reseal(bundle: Path) -> None:
    """Rewrite a bundle's manifest to match its files as they are now: for tests of what lies
    behind the manifest (damage a digest cannot catch, such as a writer's own mistake)."""
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
             for p in bundle.iterdir() if p.name != "manifest.json" and p.is_file()}
    (bundle / "manifest.json").write_text(json.dumps({"files": files}))


def device(directory: Path, name: str) -> Path:
    """A private copy of /dev/null or /dev/full in `directory`, so that a test of writing to a
    device can never replace the machine's own (skipped where device nodes cannot be made)."""
    import stat

    path = directory / name
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, {"null": 3, "full": 7}[name]))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here ({exc})")
    return path


def tiny_fitted(seed=0):
    """A real (untrained) network with real prepared data, as training hands it to the bundle:
    30 daily rows of a sine, lookback 4, trained horizon 2."""
    import keras
    import numpy as np

    from forecast.config import TrainConfig, WindowNorm
    from forecast.data.load import Panel, Series
    from forecast.evaluation.intervals import calibrate
    from forecast.model.fit import Fitted, Metrics, prepare
    from forecast.model.network import build_model

    config = TrainConfig(lookback=4, horizon=2, layers=2, units=3, window_norm=WindowNorm.revin)
    keras.utils.set_random_seed(seed)
    index = pd.date_range("2020-01-01", periods=30, freq="D", name="date")
    frame = pd.DataFrame({"y": np.sin(np.arange(30.0))}, index=index)
    series = Series(frame, "y", (), "D", "date", {"kind": "csv", "path": "/data/y.csv"})
    prepared = prepare(Panel({"": series}, None), config)
    calibration = calibrate(np.zeros((9, 2)), np.ones((9, 2)))
    return Fitted(build_model(config, n_features=prepared.n_inputs, n_known=len(prepared.known_columns)), prepared, "test", Metrics(val_mae=1.0),
                  {"loss": [1.0], "val_loss": [1.0]}, calibration)


def error_line(stderr: str) -> str:
    """stderr's one line without the timestamp that lines carry when stderr is not a terminal."""
    assert stderr.count("\n") == 1, stderr
    return re.sub(r"^\d{4}-\d\d-\d\dT\S+ ", "", stderr)


def recorded_aapl() -> pd.DataFrame:
    """A real `yf.download("AAPL", interval="1d", auto_adjust=True)` result, saved with to_csv.

    Read back it has the live shape: MultiIndex columns named (Price, Ticker), a naive
    DatetimeIndex named Date, float prices and integer volumes.
    """
    frame = pd.read_csv(RECORDED_AAPL, header=[0, 1], index_col=0, parse_dates=True)
    frame.index.name = "Date"
    frame.columns.names = ["Price", "Ticker"]
    return frame


def empty_download(ticker: str) -> pd.DataFrame:
    """What yfinance 1.x returns when a download fails: no rows, six columns."""
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [ticker]], names=["Price", "Ticker"]
    )
    return pd.DataFrame(index=pd.DatetimeIndex([]), columns=columns, dtype="float64")


@pytest.fixture
def fake_yahoo(monkeypatch, tmp_path):
    """Replace the network call in yfinance.download with recorded answers.

    AAPL returns the recorded frame; ZZZZNOTREAL fails as an unknown symbol does; OFFLINE fails
    as yfinance does when DNS is unreachable; LIMITED as it does when Yahoo rate-limits; ALLNAN
    answers dates with no prices; FLAKY fails once as OFFLINE does, then answers as AAPL.
    Failures are reported through yfinance's logger, as the real library does (yfinance 1.7's
    messages). Retries do not sleep, and the download cache is a fresh directory per test.
    """
    import yfinance

    from forecast.data import ticker as ticker_module

    monkeypatch.setattr(ticker_module, "_sleep", lambda seconds: None)
    monkeypatch.setenv("FORECAST_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def download(ticker, **kwargs):
        calls.append((ticker, kwargs))
        log = logging.getLogger("yfinance")
        if ticker == "FLAKY" and len(calls) == 1:
            ticker = "OFFLINE"
        if ticker == "LIMITED":
            log.error("\n1 Failed download:")
            log.error("['LIMITED']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')")
            return empty_download(ticker)
        if ticker == "ALLNAN":
            frame = recorded_aapl().iloc[:20]
            return frame.where(frame.isna())
        if ticker in ("AAPL", "FLAKY"):
            frame = recorded_aapl()
            start, end = kwargs.get("start"), kwargs.get("end")
            if start:
                frame = frame[frame.index >= pd.Timestamp(start)]
            if end:
                frame = frame[frame.index < pd.Timestamp(end)]
            return frame
        if ticker == "OFFLINE":
            log.error("\n1 Failed download:")
            log.error(
                "['OFFLINE']: DNSError('Failed to perform, curl: (6) Could not resolve host: "
                "query2.finance.yahoo.com. See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')"
            )
            return empty_download(ticker)
        log.error("$%s: possibly delisted; no timezone found", ticker)
        log.error("\n1 Failed download:")
        log.error("['%s']: possibly delisted; no timezone found", ticker)
        return empty_download(ticker)

    monkeypatch.setattr(yfinance, "download", download)
    return calls


@pytest.fixture(scope="session")
def monthly_bundle(tmp_path_factory) -> Path:
    """A tiny LSTM trained once on airline passengers (monthly), horizon 12."""
    model_dir = tmp_path_factory.mktemp("monthly") / "model"
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12",
                    "--model-dir", model_dir, *TINY)
    assert result.exit_code == 0, result.stderr
    return model_dir


# A run where --window-norm auto keeps a baseline: two networks of one epoch cannot beat seasonal naive.
FALLS_BACK = [*TINY, "--window-norm", "auto", "--epochs", "1"]


@pytest.fixture(scope="session")
def baseline_bundle(tmp_path_factory) -> tuple[Path, dict, Path]:
    """Car sales trained so that --window-norm auto keeps seasonal naive: the model directory,
    `train --json`'s record, and the loss plot it wrote."""
    import json

    directory = tmp_path_factory.mktemp("baseline")
    model_dir, plot = directory / "model", directory / "loss.png"
    result = invoke("train", SAMPLE / "monthly-car-sales.csv", "--lookback", "12", "--horizon", "12",
                    "--model-dir", model_dir, "--json", "--plot", plot, *FALLS_BACK)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["window_norm"] == "seasonal naive", record  # else this fixture tests nothing
    return model_dir, record, plot


@pytest.fixture
def existing(monthly_bundle, tmp_path):
    """A copy of the monthly bundle, for a test to change or to prove unchanged."""
    target = tmp_path / "model"
    shutil.copytree(monthly_bundle, target, symlinks=True)
    return target


@pytest.fixture(scope="session")
def ticker_bundle(tmp_path_factory) -> Path:
    """A tiny GRU trained once on the recorded AAPL download, the log of Close with Volume as a feature."""
    model_dir = tmp_path_factory.mktemp("ticker") / "model"
    with pytest.MonkeyPatch.context() as patch:
        import yfinance

        patch.setattr(yfinance, "download", lambda ticker, **kwargs: recorded_aapl())
        result = invoke("train", "--ticker", "AAPL", "--start", "2022-12-01", "--features", "Volume",
                        "--cell", "gru", "--target-transform", "log", "--lookback", "10", "--horizon", "5",
                        "--model-dir", model_dir, *TINY)
    assert result.exit_code == 0, result.stderr
    return model_dir


@pytest.fixture(scope="session")
def cycles_bundle(tmp_path_factory) -> Path:
    """A tiny LSTM trained once on daily temperatures that also reads the day of week and of year."""
    model_dir = tmp_path_factory.mktemp("cycles") / "model"
    result = invoke("train", SAMPLE / "daily-min-temperatures.csv", "--fill", "interpolate", "--cycle-inputs", "auto",
                    "--lookback", "14", "--horizon", "7", "--epoch-windows", "512", "--model-dir", model_dir, *TINY)
    assert result.exit_code == 0, result.stderr
    return model_dir


@pytest.fixture(scope="session")
def known_bundle(tmp_path_factory) -> Path:
    """A tiny LSTM trained once on Melbourne's daily minimum temperature that reads the maximum as
    a future feature and Victoria's public holidays, besides the day of week and of year."""
    model_dir = tmp_path_factory.mktemp("known") / "model"
    result = invoke("train", SAMPLE / "melbourne-temperatures.csv", "--target", "MinTemp", "--future-features", "MaxTemp",
                    "--holidays", "AU-VIC", "--fill", "interpolate", "--lookback", "14", "--horizon", "7",
                    "--epoch-windows", "512", "--model-dir", model_dir, *TINY)
    assert result.exit_code == 0, result.stderr
    return model_dir


def future_rows(start: str, days: int, column: str = "MaxTemp", **changes) -> pd.DataFrame:
    """`days` rows of a daily future feature from `start` (a plausible Melbourne maximum), as
    --future-data gives them; `changes` maps a row number to the value written there instead."""
    frame = pd.DataFrame({"Date": pd.date_range(start, periods=days, freq="D").strftime("%Y-%m-%d"),
                          column: [24.0 + (i % 5) for i in range(days)]}, dtype=object)
    for row, value in changes.items():
        frame.loc[int(row.lstrip("r")), column] = value
    return frame
