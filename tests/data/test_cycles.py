import numpy as np
import pandas as pd
import pytest

from forecast.data.cycles import cycle_inputs, cycles_for


@pytest.mark.parametrize("frequency, cycles", [
    ("h", ("time_of_day", "day_of_week")),
    ("15min", ("time_of_day", "day_of_week")),
    ("D", ("day_of_week", "day_of_year")),
    ("B", ("day_of_week", "day_of_year")),
    ("W-SUN", ("day_of_year",)),
    ("MS", ("month_of_year",)),
    ("QS-JAN", ("month_of_year",)),
    ("YS-JAN", ()),
])
def test_each_frequency_gets_the_cycles_longer_than_its_step(frequency, cycles):
    assert cycles_for(frequency) == cycles


def angle(inputs):
    """The position (0 to 1) each sine/cosine pair encodes."""
    return (np.arctan2(inputs[:, 0], inputs[:, 1]) / (2 * np.pi)) % 1


def test_positions_in_the_day_week_and_year():
    stamps = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 06:00", "2024-01-03 18:00", "2024-12-31 00:00"])
    np.testing.assert_allclose(angle(cycle_inputs(stamps, ["time_of_day"])), [0, 0.25, 0.75, 0], atol=1e-6)
    # 2024-01-01 is a Monday (day 0 of the week); Wednesday 18:00 is 2.75 days in.
    np.testing.assert_allclose(angle(cycle_inputs(stamps, ["day_of_week"]))[:3], [0, 0.25 / 7, 2.75 / 7], atol=1e-6)
    # 2024 is a leap year: 31 December starts day 366 of 366.
    np.testing.assert_allclose(angle(cycle_inputs(stamps, ["day_of_year"]))[[0, 3]], [0, 365 / 366], atol=1e-6)


def test_the_ends_of_a_cycle_sit_next_to_its_start():
    months = pd.date_range("2023-01-01", periods=12, freq="MS")
    inputs = cycle_inputs(months, ["month_of_year"])
    assert inputs.shape == (12, 2) and inputs.dtype == np.float32
    december_to_january = np.linalg.norm(inputs[11] - inputs[0])
    assert december_to_january == pytest.approx(np.linalg.norm(inputs[1] - inputs[0]), rel=1e-5)  # one step, like any other


def test_no_cycles_is_no_columns_and_an_unknown_one_is_refused():
    stamps = pd.date_range("2024-01-01", periods=3, freq="D")
    assert cycle_inputs(stamps, ()).shape == (3, 0)
    with pytest.raises(ValueError, match="unknown cycle 'fortnight'"):
        cycle_inputs(stamps, ["fortnight"])
