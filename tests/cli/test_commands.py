import io
import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from conftest import error_line, ROOT, SAMPLE, TINY, invoke, reseal, snapshot
from forecast.cli.commands import globals_first
from forecast.predict import predict


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


def test_predict_prints_twelve_monthly_rows(monthly_bundle):
    result = invoke("predict", "--model-dir", monthly_bundle, "--horizon", "12")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["timestamp", "forecast"]
    assert frame["timestamp"].tolist() == [f"1961-{m:02d}-01" for m in range(1, 13)]
    # The same numbers as the library, whose exact preprocessing test_predict pins, to 6 digits.
    expected = predict(str(monthly_bundle)).frame["forecast"]
    assert frame["forecast"].tolist() == pytest.approx(expected.tolist(), rel=1e-5)


def test_predict_twenty_four_rows_notes_the_feedback(monthly_bundle):
    result = invoke("predict", "--model-dir", monthly_bundle, "--horizon", "24")
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 24
    assert "beyond the trained 12" in result.stderr


def test_model_dir_from_the_environment(monthly_bundle, monkeypatch):
    monkeypatch.setenv("FORECAST_MODEL_DIR", str(monthly_bundle))
    result = invoke("predict", "--horizon", "2")
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 2


def test_predict_json_and_output_file(monthly_bundle, tmp_path):
    result = invoke("predict", "--model-dir", monthly_bundle, "--format", "json")
    records = json.loads(result.stdout)["forecasts"]
    assert len(records) == 12 and set(records[0]) == {"timestamp", "forecast"}

    out = tmp_path / "forecast.json"  # the format follows the extension
    result = invoke("predict", "--model-dir", monthly_bundle, "--output", out)
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text())["forecasts"] == records

    csv = tmp_path / "forecast.csv"
    invoke("predict", "--model-dir", monthly_bundle, "--output", csv)
    assert pd.read_csv(csv)["timestamp"].iloc[0] == "1961-01-01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.csv", "forecast.json"]


