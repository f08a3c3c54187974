import json

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, TINY, error_line, invoke, snapshot
from forecast.detect import detect
from forecast.errors import ConfigError, DataError
from forecast.predict import predict

TEMPERATURES = SAMPLE / "daily-min-temperatures.csv"
COLUMNS = ["timestamp", "actual", "forecast", "lower_99", "upper_99", "score", "sustained", "anomaly", "alarm"]


@pytest.fixture(scope="session")
def detector(tmp_path_factory):
    """A tiny network trained by `detect --train-fraction 0.5` on the first half of ten years of
    daily temperatures (1981-1985), with the scored second half it wrote."""
    directory = tmp_path_factory.mktemp("detect")
    result = invoke("detect", TEMPERATURES, "--fill", "interpolate", "--train-fraction", "0.5", "--lookback", "14",
                    "--horizon", "7", "--model-dir", directory / "model", "--output", directory / "scored.csv", *TINY)
    assert result.exit_code == 0, result.stderr
    return directory / "model", pd.read_csv(directory / "scored.csv")


def temperatures(start: str | None = None, end: str | None = None) -> pd.DataFrame:
    frame = pd.read_csv(TEMPERATURES, parse_dates=["Date"]).set_index("Date")
    frame = frame.asfreq("D").interpolate()  # the two missing days, as --fill interpolate does
    return frame.loc[start:end].reset_index()


def test_train_fraction_trains_on_the_head_and_scores_the_rest_of_a_clean_series(detector):
    _, scored = detector
    assert list(scored.columns) == COLUMNS
    assert len(scored) == 1826  # 3,652 days, the first 1,826 trained on
    assert scored["timestamp"].iloc[0] == "1986-01-01" and scored["timestamp"].iloc[-1] == "1990-12-31"
    assert not scored["anomaly"].any()  # five years of real temperatures: nothing abnormal
    assert (scored["score"] > 1).sum() > 0  # though some fall outside the 99% interval
    inside = (scored["actual"] >= scored["lower_99"]) & (scored["actual"] <= scored["upper_99"])
    assert inside.mean() > 0.95


def test_injected_spike_and_level_shift_are_found(detector, tmp_path):
    model, _ = detector
    frame = temperatures("1988-01-01")
    frame.loc[100, "Temp"] += 25  # a spike: one day 25 degrees too warm
    frame.loc[500:, "Temp"] += 22  # a level shift that lasts
    path = tmp_path / "injected.csv"
    frame.to_csv(path, index=False)
    result = detect(str(model), str(path))
    flagged = set(result.anomalies["timestamp"])
    spike, shift = frame["Date"].iloc[100].strftime("%Y-%m-%d"), frame["Date"].iloc[500].strftime("%Y-%m-%d")
    assert spike in flagged and shift in flagged
    assert set(result.alarms["timestamp"]) == {spike, shift}  # one alarm for each change
    days_after_shift = (pd.to_datetime(result.anomalies["timestamp"]) - frame["Date"].iloc[500]).dt.days
    assert (days_after_shift[days_after_shift >= 0] < 30).all()  # the rows right after it, not the whole shifted level
    assert len(result.frame) == len(frame) - 14  # rows with a full lookback before them in the file


def test_the_interval_widens_when_the_series_turns_noisier_and_still_catches_a_spike(detector, tmp_path):
    model, _ = detector
    frame = temperatures("1986-01-01")
    frame.loc[400:, "Temp"] += np.random.default_rng(0).normal(0, 8, len(frame) - 400)  # a noisier instrument
    frame.loc[1700, "Temp"] += 70
    path = tmp_path / "noisier.csv"
    frame.to_csv(path, index=False)
    scored = detect(str(model), str(path)).frame  # rows 0.. of the file continue the training data
    half_width = scored["upper_99"] - scored["forecast"]
    flagged = scored["anomaly"].to_numpy()
    # Until 1,000 rows (the memory at level 99) of the noisier series are known, the calibrated
    # width applies and the noise raises alarms; then the interval takes the noise in.
    assert flagged[400:1400].sum() > 20
    assert half_width[1500:].min() > 2 * half_width[:400].max()
    assert flagged[1500:].sum() == 1 and flagged[1700]


