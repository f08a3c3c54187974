import json
import re

import numpy as np
import pytest

from conftest import SAMPLE
from forecast.evaluation.baselines import forecast_baseline
from forecast.cli.report import backtest_report
from forecast.config import Cell, DataConfig, TrainConfig
from forecast.data.load import load_panel
from forecast.errors import ConfigError, DataError
from forecast.evaluate import backtest, compare, plan_origins
from forecast.evaluation.metrics import mase_scale
from forecast.evaluation.statistical import forecast_statistical

TINY = TrainConfig(lookback=12, horizon=12, layers=2, units=4, epochs=2, batch_size=16, window_norm="revin", interval_refits=0)


def series(name="airline-passengers.csv"):
    return load_panel(DataConfig(path=str(SAMPLE / name)))


def test_origins_end_the_last_fold_at_the_last_row():
    assert plan_origins(100, horizon=12, folds=3, step=12) == [64, 76, 88]
    assert plan_origins(100, horizon=12, folds=2, step=1) == [87, 88]
    with pytest.raises(ConfigError, match="--folds must be"):
        plan_origins(100, 12, 0, 12)
    with pytest.raises(ConfigError, match="--step must be"):
        plan_origins(100, 12, 2, 0)


def test_airline_baselines_reproduce_the_published_check():
    # ../shared/docs/benchmarks.md: the last 36 months held out, seasonal naive MAPE 0.13189.
    data = series()
    result = backtest(data, TrainConfig(**{**TINY.__dict__, "horizon": 36}), folds=1, levels=())
    scores = result.scores()
    assert result.folds[0].timestamps[0] == "1958-01-01" and result.season == 12
    assert scores["seasonal_naive"]["mape"] / 100 == pytest.approx(0.13189, abs=5e-6)
    passengers = data.first.frame["Passengers"].to_numpy()
    naive = forecast_baseline("naive", passengers[:108], 36, 12)
    assert scores["naive"]["mae"] == pytest.approx(np.abs(passengers[108:] - naive).mean())
    assert scores["naive"]["mase"] == pytest.approx(np.abs(passengers[108:] - naive).mean() / mase_scale(passengers[:108], 12))
    ets = forecast_statistical("auto_ets", passengers[:108], 36, 12)
    assert scores["auto_ets"]["mae"] == pytest.approx(np.abs(passengers[108:] - ets).mean())


def test_a_planted_future_spike_cannot_reach_an_earlier_fold():
    clean = series("monthly-car-sales.csv")
    spiked = series("monthly-car-sales.csv")
    spiked.first.frame.iloc[-1, 0] = 1e7  # the last month, inside the last fold's horizon only
    config = TrainConfig(**{**TINY.__dict__, "horizon": 6})
    a = backtest(clean, config, folds=2, levels=(80,))
    b = backtest(spiked, config, folds=2, levels=(80,))
    early_a, early_b = a.folds[0], b.folds[0]
    for method in a.methods:
        np.testing.assert_array_equal(early_a.forecasts[method], early_b.forecasts[method])
    np.testing.assert_array_equal(early_a.bounds[80][0], early_b.bounds[80][0])
    assert early_a.scale == early_b.scale
    assert a.folds[1].actual[-1] != b.folds[1].actual[-1]  # the spike is there, in the last fold


def test_scores_by_step_and_coverage_are_consistent(monkeypatch):
    result = backtest(series(), TINY, folds=2, levels=(50, 80))
    actual = np.stack([fold.actual for fold in result.folds])
    model = np.stack([fold.forecasts["model"] for fold in result.folds])
    assert result.scores()["model"]["mae"] == pytest.approx(np.abs(actual - model).mean())
    assert np.mean(result.by_step()["model"]) == pytest.approx(result.scores()["model"]["mae"])
    lower = np.stack([fold.bounds[80][0] for fold in result.folds])
    upper = np.stack([fold.bounds[80][1] for fold in result.folds])
    assert result.coverage()[80] == pytest.approx(np.mean((actual >= lower) & (actual <= upper)))
    assert (upper - lower >= 0).all()
    data = result.to_dict()
    assert data["scores"]["model"]["mae"] == result.scores()["model"]["mae"] and len(data["folds"]) == 2

    # A statistical model that could not fit one fold's history scores n/a, in the table and in strict JSON.
    result.folds[0].forecasts["auto_theta"] = np.full(12, np.nan)
    assert result.scores()["auto_theta"] == dict.fromkeys(("mae", "rmse", "smape", "mape", "mase"))
    assert result.by_step()["auto_theta"] == [None] * 12
    json.dumps(result.to_dict(), allow_nan=False)
    report = backtest_report(result)
    assert "n/a: AutoTheta could not be fitted to every fold's history (too few rows)" in report
    assert re.search(r"^AutoTheta +n/a +n/a +n/a +n/a +n/a$", report, re.M)


def test_coverage_is_reported_for_each_way_the_widths_were_calibrated():
    result = backtest(series(), TINY, folds=1, levels=(80, 99))
    assert result.levels == [80, 99]
    by_basis = result.coverage_by_basis()
    assert set(by_basis[80]) == {"split-conformal"} and set(by_basis[99]) == {"Student t"}  # 22 windows, 33 origins
    share, count = by_basis[99]["Student t"]
    assert count == 12 and share == pytest.approx(result.coverage()[99])


def test_too_many_folds_for_the_history_is_refused_before_training():
    with pytest.raises(DataError, match=r"The earliest of 9 folds has 36 rows of history: use fewer --folds"):
        backtest(series(), TINY, folds=9)


def test_compare_runs_each_cell_on_the_same_origins():
    runs = compare(series(), TINY, [Cell.gru, Cell.rnn], folds=1)
    assert [run.cell for run in runs] == ["gru", "rnn"]
    assert runs[0].folds[0].origin == runs[1].folds[0].origin
    np.testing.assert_array_equal(runs[0].folds[0].forecasts["drift"], runs[1].folds[0].forecasts["drift"])
    # The statistical models are fitted once per fold and shared by every cell's backtest.
    assert runs[0].folds[0].forecasts["auto_ets"] is runs[1].folds[0].forecasts["auto_ets"]
    assert runs[0].training()["parameters"] != runs[1].training()["parameters"]


def test_future_features_are_read_from_each_fold_s_actual_future_and_the_target_never_is():
    def melbourne(**changes):
        panel = load_panel(DataConfig(path=str(SAMPLE / "melbourne-temperatures.csv"), target="MinTemp",
                                      future_features=("MaxTemp",), fill="interpolate"))
        panel = panel.head({"": 400})
        for column, value in changes.items():
            panel.first.frame.loc[panel.first.frame.index[-5], column] = value  # inside the last fold's horizon only
        return panel

    config = TrainConfig(**{**TINY.__dict__, "horizon": 7, "lookback": 14})
    plain = backtest(melbourne(), config, folds=2, levels=())
    hotter = backtest(melbourne(MaxTemp=45.0), config, folds=2, levels=())
    spiked = backtest(melbourne(MinTemp=45.0), config, folds=2, levels=())
    np.testing.assert_array_equal(plain.folds[0].forecasts["model"], hotter.folds[0].forecasts["model"])
    # The oracle: the last fold reads the changed maximum from its step 3 on, never before...
    changed = plain.folds[1].forecasts["model"] != hotter.folds[1].forecasts["model"]
    assert changed.tolist() == [False, False, True, True, True, True, True]
    # ...but never the target it forecasts.
    np.testing.assert_array_equal(plain.folds[1].forecasts["model"], spiked.folds[1].forecasts["model"])
