import numpy as np
import pandas as pd

from forecast.data.cycles import cycle_inputs
from forecast.data.date_inputs import DateInputs
from forecast.data.public_holidays import Holidays


def test_the_cycles_then_the_holiday_columns_each_named():
    holidays = Holidays("X", ("2024-12-25",), "2025-12-31")
    dates = DateInputs(("day_of_week",), holidays)
    stamps = pd.date_range("2024-12-23", periods=4, freq="D")
    assert dates.names == ("day_of_week_sin", "day_of_week_cos", "holiday", "days_to_holiday", "days_since_holiday")
    assert dates.width == 5
    values = dates(stamps)
    assert values.dtype == np.float32 and values.shape == (4, 5)
    np.testing.assert_allclose(values[:, :2], cycle_inputs(stamps, ["day_of_week"]))
    np.testing.assert_allclose(values[:, 2:], holidays.inputs(stamps))


def test_none_at_all_is_no_columns():
    assert DateInputs().width == 0 and DateInputs()(pd.date_range("2024-01-01", periods=3)).shape == (3, 0)