def test_a_lasting_departure_inside_the_threshold_is_flagged_by_the_sustained_rule(detector, tmp_path):
    model, _ = detector
    frame = temperatures("1987-01-01", "1988-12-31")
    clean = tmp_path / "clean.csv"
    frame.to_csv(clean, index=False)
    reach = float((detect(str(model), str(clean)).frame.eval("upper_99 - forecast")).iloc[0])
    # A faulty sensor for three weeks: each reading off by 1.2 times the interval's reach, in
    # turn up and down, so no row scores twice the reach but the run is far from usual.
    frame.loc[400:420, "Temp"] += 1.2 * reach * np.resize([1, -1], 21)
    path = tmp_path / "faulty.csv"
    frame.to_csv(path, index=False)
    result = detect(str(model), str(path))
    inside = result.frame.iloc[400 - 14 : 421 - 14]
    assert (inside["score"] < 2).mean() > 0.7
    assert inside["anomaly"].sum() >= 10 and not result.frame["anomaly"].drop(inside.index).any()
    (alarm,) = result.alarms["timestamp"]
    assert frame["Date"].iloc[400] <= pd.Timestamp(alarm) <= frame["Date"].iloc[410]
    assert result.frame["sustained"].iloc[:100].isna().all() and result.frame["sustained"].iloc[100:].notna().all()
    lenient = detect(str(model), str(path), sustained_threshold=1e6)
    assert lenient.frame["anomaly"].sum() == (lenient.frame["score"] > 2).sum() < inside["anomaly"].sum()


def test_rows_that_continue_the_training_data_use_its_stored_history(detector, tmp_path):
    model, scored = detector
    path = tmp_path / "january.csv"
    temperatures("1986-01-01", "1986-01-31").to_csv(path, index=False)
    result = detect(str(model), str(path))
    assert len(result.frame) == 31  # every row, though the file is shorter than lookback + 1
    pd.testing.assert_frame_equal(result.frame, scored.iloc[:31], check_dtype=False, rtol=1e-5)  # the file holds 6 digits


@pytest.mark.parametrize("days", [1, 2])
def test_yesterday_s_readings_alone_are_scored_with_the_model_s_frequency(detector, tmp_path, days):
    model, scored = detector
    path = tmp_path / "yesterday.csv"
    temperatures("1986-01-01", f"1986-01-0{days}").to_csv(path, index=False)
    result = invoke("detect", path, "--model-dir", model, "--quiet")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(__import__("io").StringIO(result.stdout))
    pd.testing.assert_frame_equal(frame, scored.iloc[:days], check_dtype=False, rtol=1e-5)


def test_a_forecast_k_steps_back_is_predict_s_kth_step(detector, tmp_path):
    model, _ = detector
    path, before = tmp_path / "after.csv", tmp_path / "before.csv"
    temperatures("1987-01-01", "1987-03-31").to_csv(path, index=False)
    result = detect(str(model), str(path), step=3, level=80)
    row = result.frame.iloc[40]
    temperatures("1987-01-01", pd.Timestamp(row["timestamp"]) - pd.Timedelta(days=3)).to_csv(before, index=False)
    forecast = predict(str(model), steps=3, data_path=str(before), levels=(80,)).frame.iloc[2]
    assert forecast["timestamp"] == row["timestamp"]
    assert row["forecast"] == pytest.approx(forecast["forecast"], rel=1e-6)
    assert (row["lower_80"], row["upper_80"]) == pytest.approx((forecast["lower_80"], forecast["upper_80"]), rel=1e-6)
    assert len(result.frame) == 90 - 14 - 2


