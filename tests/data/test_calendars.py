"""Exchange calendars: the module, and the sessions it gives through the command line."""

import io
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, SAMPLE, TINY, invoke
from forecast.data.calendars import Calendar, load_calendar, ticker_calendar
from forecast.errors import ConfigError


@pytest.mark.parametrize("symbol,exchange", [("AAPL", "XNYS"), ("BRK-B", "XNYS"), ("^GSPC", "XNYS"), ("7203.T", "XTKS"),
                                             ("VOD.L", "XLON"), ("SAP.DE", "XFRA"), ("BTC-USD", None), ("EURUSD=X", None),
                                             ("CL=F", None), ("ABC.ZZ", None)])
def test_a_ticker_trades_on_the_exchange_its_suffix_names(symbol, exchange):
    assert ticker_calendar(symbol) == exchange


def test_nyse_sessions_skip_its_holidays_2024_to_2026():
    calendar = load_calendar("XNYS", pd.Timestamp("2023-01-03"), pd.Timestamp("2024-01-02"))
    sessions = pd.date_range("2024-01-02", "2026-12-31", freq=calendar.offset)
    for closed in ("2024-03-29", "2024-07-04", "2024-12-25", "2025-01-01", "2025-01-09", "2025-04-18",
                   "2025-11-27", "2026-01-19", "2026-07-03", "2026-12-25"):
        assert pd.Timestamp(closed) not in sessions, closed
    assert pd.Timestamp("2024-12-24") in sessions and pd.Timestamp("2025-01-02") in sessions
    assert len(sessions) == 252 + 250 + 251  # NYSE's published session counts for 2024, 2025 and 2026
    assert Calendar.from_dict(calendar.to_dict()) == calendar


def test_an_unknown_exchange_is_refused_with_examples():
    with pytest.raises(ConfigError, match=r"--calendar takes an exchange's ISO code, such as XNYS .* Received: 'NYSEE'"):
        load_calendar("NYSEE", pd.Timestamp("2024-01-02"), pd.Timestamp("2024-12-31"))


# Through the command line, on the recorded AAPL download (2022-12-01 to 2024-12-30).
AAPL = ROOT / "tests" / "recorded" / "yfinance_AAPL_1d.csv"
XNYS_HOLIDAYS = ["2024-01-01", "2024-01-15", "2024-02-19", "2024-03-29", "2024-05-27", "2024-06-19", "2024-07-04",
                 "2024-09-02", "2024-11-28", "2024-12-25", "2025-01-01", "2025-01-09", "2025-01-20", "2025-02-17",
                 "2025-04-18", "2025-05-26", "2025-06-19", "2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25",
                 "2026-01-01", "2026-01-19", "2026-02-16", "2026-04-03", "2026-05-25", "2026-06-19", "2026-07-03",
                 "2026-09-07", "2026-11-26", "2026-12-25"]  # NYSE's published closures


@pytest.fixture(scope="module")
def sessions_model(tmp_path_factory):
    model = tmp_path_factory.mktemp("calendar") / "m"
    result = invoke("train", AAPL, "--calendar", "XNYS", "--lookback", "10", "--horizon", "5", "--model-dir", model, *TINY)
    assert result.exit_code == 0, result.stderr
    return model


def test_forecasts_follow_the_exchange_sessions_2024_to_2026(sessions_model, tmp_path):
    recorded = pd.read_csv(AAPL, header=[0, 1], index_col=0)
    history = tmp_path / "to-2023.csv"
    recorded[recorded.index <= "2023-12-29"].to_csv(history)
    result = invoke("predict", "--model-dir", sessions_model, "--data", history, "--horizon", "753")
    assert result.exit_code == 0, result.stderr
    dates = pd.read_csv(io.StringIO(result.stdout))["timestamp"]
    assert dates.iloc[0] == "2024-01-02" and dates.iloc[-1] == "2026-12-31"  # 252 + 250 + 251 sessions
    assert not set(dates) & set(XNYS_HOLIDAYS) and pd.to_datetime(dates).dt.day_of_week.max() == 4
    stored = json.loads((sessions_model / "current" / "metadata.json").read_text())["calendar"]
    assert stored["name"] == "XNYS" and set(XNYS_HOLIDAYS) <= set(stored["closed"])


