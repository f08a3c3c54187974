import numpy as np
import pandas as pd
import pytest

from forecast.evaluation.nab import STANDARD, Costs, normalised, probation_rows, score_file, window_rows

# Hand-computed from NAB's scaled sigmoid 2 / (1 + exp(5x)) − 1, where an alarm at a window's first
# row sits at x = −1 (0.98661), its sixth row of ten at x = −0.5 (0.84828), its last at −0.1.
MIDDLE_OF_TEN = 0.84828 / 0.98661  # 0.85979: the share of a detection's worth
LAST_OF_TEN = 0.24492 / 0.98661  # 0.24824
JUST_AFTER_A_WIDTH_TEN = -0.27085  # one row past a window ten wide: x = 1 / 9


def alarms_at(rows: int, *at: int) -> np.ndarray:
    flags = np.zeros(rows, dtype=bool)
    flags[list(at)] = True
    return flags


def test_probation_is_fifteen_percent_capped_at_750_rows():
    assert probation_rows(1000) == 150
    assert probation_rows(4033) == 604
    assert probation_rows(22696) == 750


def test_no_alarm_scores_minus_one_per_window_and_zero_normalised():
    score = score_file(alarms_at(1000), [(300, 309), (600, 609)])
    assert (score.raw, score.windows, score.detected, score.false_alarms) == (-2.0, 2, 0, 0)
    assert normalised([score]) == pytest.approx(0.0)


def test_alarms_at_each_window_start_score_one_each_and_100_normalised():
    score = score_file(alarms_at(1000, 300, 600), [(300, 309), (600, 609)])
    assert score.raw == pytest.approx(2.0)
    assert normalised([score]) == pytest.approx(100.0)


def test_a_later_detection_earns_less_and_only_the_earliest_alarm_counts():
    middle = score_file(alarms_at(1000, 305, 306, 309), [(300, 309)])
    assert middle.raw == pytest.approx(MIDDLE_OF_TEN, abs=1e-4)
    assert middle.detected == 1 and middle.false_alarms == 0
    last = score_file(alarms_at(1000, 309), [(300, 309)])
    assert last.raw == pytest.approx(LAST_OF_TEN, abs=1e-4)


def test_false_alarms_cost_the_fp_weight_less_just_after_a_window():
    before = score_file(alarms_at(1000, 200, 250), [(300, 309)])
    assert before.raw == pytest.approx(-1.0 - 2 * 0.11)
    assert before.false_alarms == 2
    just_after = score_file(alarms_at(1000, 310), [(300, 309)])
    assert just_after.raw == pytest.approx(-1.0 + 0.11 * JUST_AFTER_A_WIDTH_TEN, abs=1e-4)
    far_after = score_file(alarms_at(1000, 900), [(300, 309)])  # 65 widths past it
    assert far_after.raw == pytest.approx(-1.0 - 0.11)


def test_alarms_in_the_probationary_period_are_not_scored():
    score = score_file(alarms_at(1000, 10, 140), [(100, 109)])
    assert (score.raw, score.windows, score.false_alarms) == (0.0, 0, 0)
    straddling = score_file(alarms_at(1000, 145, 155), [(140, 159)])  # probation ends at row 150
    assert straddling.windows == 1 and straddling.detected == 1
    assert straddling.raw < 1.0  # detected at row 155, not at the window's start


def test_the_corpus_score_sums_raw_scores_before_normalising():
    perfect = score_file(alarms_at(1000, 300), [(300, 309)])
    missed = score_file(alarms_at(1000), [(300, 309), (600, 609), (700, 709)])
    assert normalised([perfect, missed]) == pytest.approx(100 * (1 - 3 - (-4)) / (4 - (-4)))
    with pytest.raises(ValueError, match="no labelled window"):
        normalised([score_file(alarms_at(1000, 500), [])])


def test_a_profile_changes_the_weights():
    score = score_file(alarms_at(1000, 200), [(300, 309)], costs=Costs(tp=1.0, fp=0.22, fn=2.0))
    assert score.raw == pytest.approx(-2.0 - 0.22)
    assert score.null == -2.0 and score.perfect == 1.0
    assert STANDARD == Costs(1.0, 0.11, 1.0)


def test_windows_given_by_timestamps_become_rows():
    stamps = pd.date_range("2014-04-01", periods=100, freq="5min")
    rows = window_rows(stamps, [("2014-04-01 01:00:00.000000", "2014-04-01 01:30:00.000000"),
                                ("2014-04-01 02:02:00", "2014-04-01 02:13:00")])  # between rows: inward
    assert rows == [(12, 18), (25, 26)]