def test_the_threshold_and_level_set_what_is_flagged(detector, tmp_path):
    model, scored = detector
    path = tmp_path / "later.csv"
    temperatures("1986-01-01").to_csv(path, index=False)
    loose = detect(str(model), str(path), threshold=1.0)
    assert loose.frame["anomaly"].sum() == (scored["score"] > 1).sum() > 0
    narrow = detect(str(model), str(path), level=80)
    ratio = (narrow.frame["score"] / loose.frame["score"]).to_numpy()
    assert (ratio > 1).all()  # a narrower interval: every row scores higher
    assert np.allclose(ratio[:100], ratio[0])  # while both keep the calibrated widths, in proportion
    assert narrow.frame["anomaly"].sum() > 0 == scored["anomaly"].sum()


def test_exit_code_only_when_asked_and_only_anomalies(detector, tmp_path):
    model, _ = detector
    frame = temperatures("1989-01-01", "1989-06-30")
    frame.loc[60, "Temp"] += 25
    spiked = tmp_path / "spiked.csv"
    frame.to_csv(spiked, index=False)
    quiet = invoke("detect", spiked, "--model-dir", model, "--only-anomalies", "--quiet")
    assert quiet.exit_code == 0, quiet.stderr
    rows = pd.read_csv(pd.io.common.StringIO(quiet.stdout))
    assert list(rows.columns) == COLUMNS and len(rows) >= 1 and rows["anomaly"].all()
    assert rows["timestamp"].iloc[0] == "1989-03-02"
    alert = invoke("detect", spiked, "--model-dir", model, "--exit-code", "--format", "json", "--quiet")
    assert alert.exit_code == 4
    assert len(json.loads(alert.stdout)["rows"]) == len(frame) - 14
    clean = tmp_path / "clean.csv"
    temperatures("1989-01-01", "1989-06-30").to_csv(clean, index=False)
    assert invoke("detect", clean, "--model-dir", model, "--exit-code", "--quiet").exit_code == 0


def test_summary_plot_and_output_file(detector, tmp_path):
    model, _ = detector
    frame = temperatures("1989-01-01", "1989-06-30")
    frame.loc[60, "Temp"] -= 25
    path = tmp_path / "spiked.csv"
    frame.to_csv(path, index=False)
    result = invoke("detect", path, "--model-dir", model, "--output", tmp_path / "out.csv", "--plot", tmp_path / "plot.png")
    assert result.exit_code == 0, result.stderr
    assert ("rows flagged (more than 2 times the 99% interval's reach from the forecast, or in a departure sustained beyond "
            "4.26 standard deviations) in 1 alarm; the largest: 1989-03-02") in result.stderr
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(pd.read_csv(tmp_path / "out.csv")) == len(frame) - 14


@pytest.mark.parametrize("options, message", [
    (["--step", "8"], "--step must be a whole number from 1 to the trained horizon (7). Received: 8."),
    (["--step", "0"], "--step must be a whole number from 1"),
    (["--threshold", "0"], "--threshold must be a number above 0"),
    (["--threshold", "nan"], "--threshold must be a number above 0"),
    (["--sustained-threshold", "-1"], "--sustained-threshold must be a number of standard deviations above 0"),
    (["--sustained-threshold", "inf"], "--sustained-threshold must be a number of standard deviations above 0"),
    (["--level", "100"], "--level must be a whole percentage from 1 to 99. Received: 100."),
    (["--lookback", "30"], "--lookback applies only with --train-fraction"),
    (["--time-col", "Date"], "--time-col applies only with --train-fraction"),
    (["--id", "x"], "--id picks one of several series, but this model was trained on one"),
])
def test_bad_options_are_refused_with_exit_2_and_nothing_written(detector, tmp_path, options, message):
    model, _ = detector
    before = snapshot(model)
    result = invoke("detect", TEMPERATURES, "--model-dir", model, "--output", tmp_path / "out.csv", *options)
    assert result.exit_code == 2, result.stderr
    assert message in error_line(result.stderr)
    assert not (tmp_path / "out.csv").exists() and snapshot(model) == before