def test_predict_dates_sessions_without_importing_the_calendar_library(sessions_model):
    script = ("import sys; from forecast.cli.commands import cli; sys.argv = ['forecast', 'predict', '--model-dir', "
              f"{str(sessions_model)!r}, '--quiet']\ntry:\n    cli()\nexcept SystemExit:\n    pass\n"
              "assert 'exchange_calendars' not in sys.modules, 'imported'\nprint('clean')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.stdout.strip().endswith("clean"), done.stderr[-2000:]


def test_a_ticker_keeps_its_exchange_sessions_by_default(fake_yahoo, tmp_path):
    result = invoke("train", "--ticker", "AAPL", "--start", "2022-12-01", "--lookback", "10", "--horizon", "5",
                    "--model-dir", tmp_path / "m", *[a for a in TINY if a != "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert "XNYS sessions: 21 weekdays the exchange was closed are not gaps" in result.stderr
    dates = pd.read_csv(io.StringIO(invoke("predict", "--model-dir", tmp_path / "m", "--horizon", "5").stdout))["timestamp"]
    assert list(dates) == ["2024-12-31", "2025-01-02", "2025-01-03", "2025-01-06", "2025-01-07"]


@pytest.mark.parametrize("change,options,message", [
    (lambda f: f.drop(index="2024-05-14"), [], r"1 business-day timestamps are missing \(first: 2024-05-14\)"),
    (lambda f: pd.concat([f, f.loc[["2024-07-03"]].rename(index={"2024-07-03": "2024-07-04"})]).sort_index(), [],
     r"the series has a row on 2024-07-04, when XNYS was closed"),
    (lambda f: f, ["--calendar", "XNYZ"], r"--calendar takes an exchange's ISO code, such as XNYS .* Received: 'XNYZ'"),
])
def test_data_the_calendar_contradicts_is_refused(tmp_path, change, options, message):
    recorded = pd.read_csv(AAPL, header=[0, 1], index_col=0)
    path = tmp_path / "aapl.csv"
    change(recorded).to_csv(path)
    result = invoke("train", path, "--calendar", "XNYS", *options, "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and re.search(message, result.stderr), result.stderr
    assert not (tmp_path / "m").exists()


def test_a_calendar_is_for_daily_data():
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--calendar", "XNYS", "--check")
    assert result.exit_code == 2
    assert "--calendar dates daily business-day data by an exchange's sessions; this series is monthly" in result.stderr


def test_forecast_dates_past_the_stored_closures_are_refused(sessions_model):
    result = invoke("predict", "--model-dir", sessions_model, "--horizon", "2600")
    assert result.exit_code == 2 and "past 2034-12-29, the last day this model knows XNYS's holidays for. " \
        "Use a smaller --horizon, or retrain to extend them." in result.stderr


def test_an_exchange_whose_calendar_cannot_be_built_is_refused_and_never_offered(tmp_path):
    """exchange-calendars' Orthodox Easter rules fail under this pandas (NotImplementedError) for
    ASEX, XBEL, XBSE and XCYS; XBEL sorted among the first codes the tool suggested."""
    for name in ("ASEX", "XBEL", "XBSE", "XCYS"):
        with pytest.raises(ConfigError, match=f"exchange-calendars cannot build the {name} calendar for 2023 to 2034 "):
            load_calendar(name, pd.Timestamp("2023-01-03"), pd.Timestamp("2024-01-02"))
    with pytest.raises(ConfigError) as caught:
        load_calendar("NYSEE", pd.Timestamp("2023-01-03"), pd.Timestamp("2024-01-02"))
    offered = re.search(r"Use one of (.*), \.\.\., or none", str(caught.value)).group(1).split(", ")
    assert len(offered) == 12 and "XBEL" not in offered and "XAMS" in offered
    result = invoke("train", AAPL, "--calendar", "XBEL", "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "cannot build the XBEL calendar for 2022 to 2034 (" in result.stderr and "Use --calendar none" in result.stderr
    assert not (tmp_path / "m").exists()


def test_closures_ten_years_past_data_near_year_9999_are_refused():
    with pytest.raises(ConfigError, match=r"cannot build the XNYS calendar for 9994 to 10005 \(ValueError: year 10005 is out of range\)"):
        load_calendar("XNYS", pd.Timestamp("9994-01-03"), pd.Timestamp("9995-01-02"))
