"""Frequencies: inference (with gaps and market holidays), words, season lengths, timestamp text."""

import pandas as pd
import pytest

from conftest import recorded_aapl
from forecast.data.frequency import describe_frequency, format_timestamp, infer_frequency, season_length


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


def test_frequency_words_and_timestamp_text():
    assert describe_frequency("MS") == "monthly" and describe_frequency("W-SUN") == "weekly"
    assert describe_frequency("B") == "business-day" and describe_frequency("h") == "hourly"
    assert format_timestamp(pd.Timestamp("2020-01-01"), "MS") == "2020-01-01"
    assert format_timestamp(pd.Timestamp("2020-01-01 13:00"), "h") == "2020-01-01 13:00:00"


@pytest.mark.parametrize("frequency,season", [("h", 24), ("2h", 12), ("D", 7), ("B", 5), ("W-SUN", 52), ("MS", 12), ("QS-JAN", 4), ("YS-JAN", 1)])
def test_season_length_by_frequency(frequency, season):
    assert season_length(frequency) == season
