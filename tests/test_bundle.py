import json
import zipfile

import keras
import numpy as np
import pytest

from forecast.bundle import FORMAT_VERSION, load_model, open_bundle, read_bundle, save_bundle
from forecast.config import TrainConfig, config_to_dict
from forecast.errors import BundleError
from forecast.model import build_model
from forecast.scaling import fit_scaler, scalers_to_dict

CONFIG = TrainConfig(lookback=4, horizon=2, layers=2, units=3)


def make_parts(seed=0):
    keras.utils.set_random_seed(seed)
    model = build_model(CONFIG, n_features=1)
    scaler = fit_scaler(np.array([[0.0], [10.0]]), ["y"])
    stamps = ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"]
    metadata = {
        "target": "y", "features": [], "frequency": "D", "time_col": "date", "id_col": None,
        "series": {"": {"frequency": "D", "last_timestamp": stamps[-1],
                        "history": {"timestamps": stamps, "values": [[1.0], [2.0], [3.0], [4.0]]},
                        "recent_target": {"timestamps": stamps, "values": [1.0, 2.0, 3.0, 4.0]}}},
        "config": config_to_dict(CONFIG),
    }
    return model, scalers_to_dict({"": scaler}, ["y"]), metadata


@pytest.fixture
def saved(tmp_path):
    model, scaler_state, metadata = make_parts()
    (tmp_path / "model").mkdir()
    path = save_bundle(tmp_path / "model", model, scaler_state, metadata)
    return path, model


def test_round_trip_gives_the_same_forecast(saved):
    path, model = saved
    window = np.linspace(0, 1, 4, dtype="float32").reshape(1, 4, 1)
    loaded = load_model(read_bundle(path))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(window)), keras.ops.convert_to_numpy(loaded(window))
    )


def test_bundle_holds_no_pickle_and_loads_in_safe_mode(saved):
    path, _ = saved
    assert sorted(p.name for p in path.iterdir()) == ["metadata.json", "model.keras", "model.tflite", "scaler.json"]
    assert (path / "model.tflite").read_bytes()[4:8] == b"TFL3"  # a LiteRT flatbuffer: data, not code
    with zipfile.ZipFile(path / "model.keras") as archive:
        names = set(archive.namelist())
    assert names <= {"config.json", "metadata.json", "model.weights.h5"}
    for name in ("metadata.json", "scaler.json"):
        json.loads((path / name).read_text())  # plain JSON, nothing executable
    keras.saving.load_model(path / "model.keras", safe_mode=True)
    assert json.loads((path / "metadata.json").read_text())["format_version"] == FORMAT_VERSION


def test_a_bundle_written_before_versions_still_opens(saved):
    path, _ = saved  # a bundle at the top of the model directory: the earlier layout
    bundle = open_bundle(path)
    assert bundle.path == path and bundle.horizon == 2


def damage_metadata(path, change):
    meta = json.loads((path / "metadata.json").read_text())
    change(meta)
    (path / "metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda p: (p / "metadata.json").unlink(), "metadata.json is missing"),
        (lambda p: (p / "metadata.json").write_text("{truncated"), "metadata.json is not valid JSON"),
        (lambda p: (p / "metadata.json").write_text("[1, 2]"), "metadata.json is not a JSON object"),
        (lambda p: damage_metadata(p, lambda m: m.update(format_version=99)), "has format version 99; this forecast reads version 2"),
        (lambda p: damage_metadata(p, lambda m: m.pop("config")), "metadata.json lacks config"),
        (lambda p: (p / "scaler.json").write_text("{}"), "the saved scaler is damaged"),
        (lambda p: damage_metadata(p, lambda m: m["series"].update(other=m["series"][""])), "scalers and metadata name different series"),
        (lambda p: (p / "model.keras").unlink(), "model.keras is missing"),
    ],
)
def test_damaged_metadata_is_refused_before_loading_keras(saved, damage, message):
    path, _ = saved
    damage(path)
    with pytest.raises(BundleError, match=message):
        read_bundle(path)


def test_truncated_model_file_is_refused(saved):
    path, _ = saved
    data = (path / "model.keras").read_bytes()
    (path / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="model.keras does not load"):
        load_model(read_bundle(path))


def test_model_that_disagrees_with_its_metadata_is_refused(saved):
    path, _ = saved
    damage_metadata(path, lambda m: m["config"].update(horizon=5))
    with pytest.raises(BundleError, match="the model maps"):
        load_model(read_bundle(path))


def test_missing_bundle_says_how_to_make_one(tmp_path):
    with pytest.raises(BundleError, match="no model bundle at .* Train one with `forecast train`"):
        open_bundle(tmp_path / "nowhere")
