import json

from conftest import error_line, invoke


def test_info_readable_and_json(monthly_bundle):
    result = invoke("info", "--model-dir", monthly_bundle)
    assert result.exit_code == 0
    assert "Passengers, 144 rows at frequency MS, 1949-01-01 to 1960-12-01" in result.stdout
    assert "lookback 12, horizon 12" in result.stdout and "batch 16" in result.stdout
    assert "predict:    LiteRT (model.tflite), Keras as fallback" in result.stdout
    meta = json.loads(invoke("info", "--model-dir", monthly_bundle, "--json").stdout)
    assert meta["format_version"] == 5 and meta["target"] == "Passengers"


def test_info_on_a_missing_bundle(tmp_path):
    result = invoke("info", "--model-dir", tmp_path / "nowhere")
    assert result.exit_code == 2 and error_line(result.stderr).startswith("error: no model bundle at")
