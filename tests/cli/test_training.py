import json
import re

import pandas as pd
import pytest

from conftest import error_line, SAMPLE, TINY, invoke, snapshot


def test_train_prints_an_honest_summary(tmp_path):
    result = invoke("train", SAMPLE / "monthly-mean-temp.csv", "--lookback", "12", "--horizon", "6",
                    "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert re.search(r"trained 2x8 lstm \([\d,]+ parameters\) on \d+ windows \(\d+ for validation\) in [\d.]+ s on", out)
    assert re.search(r"epochs run: \d+ of 3", out)
    assert re.search(r"validation MAE: [\d.]+ \(baselines on the same windows: naive [\d.]+, seasonal naive [\d.]+, drift [\d.]+\)", out)
    assert "the model beats every baseline" in out or "the model does NOT beat the" in out
    assert re.search(rf"version: \d{{8}}T\d{{6}}Z-[0-9a-f]{{4}} \(current\) in {re.escape(str(tmp_path / 'm'))}", out)
    assert result.stderr == ""  # --quiet: no notes, no progress


def test_notes_go_to_stderr_without_quiet(tmp_path):
    args = [a for a in TINY if a != "--quiet"]
    result = invoke("train", SAMPLE / "monthly-car-sales.csv", "--lookback", "6", "--horizon", "3",
                    "--epochs", "1", "--model-dir", tmp_path / "m", *args)
    assert result.exit_code == 0, result.stderr
    assert "target: Sales (the only numeric column" in result.stderr
    assert "strategy: default strategy on" in result.stderr


def test_ticker_training_through_the_cli(fake_yahoo, tmp_path):
    result = invoke("train", "--ticker", "AAPL", "--start", "2022-12-01", "--lookback", "10", "--horizon", "5",
                    "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    meta = json.loads((tmp_path / "m" / "current" / "metadata.json").read_text())
    assert meta["target"] == "Close" and meta["series"][""]["last_timestamp"] == "2024-12-30"


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def monthly(values):
    stamps = pd.date_range("2000-01-01", periods=len(values), freq="MS")
    return "Month,Sales\n" + "".join(f"{t:%Y-%m},{v}\n" for t, v in zip(stamps, values))


GOOD = list(range(100, 160))
BAD_TRAIN = {
    "missing file": (lambda d: [d / "absent.csv"], "does not exist"),
    "empty file": (lambda d: [write(d, "e.csv", "")], "is empty"),
    "not csv": (lambda d: [write(d, "x.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))], "is a PNG image, not CSV text"),
    "not utf-8": (lambda d: [write(d, "l.csv", "Month,Ventes\n2000-01,1\n".encode("utf-16"))], "is not UTF-8"),
    "missing target": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--target", "Revenue"], "target column 'Revenue' is not in the data"),
    "missing time column": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--time-col", "Date"], "time column 'Date' is not in the data"),
    "non-numeric": (lambda d: [write(d, "n.csv", monthly(GOOD[:30] + ["12O"] + GOOD[31:]))], "non-numeric value '12O' at line 32 \\(2002-07-01\\)"),
    "nan": (lambda d: [write(d, "m.csv", monthly(GOOD[:30] + [""] + GOOD[31:]))], "1 missing values"),
    "inf": (lambda d: [write(d, "i.csv", monthly(GOOD[:30] + ["inf"] + GOOD[31:]))], "infinite value"),
    "duplicated": (lambda d: [write(d, "d.csv", monthly(GOOD) + "2004-12,5\n")], "appears more than once"),
    "unsorted": (lambda d: [write(d, "u.csv", monthly(GOOD).replace("2000-02,101\n2000-03,102", "2000-03,102\n2000-02,101"))], "out of order"),
    "too short": (lambda d: [write(d, "s.csv", monthly(GOOD[:30]))], "needs at least 38 rows; the series has 30"),
    "constant": (lambda d: [write(d, "c.csv", monthly([7] * 60))], "constant \\(7\\) in the training part"),
    "both sources": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--ticker", "AAPL"], "exactly one data source"),
    "no source": (lambda d: [], "exactly one data source"),
    "zero lookback": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--lookback", "0"], "--lookback must be a whole number of at least 1. Received: 0."),
    "negative horizon": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--horizon", "-2"], "--horizon must be"),
    "zero epochs": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--epochs", "0"], "--epochs must be"),
    "zero batch": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--batch-size", "0"], "--batch-size must be"),
    "negative units": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--units", "-8"], "--units must be"),
    "zero val fraction": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--val-fraction", "0"], "--val-fraction must be between 0 and 1"),
    "dropout one": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--dropout", "1"], "--dropout must be at least 0 and below 1"),
    "zero learning rate": (lambda d: [write(d, "g.csv", monthly(GOOD)), "--learning-rate", "0"], "--learning-rate must be greater than 0"),
    "log of a zero": (lambda d: [write(d, "z.csv", monthly([0] + GOOD)), "--target-transform", "log"],
                      r"--target-transform log needs a target above zero in every row; column 'Sales' is 0 at 2000-01-01"),
}


@pytest.mark.parametrize("case", BAD_TRAIN, ids=list(BAD_TRAIN))
def test_bad_training_input_exits_2_and_leaves_the_bundle(case, existing, tmp_path, fake_yahoo):
    make_args, message = BAD_TRAIN[case]
    before = snapshot(existing)
    result = invoke("train", *make_args(tmp_path), "--model-dir", existing, "--quiet")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert error_line(result.stderr).startswith("error: "), result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert result.stdout == ""
    assert snapshot(existing) == before


UNAVAILABLE_SOURCE = {
    "unknown ticker": (["--ticker", "ZZZZNOTREAL"], "returned no data for ticker 'ZZZZNOTREAL'"),
    "no network": (["--ticker", "OFFLINE"], "could not reach Yahoo Finance"),
    "rate limited": (["--ticker", "LIMITED"], "rate-limited the download"),
    "all NaN": (["--ticker", "ALLNAN"], r"only empty \(all-NaN\) bars"),
    "offline, nothing cached": (["--ticker", "AAPL", "--offline"], "--offline: no cached bars"),
}


@pytest.mark.parametrize("case", UNAVAILABLE_SOURCE, ids=list(UNAVAILABLE_SOURCE))
def test_an_unavailable_source_exits_3_and_leaves_the_bundle(case, existing, fake_yahoo):
    args, message = UNAVAILABLE_SOURCE[case]
    before = snapshot(existing)
    result = invoke("train", *args, "--model-dir", existing, "--quiet")
    assert result.exit_code == 3, (result.stdout, result.stderr)
    *retries, last = result.stderr.splitlines(keepends=True)
    assert all("warning: " in line and "Retrying in" in line for line in retries), result.stderr
    assert re.search(message, error_line(last)), result.stderr
    assert result.stdout == "" and snapshot(existing) == before


def test_model_dir_that_is_a_file_is_refused(tmp_path):
    target = write(tmp_path, "model", "not a directory")
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", target, "--quiet")
    assert result.exit_code == 2 and "is a file, not a directory" in result.stderr
    assert target.read_text() == "not a directory"


def test_interval_refits_calibrate_on_models_retrained_at_earlier_cutoffs(tmp_path):
    loud = [arg for arg in TINY if arg != "--quiet"]
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12",
                    "--model-dir", tmp_path / "m", *loud, "--interval-refits", "2")
    assert result.exit_code == 0, result.stderr
    # Refit 1 forecasts from the 12 origins whose windows end on the last 12 rows, refit 2 from the 12 before.
    assert re.search(r"interval refit 1/2: trained on the rows before 1959-02-01 in [\d.]+ s", result.stderr)
    assert re.search(r"interval refit 2/2: trained on the rows before 1958-02-01 in [\d.]+ s", result.stderr)
    stored = json.loads((tmp_path / "m" / "current" / "metadata.json").read_text())["intervals"]
    # 24 origins, 12 to 35 rows before the end: every one reaches step 12, ten reach step 26.
    assert stored["refits"] == 2 and stored["residuals"] == [24] * 12 + list(range(23, 9, -1))
    forecast = invoke("predict", "--model-dir", tmp_path / "m", "--level", "95", "--horizon", "18")
    assert "95% interval: split-conformal at steps 1-17 (24 to 19 residuals of 2 refits), Student t at step 18 " \
           "(18 residuals of 2 refits)" in forecast.stderr


def test_the_summary_of_a_version_that_kept_seasonal_naive_says_so():
    import types
    from pathlib import Path

    from forecast.cli.report import training_summary
    from forecast.config import TrainConfig
    from forecast.model.fit import SEASONAL_NAIVE, Metrics, Selection

    metrics = Metrics(val_mae=42.17, naive_mae=76.59, seasonal_naive_mae=42.17, drift_mae=75.3, epochs_run=0,
                      best_epoch=0, best_val_loss=None, series_count=1, train_windows=76, val_windows=22,
                      parameters=50_700, train_seconds=30.0)
    selection = Selection(SEASONAL_NAIVE, {"revin": 50.1, "seasonal": None, SEASONAL_NAIVE: 42.17})
    result = types.SimpleNamespace(
        metrics=metrics, fitted=types.SimpleNamespace(placement="the CPU", selection=selection),
        verdict=types.SimpleNamespace(promote=True), version_id="v1", bundle_dir=Path("/m/versions/v1"))
    text = training_summary(result, TrainConfig())
    assert "epochs run: none kept (no trained network is used)" in text
    assert "window norm auto: kept seasonal naive (validation MAE revin 50.1, seasonal diverged, seasonal naive 42.17)" in text
    assert "neither network beat seasonal naive on validation, so this version forecasts seasonal naive" in text
    close = Selection(SEASONAL_NAIVE, {"revin": 41.9, "seasonal": 45.0, SEASONAL_NAIVE: 42.17}, standard_error=3.1)
    result.fitted.selection = close
    assert ("the revin network beat seasonal naive on validation by less than one standard error, so this version "
            "forecasts seasonal naive") in training_summary(result, TrainConfig())


def test_train_json_says_whether_the_model_beat_its_baselines(tmp_path):
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "6",
                    "--model-dir", tmp_path / "m", "--json", "--log-format", "json", *TINY[:-1])
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    # The log's summary line carries the same facts as fields a collector can query.
    (line,) = [json.loads(text) for text in result.stderr.splitlines() if '"beats_baselines"' in text]
    assert line["command"] == "train" and line["version"] == record["version"] and line["promoted"] is True
    assert line["val_mae"] == record["val_mae"] and line["baseline_mae"] == record["baseline_mae"]
    meta = json.loads((tmp_path / "m" / "current" / "metadata.json").read_text())
    assert record["version"] == (tmp_path / "m" / "current").resolve().name
    assert record["current"] is True and record["promotion"]["promoted"] is True
    assert record["promotion"]["reason"] == "first version in this directory"
    assert set(record["baseline_mae"]) == {"naive", "seasonal_naive", "drift"}
    assert record["beats_baselines"] == (record["val_mae"] < min(record["baseline_mae"].values()))
    assert record["metrics"]["val_mae"] == record["val_mae"] == meta["metrics"]["val_mae"]


def test_a_kept_baseline_is_reported_as_the_baseline_not_as_a_network_beating_it(baseline_bundle):
    _, record, _ = baseline_bundle
    # Its validation MAE equals seasonal naive's (within float error), which once read as "beating" it.
    assert record["val_mae"] == pytest.approx(record["baseline_mae"]["seasonal_naive"], rel=1e-6)
    assert record["beats_baselines"] is False and record["fell_back_to"] == "seasonal naive"
