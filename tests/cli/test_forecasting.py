import io
import json
import re

import pandas as pd
import pytest

from conftest import error_line, SAMPLE, invoke, reseal
from forecast.predict import predict


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


def test_predict_json_is_format_json(monthly_bundle):
    as_json = invoke("predict", "--model-dir", monthly_bundle, "--json", "--quiet")
    assert as_json.exit_code == 0 and as_json.stdout == invoke("predict", "--model-dir", monthly_bundle, "--format", "json", "--quiet").stdout
    both = invoke("predict", "--model-dir", monthly_bundle, "--json", "--format", "csv")
    assert both.exit_code == 2 and "--json is --format json; --format csv asks for another" in error_line(both.stderr)