def test_data_that_cannot_be_scored_is_refused(detector, tmp_path):
    model, _ = detector
    short = tmp_path / "short.csv"
    temperatures("1989-01-01", "1989-01-10").to_csv(short, index=False)  # 10 rows, not after the training data
    with pytest.raises(DataError, match=r"has no row with 14 rows \(the lookback\) and 0 more before it"):
        detect(str(model), str(short))
    monthly = tmp_path / "monthly.csv"
    temperatures().set_index("Date").resample("MS").mean().reset_index().to_csv(monthly, index=False)
    with pytest.raises(DataError, match="is monthly .* but the model was trained on daily data"):
        detect(str(model), str(monthly))
    with pytest.raises(DataError, match=r"time column 'Date' is not in the data\. Columns: Month, Passengers\. "
                                        r"The model reads the columns 'Date', 'Temp'\."):
        detect(str(model), str(SAMPLE / "airline-passengers.csv"))
    with pytest.raises(ConfigError, match="--train-fraction must be a share between 0 and 1"):
        from forecast.config import DataConfig, TrainConfig
        from forecast.detect import train_and_detect

        train_and_detect(DataConfig(path=str(short)), TrainConfig(), str(tmp_path / "m"), 1.5)


def test_a_model_with_few_validation_windows_scores_against_a_student_t_width(monthly_bundle):
    notes = []
    result = detect(str(monthly_bundle), str(SAMPLE / "airline-passengers.csv"), log=notes.append)
    assert result.level == 99
    assert list(result.frame.columns) == ["timestamp", "actual", "forecast", "lower_99", "upper_99", "score", "sustained", "anomaly", "alarm"]
    assert "the model's 36 validation residuals at step 1 are too few for a split-conformal 99% width (99 are needed): " \
           "scoring against its Student t width" in notes


def test_a_panel_scores_each_series_and_id_picks_one(tmp_path):
    frame = temperatures("1985-01-01", "1986-12-31")
    warm = frame.assign(Temp=frame["Temp"] * 1.5 + 5)
    warm.loc[650, "Temp"] += 40  # a spike in the second year of one series only
    long = pd.concat([frame.assign(site="south"), warm.assign(site="north")])
    path = tmp_path / "sites.csv"
    long.to_csv(path, index=False)
    result = invoke("detect", path, "--id-col", "site", "--train-fraction", "0.5", "--lookback", "14", "--horizon", "7",
                    "--model-dir", tmp_path / "model", "--output", tmp_path / "out.csv", *TINY)
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(tmp_path / "out.csv")
    assert list(scored.columns) == ["site", *COLUMNS]  # the input's id column name
    assert scored.groupby("site").size().to_dict() == {"north": 365, "south": 365}
    flagged = scored[scored["anomaly"]]
    assert set(flagged["site"]) == {"north"} and frame["Date"].iloc[650].strftime("%Y-%m-%d") in set(flagged["timestamp"])
    one = detect(str(tmp_path / "model"), str(path), ids=["south"])
    assert set(one.frame["site"]) == {"south"} and len(one.frame) == 730 - 14


def test_a_level_below_90_scores_a_series_with_few_validation_windows(monthly_bundle, tmp_path):
    """Ten misses beyond an 80% interval need only 50 rows of memory; the sustained rule still
    estimates its spread from RUN_HISTORY run means (it raised: min_periods 100 must be <= window 51)."""
    result = invoke("detect", SAMPLE / "airline-passengers.csv", "--model-dir", monthly_bundle, "--level", "80",
                    "--output", tmp_path / "scored.csv", "--quiet")
    assert result.exit_code == 0, result.stderr
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert list(scored.columns) == [*COLUMNS[:3], "lower_80", "upper_80", *COLUMNS[5:]]
    assert scored["sustained"].iloc[:100].isna().all() and scored["sustained"].iloc[101:].notna().all()
