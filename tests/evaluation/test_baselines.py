
import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, SAMPLE
from forecast.evaluation.baselines import baseline_windows, forecast_baseline
from forecast.evaluation.metrics import mape, mase, mase_scale, smape

DATASETS = ROOT.parent / "shared" / "datasets"


def test_exact_baselines():
    history = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(forecast_baseline("naive", history, 3, 1), [30, 30, 30])
    np.testing.assert_array_equal(forecast_baseline("seasonal_naive", history, 5, 3), [10, 20, 30, 10, 20])
    np.testing.assert_allclose(forecast_baseline("drift", history, 2, 1), [30 + 29 / 5, 30 + 2 * 29 / 5])
    np.testing.assert_array_equal(forecast_baseline("seasonal_naive", history, 2, 1), [30, 30])


def test_many_origins_match_one_origin_at_a_time():
    series = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    ends = np.array([2, 4, 8])
    for name in ("naive", "seasonal_naive", "drift"):
        many = baseline_windows(name, series, ends, 3, 3)
        for row, end in zip(many, ends):
            np.testing.assert_allclose(row, forecast_baseline(name, series[:end], 3, 3))
    # Two values seen and a season of 3: seasonal naive falls back to naive.
    np.testing.assert_array_equal(baseline_windows("seasonal_naive", series, ends, 2, 3)[0], [1, 1])
    with pytest.raises(ValueError, match="unknown baseline"):
        forecast_baseline("mean", series, 2, 1)


def test_airline_seasonal_naive_matches_the_published_check():
    # ../shared/docs/benchmarks.md: hold out the last 36 months; seasonal naive MAPE 0.13189.
    passengers = pd.read_csv(SAMPLE / "airline-passengers.csv")["Passengers"].to_numpy(dtype=float)
    history, actual = passengers[:108], passengers[108:]
    assert mape(actual, forecast_baseline("seasonal_naive", history, 36, 12)) / 100 == pytest.approx(0.13189, abs=5e-6)


def read_m4(name):
    frame = pd.read_csv(DATASETS / name, index_col=0)
    return [row.dropna().to_numpy(dtype=float) for _, row in frame.iterrows()]


@pytest.mark.skipif(not (DATASETS / "Hourly-train.csv").exists(), reason="../shared/datasets is not beside the checkout")
def test_m4_hourly_naive_and_seasonal_naive_match_the_published_scores():
    # M4 Hourly, h = 48, m = 24: Naive sMAPE 43.003 / MASE 11.608; seasonal naive 13.912 / 1.193.
    trains, tests = read_m4("Hourly-train.csv"), read_m4("Hourly-test.csv")
    scores = {"naive": ([], []), "seasonal_naive": ([], [])}
    for history, actual in zip(trains, tests):
        scale = mase_scale(history, 24)
        for name, (smapes, mases) in scores.items():
            forecast = forecast_baseline(name, history, 48, 24)
            smapes.append(smape(actual, forecast))
            mases.append(mase(actual, forecast, scale))
    assert np.mean(scores["naive"][0]) == pytest.approx(43.003, abs=5e-4)
    assert np.mean(scores["naive"][1]) == pytest.approx(11.608, abs=5e-4)
    assert np.mean(scores["seasonal_naive"][0]) == pytest.approx(13.912, abs=5e-4)
    assert np.mean(scores["seasonal_naive"][1]) == pytest.approx(1.193, abs=5e-4)
