import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SAMPLE, TINY, error_line, invoke, reseal
from forecast.config import Cell, Engine, EnsembleCells, TrainConfig, WindowNorm
from forecast.model.network import build_model
from forecast.model.runners import keras_runner, litert_runner
from forecast.predict import predict
from forecast.store.artifacts import LITERT_FILE, export_litert

NETWORKS = {
    "lstm, revin": TrainConfig(layers=2, units=6, lookback=9, horizon=4, window_norm=WindowNorm.revin),
    "gru with a feature, last": TrainConfig(cell=Cell.gru, layers=2, units=6, lookback=9, horizon=4, window_norm=WindowNorm.last),
    "simple rnn, none": TrainConfig(cell=Cell.rnn, layers=1, units=6, lookback=9, horizon=4, window_norm=WindowNorm.none),
    "mixed ensemble": TrainConfig(layers=2, units=4, lookback=9, horizon=4, ensemble=2, ensemble_cells=EnsembleCells.mixed, window_norm=WindowNorm.revin),
    "median of 3, seasonal": TrainConfig(layers=1, units=4, lookback=9, horizon=4, ensemble=3, window_norm=WindowNorm.seasonal),
    "mean of 3": TrainConfig(layers=1, units=4, lookback=9, horizon=4, ensemble=3, ensemble_combine="mean", window_norm=WindowNorm.revin),
    "gru with a feature, revin, linear path": TrainConfig(cell=Cell.gru, layers=1, units=4, lookback=9, horizon=4, window_norm=WindowNorm.revin, linear_path=True),
    "mean of 2, seasonal, linear path": TrainConfig(layers=1, units=4, lookback=9, horizon=4, ensemble=2, ensemble_combine="mean", window_norm=WindowNorm.seasonal, linear_path=True),
    "lstm with a feature, revin, known inputs": TrainConfig(layers=2, units=6, lookback=9, horizon=4, window_norm=WindowNorm.revin),
    "median of 3, seasonal, known inputs": TrainConfig(layers=1, units=4, lookback=9, horizon=4, ensemble=3, window_norm=WindowNorm.seasonal),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_exported_artifact_computes_what_keras_computes(name, tmp_path):
    features = 1 if "feature" in name else 0
    known = 3 if "known" in name else 0
    model = build_model(NETWORKS[name], n_features=1 + features, n_known=known)
    for layer in model.layers:  # anchored heads, linear and known paths start at zero: move them so the members differ
        if layer.name.endswith(("correction", "linear", "known_effect")):
            layer.set_weights([w + np.random.default_rng(len(layer.name)).normal(0, 0.1, w.shape) for w in layer.get_weights()])
    notes = []
    assert export_litert(model, tmp_path / LITERT_FILE, notes.append), notes
    rng = np.random.default_rng(1)
    windows = rng.random((5, 9, 1 + features), dtype=np.float32) * 3 - 1
    future = rng.random((5, 4, known), dtype=np.float32) * 3 - 1 if known else None
    run = litert_runner(tmp_path / LITERT_FILE, (9, 1 + features), 4, known)
    np.testing.assert_allclose(run(windows, future), keras_runner(model)(windows, future), atol=1e-5)


def test_the_seasonal_anchor_exports_and_computes_what_keras_computes(tmp_path):
    config = TrainConfig(layers=2, units=6, lookback=9, horizon=7, window_norm=WindowNorm.seasonal)
    model = build_model(config, n_features=2, season=3)
    model.get_layer("correction").set_weights([w + 0.05 for w in model.get_layer("correction").get_weights()])
    notes = []
    assert export_litert(model, tmp_path / LITERT_FILE, notes.append), notes
    windows = np.random.default_rng(2).random((5, 9, 2), dtype=np.float32)
    np.testing.assert_allclose(litert_runner(tmp_path / LITERT_FILE)(windows), keras_runner(model)(windows, None), atol=1e-5)


def test_a_failed_export_is_a_warning_and_leaves_no_file(tmp_path, monkeypatch):
    model = build_model(NETWORKS["lstm, revin"], n_features=1)

    def refuse(*args, **kwargs):
        raise ValueError("op not supported")

    monkeypatch.setattr(model, "export", refuse)
    notes = []
    assert not export_litert(model, tmp_path / LITERT_FILE, notes.append)
    assert notes == ["warning: no LiteRT artifact (ValueError: op not supported); predict will use Keras"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bundle", ["monthly_bundle", "ticker_bundle", "cycles_bundle"])
@pytest.mark.parametrize("horizon", [None, 11])
def test_litert_and_keras_give_the_same_forecasts(bundle, horizon, request):
    model_dir = request.getfixturevalue(bundle)
    if bundle == "ticker_bundle" and horizon:
        horizon = 3  # a model with features cannot roll past its horizon
    notes = []
    light = predict(str(model_dir), steps=horizon, engine=Engine.litert, log=notes.append).frame
    heavy = predict(str(model_dir), steps=horizon, engine=Engine.keras).frame
    assert light["timestamp"].equals(heavy["timestamp"])
    np.testing.assert_allclose(light["forecast"], heavy["forecast"], rtol=1e-5)
    assert any(note.endswith("(litert)") for note in notes)


def test_predict_runs_without_tensorflow_keras_or_scikit_learn(monthly_bundle):
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from forecast.cli.commands import app\n"
        f"result = CliRunner().invoke(app, ['predict', '--model-dir', {str(monthly_bundle)!r}, '--quiet'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'sklearn', 'jax', 'torch'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_damaged_artifact_is_refused_and_falls_back_to_keras_only_when_the_manifest_agrees(existing):
    expected = predict(str(existing), engine=Engine.keras).frame
    (existing / "current" / LITERT_FILE).write_bytes(b"not a flatbuffer")
    result = invoke("predict", "--model-dir", existing)
    assert result.exit_code == 2 and "model.tflite has changed since it was written" in error_line(result.stderr)
    reseal(existing / "current")  # an artifact written wrong, not damaged since: auto falls back
    notes = []
    frame = predict(str(existing), log=notes.append).frame
    assert frame.equals(expected)
    assert any(note.startswith("warning: ") and "model.tflite does not load" in note for note in notes)
    result = invoke("predict", "--model-dir", existing, "--engine", "litert")
    assert result.exit_code == 2 and "model.tflite does not load" in error_line(result.stderr)
    assert result.stdout == ""


def test_litert_asked_of_a_bundle_without_the_artifact_is_refused(existing):
    (existing / "current" / LITERT_FILE).unlink()
    reseal(existing / "current")  # as training writes a bundle whose export failed
    result = invoke("predict", "--model-dir", existing, "--engine", "litert")
    assert result.exit_code == 2 and result.stdout == ""
    assert error_line(result.stderr).strip() == (
        f"error: --engine litert needs the LiteRT artifact, but bundle {str((existing / 'current').resolve())!r} has no "
        "model.tflite (trained on another backend or by an older forecast, or its export failed). Use --engine keras "
        "(or auto), or retrain."
    )
    assert invoke("predict", "--model-dir", existing).exit_code == 0  # auto: Keras
    result = invoke("predict", "--model-dir", existing, "--engine", "onnx")  # a TensorFlow-trained bundle has none
    assert result.exit_code == 2 and "--engine onnx needs the ONNX artifact, but" in error_line(result.stderr)


def test_training_writes_the_artifact_and_quietly(tmp_path):
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "3",
                    "--model-dir", tmp_path / "m", *TINY)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "m" / "current" / LITERT_FILE).is_file()
    assert "Saved artifact" not in result.stdout + result.stderr


def test_a_network_that_reads_cycle_positions_keeps_them_with_the_bundle(cycles_bundle):
    from forecast.store.versions import Store

    bundle = Store(cycles_bundle).open()
    assert bundle.metadata.cycles == ("day_of_week", "day_of_year")
    # The lookback: the target, then a sine and cosine per cycle; the 7 steps forecast: the sines and cosines.
    assert bundle.load_model().input_shape == [(None, 14, 5), (None, 7, 4)]
    # Fed back past the trained 7 steps, each block reads the cycle positions of the days it forecasts.
    week, fortnight = (predict(str(cycles_bundle), steps=steps).frame for steps in (7, 14))
    np.testing.assert_allclose(fortnight["forecast"][:7], week["forecast"], rtol=1e-6)


def test_an_onnx_file_that_does_not_load_is_named(tmp_path):
    from forecast.model.runners import LoadError, onnx_runner

    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a protobuf")
    with pytest.raises(LoadError, match="does not load"):
        onnx_runner(path, (24, 3), 12)