def test_info_readable_and_json(monthly_bundle):
    result = invoke("info", "--model-dir", monthly_bundle)
    assert result.exit_code == 0
    assert "Passengers, 144 rows at frequency MS, 1949-01-01 to 1960-12-01" in result.stdout
    assert "lookback 12, horizon 12" in result.stdout and "batch 16" in result.stdout
    assert "predict:    LiteRT (model.tflite), Keras as fallback" in result.stdout
    meta = json.loads(invoke("info", "--model-dir", monthly_bundle, "--json").stdout)
    assert meta["format_version"] == 5 and meta["target"] == "Passengers"


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
    "not csv": (lambda d: [write(d, "x.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))], "is not UTF-8"),
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


def damage_model(path):
    data = (path / "current" / "model.keras").read_bytes()
    (path / "current" / "model.keras").write_bytes(data[:1000])


BAD_PREDICT = {
    "missing bundle": (lambda d, b: ["--model-dir", d / "nowhere"], "no model bundle at"),
    "damaged model": (lambda d, b: (damage_model(b), ["--model-dir", b, "--engine", "keras"])[1], "model.keras has changed since it was written"),
    "damaged metadata": (lambda d, b: ((b / "current" / "metadata.json").write_text("{"), ["--model-dir", b])[1], "metadata.json has changed since it was written"),
    "zero horizon": (lambda d, b: ["--model-dir", b, "--horizon", "0"], "--horizon must be a whole number of at least 1"),
    "missing data": (lambda d, b: ["--model-dir", b, "--data", d / "recent.csv"], "does not exist"),
    "output dir missing": (lambda d, b: ["--model-dir", b, "--output", d / "no" / "f.csv"], "does not exist"),
}


@pytest.mark.parametrize("case", BAD_PREDICT, ids=list(BAD_PREDICT))
def test_bad_predict_input_exits_2_with_one_line(case, existing, tmp_path):
    make_args, message = BAD_PREDICT[case]
    result = invoke("predict", *make_args(tmp_path, existing))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert error_line(result.stderr).startswith("error: "), result.stderr
    assert re.search(message, result.stderr)
    assert result.stdout == ""


def test_info_on_a_missing_bundle(tmp_path):
    result = invoke("info", "--model-dir", tmp_path / "nowhere")
    assert result.exit_code == 2 and error_line(result.stderr).startswith("error: no model bundle at")


def test_unexpected_failure_is_one_line_with_a_hint(existing, monkeypatch):
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    before = snapshot(existing)
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", existing, *TINY)
    assert result.exit_code == 1
    assert error_line(result.stderr) == "error: unexpected RuntimeError: boom (rerun with --verbose for the traceback)\n"
    assert snapshot(existing) == before


def test_light_commands_never_import_tensorflow(tmp_path):
    script = (
        "import sys\n"
        "from forecast.cli.commands import app\n"
        f"for args in (['--help'], ['train', '--help'], ['predict', '--model-dir', {str(tmp_path / 'none')!r}],"
        f" ['train', {str(SAMPLE / 'airline-passengers.csv')!r}, '--lookback', '0'],"
        f" ['train', {str(tmp_path / 'absent.csv')!r}]):\n"
        "    try:\n"
        "        app(args, prog_name='forecast')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('heavy:', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "heavy: []" in done.stdout, done.stdout + done.stderr


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "forecast", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("forecast ")


def test_predict_levels_add_calibrated_bounds(monthly_bundle):
    result = invoke("predict", "--model-dir", monthly_bundle, "--level", "95", "--level", "80")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame.columns) == ["timestamp", "forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert (frame["lower_95"] <= frame["lower_80"]).all() and (frame["lower_80"] <= frame["forecast"]).all()
    assert (frame["forecast"] <= frame["upper_80"]).all() and (frame["upper_80"] <= frame["upper_95"]).all()
    # Half-widths are calibrated on the scaled target: in passengers they are width / scale_.
    widths = json.loads((monthly_bundle / "current" / "metadata.json").read_text())["intervals"]["half_widths"]["80"]
    scaler = json.loads((monthly_bundle / "current" / "scaler.json").read_text())["series"][""]
    scale = 1 / (scaler["data_max_"][0] - scaler["data_min_"][0])
    assert (frame["upper_80"] - frame["forecast"]).tolist() == pytest.approx([w / scale for w in widths[:12]], rel=1e-4)


def test_levels_beyond_the_validation_windows_and_steps_past_the_trained_horizon_get_intervals_that_say_how(monthly_bundle):
    # 25 validation windows, 36 validation origins: too few residuals for a split-conformal 99% width at
    # any step, enough for 80% everywhere they reach; rolled forecasts of them calibrate steps 13 to 27.
    result = invoke("predict", "--model-dir", monthly_bundle, "--level", "80", "--level", "99", "--horizon", "36")
    assert result.exit_code == 0, result.stderr
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 36 and (frame["lower_99"] <= frame["lower_80"]).all() and (frame["upper_80"] <= frame["upper_99"]).all()
    assert "80% interval: split-conformal at steps 1-27 (36 to 10 residuals), steps 28-36 extrapolated from step 27 by √(step / 27)" in result.stderr
    assert "99% interval: Student t at steps 1-27 (36 to 10 residuals), steps 28-36 extrapolated" in result.stderr
    stored = json.loads((monthly_bundle / "current" / "metadata.json").read_text())["intervals"]
    assert stored["residuals"] == list(range(36, 9, -1))
    info = invoke("info", "--model-dir", monthly_bundle)
    assert "intervals:  per step on 36 to 10 validation residuals, steps 13-27 by rolled forecasts" in info.stdout


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


def test_a_format_3_version_calibrated_before_errors_were_counted_per_step_still_forecasts(existing):
    from forecast.evaluation.intervals import windows_needed

    from forecast.config import TrainConfig
    from forecast.model.network import build_model

    version = existing / "current"
    meta = json.loads((version / "metadata.json").read_text())
    widths = meta["intervals"]["half_widths"]
    meta["format_version"] = 3
    # Its network read the lookback alone (the cycle positions among its columns), as networks did before format 5.
    config = TrainConfig(**{k: v for k, v in meta["config"].items() if k not in ("batch_size",)})
    build_model(config, n_features=3).save(version / "model.keras")
    (version / "model.tflite").unlink()
    meta["intervals"] = {"method": "split-conformal, absolute residuals per step", "windows": 25,
                         "half_widths": {level: w[:12] if windows_needed(int(level)) <= 25 else None for level, w in widths.items()}}
    (version / "metadata.json").write_text(json.dumps(meta))
    reseal(version.resolve())
    assert invoke("predict", "--model-dir", existing, "--level", "80").exit_code == 0
    refused = invoke("predict", "--model-dir", existing, "--level", "99")
    assert refused.exit_code == 2 and "a 99% interval needs at least 99 validation windows; this version was calibrated on 25, " \
        "before intervals fell back to Student t. Retrain it, or use a lower --level." in refused.stderr
    scored = invoke("detect", SAMPLE / "airline-passengers.csv", "--model-dir", existing)
    assert scored.exit_code == 0 and "this version's 25 validation windows calibrate intervals up to 96%" in scored.stderr


def test_a_level_outside_1_to_99_exits_2(monthly_bundle):
    result = invoke("predict", "--model-dir", monthly_bundle, "--level", "100")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--level must be a whole percentage from 1 to 99. Received: 100." in result.stderr


def test_a_level_may_be_given_as_a_share_as_prophet_and_darts_write_it(monthly_bundle):
    as_share = invoke("predict", "--model-dir", monthly_bundle, "--level", "0.8", "--quiet")
    assert as_share.exit_code == 0, as_share.stderr
    assert as_share.stdout == invoke("predict", "--model-dir", monthly_bundle, "--level", "80", "--quiet").stdout
    refused = invoke("predict", "--model-dir", monthly_bundle, "--level", "0.855")
    assert refused.exit_code == 2 and "a level is a whole percentage (80) or a share (0.8); received '0.855'" in refused.stderr


EVALUATE = ["evaluate", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12", "--folds", "2", *TINY]


def test_evaluate_table_and_json_report_the_same_numbers():
    table = invoke(*EVALUATE)
    assert table.exit_code == 0, table.stderr
    report = json.loads(invoke(*EVALUATE, "--json").stdout)
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.split()[:1] and line.split()[0] in ("lstm", "naive", "drift")}
    for method, label in (("model", "lstm"), ("naive", "naive"), ("drift", "drift")):
        numbers = rows[label].replace("*", "").split()[1:]
        score = report["scores"][method]
        assert numbers == [f"{score[k]:.4g}" for k in ("mae", "rmse", "smape", "mape", "mase")]
    assert "seasonal naive" in table.stdout and "MAE by step:" in table.stdout
    assert re.search(r"^AutoETS +[\d.]+", table.stdout, re.M) and set(report["scores"]) >= {"auto_ets", "auto_theta"}
    assert re.search(r"coverage over 24 forecasts: 80% interval [\d.]+% \(split-conformal\); 95% interval [\d.]+% \(", table.stdout)
    assert len(report["by_step_mae"]["model"]) == 12 and set(report["coverage"]) == {"80", "95"}
    assert sum(basis["forecasts"] for basis in report["coverage_by_basis"]["95"].values()) == 24


def test_evaluate_writes_every_forecast_row_as_a_flat_table(tmp_path):
    report = json.loads(invoke(*EVALUATE, "--json").stdout)
    assert invoke(*EVALUATE, "--output", tmp_path / "bt.csv").exit_code == 0
    assert invoke(*EVALUATE, "--output", tmp_path / "bt.parquet").exit_code == 0
    rows = pd.read_csv(tmp_path / "bt.csv")
    assert list(rows.columns) == ["timestamp", "cutoff", "fold", "actual", "model", "naive", "seasonal_naive", "drift",
                                  "auto_ets", "auto_theta", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert len(rows) == 24 and rows.groupby("fold")["cutoff"].nunique().tolist() == [1, 1]
    assert rows["cutoff"].iloc[0] == "1958-12-01" and rows["timestamp"].iloc[0] == "1959-01-01"
    for method in ("model", "naive", "auto_ets"):  # the same numbers the report scores
        assert (rows["actual"] - rows[method]).abs().mean() == pytest.approx(report["scores"][method]["mae"], rel=1e-4)
    typed = pd.read_parquet(tmp_path / "bt.parquet")
    assert list(typed.columns) == list(rows.columns)
    np.testing.assert_allclose(typed["model"], rows["model"], rtol=1e-5)


def test_compare_prints_the_three_cell_table():
    result = invoke("compare", SAMPLE / "airline-passengers.csv", "--cells", "lstm,gru,rnn", "--lookback", "12",
                    "--horizon", "12", "--folds", "1", *TINY)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert header.split() == ["method", "params", "train", "s", "epochs", "val", "loss", "MAE", "MASE", "sMAPE", "%"]
    labels = [line.split()[0] for line in lines[lines.index(header) + 1 :] if line and not line.startswith("*")]
    assert labels == ["lstm", "gru", "rnn", "naive", "seasonal", "drift", "AutoETS", "AutoTheta"]
    assert sum("*" in line for line in lines[lines.index(header) + 1 :]) == 2  # one marked row, one footnote


@pytest.mark.parametrize(
    "args,message",
    [
        (["evaluate", SAMPLE / "airline-passengers.csv", "--folds", "0"], "--folds must be a whole number"),
        (["evaluate", SAMPLE / "airline-passengers.csv", "--season", "0"], "--season must be a whole number"),
        (["compare", SAMPLE / "airline-passengers.csv", "--cells", "lstm,transformer"], "--cells takes lstm, gru and rnn"),
        (["evaluate", SAMPLE / "airline-passengers.csv", "--folds", "12"], "The earliest of 12 folds"),
    ],
)
def test_bad_evaluate_options_exit_2(args, message):
    result = invoke(*args, "--quiet")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert re.search(message, result.stderr), result.stderr


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


def test_global_options_work_after_the_command_too(monthly_bundle, tmp_path):
    log_file = tmp_path / "forecast.log"
    result = invoke("predict", "--model-dir", monthly_bundle, "--log-format", "json", "--log-file", log_file, "--verbose")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert lines and {"time", "level", "command", "message"} <= set(lines[0]) and lines[0]["command"] == "predict"
    assert globals_first(["models", "list", "--log-file=x.log", "--model-dir", "m"]) == \
        ["--log-file=x.log", "models", "list", "--model-dir", "m"]
    assert globals_first(["--log-format", "json", "train", "a.csv", "--verbose", "--", "--log-file"]) == \
        ["--verbose", "--log-format", "json", "train", "a.csv", "--", "--log-file"]


def test_short_help_and_shell_completion():
    assert invoke("-h").stdout == invoke("--help").stdout
    assert "Forecast the next --horizon steps" in invoke("predict", "-h").stdout
    # The installed command in a fresh process, told the shell: it would otherwise look for one among
    # its parent processes, which a test run started outside a shell lacks.
    completion = subprocess.run([sys.executable, "-m", "forecast", "--show-completion", "bash"], capture_output=True,
                                text=True, cwd=ROOT, timeout=60,
                                env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert completion.returncode == 0 and "_FORECAST_COMPLETE=complete_bash" in completion.stdout, completion.stderr


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


def test_predict_json_is_format_json(monthly_bundle):
    as_json = invoke("predict", "--model-dir", monthly_bundle, "--json", "--quiet")
    assert as_json.exit_code == 0 and as_json.stdout == invoke("predict", "--model-dir", monthly_bundle, "--format", "json", "--quiet").stdout
    both = invoke("predict", "--model-dir", monthly_bundle, "--json", "--format", "csv")
    assert both.exit_code == 2 and "--json is --format json; --format csv asks for another" in error_line(both.stderr)
