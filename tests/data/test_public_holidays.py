import numpy as np
import pandas as pd
import pytest

from conftest import TINY, error_line, invoke
from forecast.data.public_holidays import Holidays, load_holidays
from forecast.errors import ConfigError


def test_us_holidays_with_a_state_and_the_years_ahead():
    found = load_holidays("US-CA", pd.Timestamp("2023-05-01"), pd.Timestamp("2024-06-30"))
    assert {"2023-07-04", "2024-11-28", "2025-12-25", "2034-01-01"} <= set(found.dates)
    assert "2023-03-31" in found.dates  # César Chávez Day: California's, not the nation's
    assert "2023-03-31" not in load_holidays("US", pd.Timestamp("2023-05-01"), pd.Timestamp("2024-06-30")).dates
    assert found.until == "2034-12-31" and Holidays.from_dict(found.to_dict()) == found


def test_inputs_mark_the_day_and_count_the_days_to_and_since_up_to_a_week():
    days = Holidays("X", ("2024-07-04", "2024-07-20"), "2024-12-31")
    stamps = pd.DatetimeIndex(["2024-06-20", "2024-07-02", "2024-07-04 15:00", "2024-07-05", "2024-07-12"])
    np.testing.assert_allclose(days.inputs(stamps), [
        [0, 1, 1],          # 14 days before the first: both counts at the cap
        [0, 2 / 7, 1],      # two days to go
        [1, 0, 0],          # on the day, whatever the hour
        [0, 1, 1 / 7],      # one day after (the next is 15 days off)
        [0, 1, 1],          # 8 days either way
    ])
    with pytest.raises(ValueError, match="holidays are known to 2024-12-31, not 2025-01-01"):
        days.inputs(pd.DatetimeIndex(["2025-01-01"]))


@pytest.mark.parametrize("code,message", [("XX", "Country XX not available"), ("US-ZZ", "does not have subdivision ZZ"),
                                          ("united states", "--holidays takes a country code")])
def test_unknown_codes_are_refused_with_the_form_expected(code, message):
    with pytest.raises(ConfigError, match=message):
        load_holidays(code, pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-31"))


@pytest.mark.parametrize("first,last,message", [
    ("0990-01-01", "0991-02-04", "--holidays DE: the holidays package knows DE's holidays for 1991 to 2100; this data "
                                 "runs from 990 to 991. Drop --holidays, or give data within those years."),
    ("2095-01-01", "2101-06-30", "this data runs from 2095 to 2101"),
    ("9994-01-01", "9995-02-04", "this data runs from 9994 to 9995"),  # it was stored as known to 10005-12-31
])
def test_data_outside_the_years_the_holidays_are_known_for_is_refused(first, last, message):
    with pytest.raises(ConfigError) as caught:
        load_holidays("DE", pd.Timestamp(first), pd.Timestamp(last))
    assert message in str(caught.value)


def test_the_years_ahead_stop_at_the_last_year_the_holidays_are_known_for():
    found = load_holidays("DE", pd.Timestamp("2090-01-01"), pd.Timestamp("2095-12-31"))
    assert found.until == "2100-12-31" and "2100-12-25" in found.dates


def test_train_check_refuses_data_outside_the_holidays_years(tmp_path):
    days = pd.date_range(pd.Timestamp("0990-01-01").as_unit("s"), periods=400, freq="D")
    pd.DataFrame({"Date": days.strftime("%Y-%m-%d"), "v": np.sin(np.arange(400) / 7) + 2}).to_csv(tmp_path / "d.csv", index=False)
    for check in (["--check"], []):
        result = invoke("train", tmp_path / "d.csv", "--holidays", "DE", "--model-dir", tmp_path / "m", *check, *TINY)
        assert result.exit_code == 2, result.stderr
        assert "the holidays package knows DE's holidays for 1991 to 2100; this data runs from 990 to 991" in \
            error_line(result.stderr)
        assert not (tmp_path / "m").exists()
