import pandas as pd
import pytest

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
