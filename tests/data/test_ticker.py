import numpy as np
import pandas as pd
import pytest

from forecast.config import DataConfig
from forecast.data.load import load_series
from forecast.errors import DataError, TickerError


def test_ticker_uses_the_recorded_download(fake_yahoo):
    series = load_series(DataConfig(ticker="AAPL", start="2022-12-01", features=("Volume",)))
    assert series.target == "Close" and series.features == ("Volume",)
    assert series.frequency == "B" and series.time_col == "Date"
    assert len(series.frame) == 522
    assert series.frame.index[-1] == pd.Timestamp("2024-12-30")
    assert np.isclose(series.frame["Close"].iloc[0], 146.41343688964844)
    ticker, kwargs = fake_yahoo[0]
    assert ticker == "AAPL" and kwargs["interval"] == "1d" and kwargs["auto_adjust"] is True


def test_ticker_start_defaults_to_ten_years_before_end(fake_yahoo):
    load_series(DataConfig(ticker="AAPL", end="2024-12-31"))
    assert fake_yahoo[0][1]["start"] == "2014-12-31"


def test_unknown_ticker_says_so(fake_yahoo, capsys):
    with pytest.raises(TickerError, match=r"returned no data for ticker 'ZZZZNOTREAL'.*Check the symbol"):
        load_series(DataConfig(ticker="ZZZZNOTREAL"))
    assert capsys.readouterr().err == ""  # yfinance's own log lines are not shown


def test_no_network_says_so(fake_yahoo):
    with pytest.raises(TickerError, match=r"could not reach Yahoo Finance for ticker 'OFFLINE'. Check the network"):
        load_series(DataConfig(ticker="OFFLINE"))


def test_intraday_interval_is_refused_before_downloading(fake_yahoo):
    with pytest.raises(DataError, match="--interval must be one of 1d, 1wk, 1mo, 3mo"):
        load_series(DataConfig(ticker="AAPL", interval="1h"))
    assert fake_yahoo == []


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(start="2015-13-45"), "--start must be a date such as 2015-01-01. Received: '2015-13-45'"),
        (dict(end="tomorrow-ish"), "--end must be a date"),
        (dict(start="2024-01-01", end="2023-01-01"), r"--start \(2024-01-01\) must come before --end"),
    ],
)
def test_bad_dates_are_refused_before_downloading(fake_yahoo, options, message):
    with pytest.raises(DataError, match=message):
        load_series(DataConfig(ticker="AAPL", **options))
    assert fake_yahoo == []


def test_timezone_aware_index_keeps_its_dates(monkeypatch):
    import yfinance

    from conftest import recorded_aapl

    frame = recorded_aapl()
    frame.index = frame.index.tz_localize("America/New_York")
    monkeypatch.setattr(yfinance, "download", lambda ticker, **kwargs: frame)
    series = load_series(DataConfig(ticker="AAPL", start="2022-12-01"))
    assert series.frame.index[0] == pd.Timestamp("2022-12-01") and series.frame.index.tz is None


def test_rate_limit_is_retried_then_exits_3(fake_yahoo):
    with pytest.raises(TickerError, match=r"rate-limited the download of 'LIMITED' \(too many requests\). Retry later") as caught:
        load_series(DataConfig(ticker="LIMITED"))
    assert caught.value.exit_code == 3
    assert [t for t, _ in fake_yahoo] == ["LIMITED"] * 3  # three tries


def test_all_nan_download_is_refused(fake_yahoo):
    with pytest.raises(TickerError, match=r"returned only empty \(all-NaN\) bars for ticker 'ALLNAN'"):
        load_series(DataConfig(ticker="ALLNAN"))
    assert len(fake_yahoo) == 1  # not a network failure: no retry


def test_a_network_failure_is_retried(fake_yahoo):
    notes = []
    series = load_series(DataConfig(ticker="FLAKY", start="2022-12-01"), notes.append)
    assert len(series.frame) == 522 and len(fake_yahoo) == 2
    assert any(n.startswith("warning: could not reach Yahoo Finance") and "Retrying in 2 s" in n for n in notes)


def test_a_failed_download_falls_back_to_cached_bars(fake_yahoo, monkeypatch):
    from forecast.data.ticker import cache_path

    load_series(DataConfig(ticker="AAPL", start="2022-12-01"))  # fills the cache
    assert cache_path(DataConfig(ticker="AAPL")).is_file()
    import yfinance

    real = yfinance.download
    monkeypatch.setattr(yfinance, "download", lambda ticker, **kw: real("OFFLINE", **kw))
    notes = []
    series = load_series(DataConfig(ticker="AAPL", start="2022-12-01"), notes.append)
    assert len(series.frame) == 522 and series.frame.index[-1] == pd.Timestamp("2024-12-30")
    assert any("could not reach Yahoo Finance" in n and "Using 522 cached bars" in n and "newest 2024-12-30" in n
               for n in notes)


def test_offline_uses_only_the_cache(fake_yahoo):
    with pytest.raises(TickerError, match="--offline: no cached bars for 'AAPL'.*Run once without --offline"):
        load_series(DataConfig(ticker="AAPL", offline=True))
    assert fake_yahoo == []
    load_series(DataConfig(ticker="AAPL", start="2022-12-01"))
    calls = len(fake_yahoo)
    series = load_series(DataConfig(ticker="AAPL", start="2023-01-01", offline=True))
    assert len(fake_yahoo) == calls  # nothing downloaded
    assert series.frame.index[0] == pd.Timestamp("2023-01-03") and series.frame.index[-1] == pd.Timestamp("2024-12-30")


def test_offline_needs_a_ticker():
    from forecast.errors import ConfigError

    with pytest.raises(ConfigError, match="--offline reads cached --ticker downloads"):
        DataConfig(path="x.csv", offline=True)
