import errno
import json
import os
import zipfile

import keras
import numpy as np
import pytest

from conftest import SAMPLE, TINY, error_line, invoke, reseal, snapshot, tiny_fitted
from forecast.config import DataConfig
from forecast.errors import BundleError
from forecast.store.bundle import read_bundle, write_bundle
from forecast.store.metadata import FORMAT_VERSION, Promotion
from forecast.store.versions import Store


@pytest.fixture
def saved(tmp_path):
    fitted = tiny_fitted()
    (tmp_path / "model").mkdir()
    path = write_bundle(tmp_path / "model", fitted, DataConfig(path="/data/y.csv"), Promotion("if-better", True, "first", None))
    return path, fitted.model


def test_round_trip_gives_the_same_forecast(saved):
    path, model = saved
    window = np.linspace(0, 1, 4 * 5, dtype="float32").reshape(1, 4, 5)  # the target, then day of week and of year
    known = np.linspace(1, 0, 2 * 4, dtype="float32").reshape(1, 2, 4)  # day of week and of year at the 2 steps
    loaded = read_bundle(path).load_model()
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model((window, known))), keras.ops.convert_to_numpy(loaded((window, known)))
    )


def test_bundle_holds_no_pickle_and_loads_in_safe_mode(saved):
    path, _ = saved
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "metadata.json", "model.keras", "model.tflite", "scaler.json"]
    assert not (path / "config.toml").exists()  # no options given: none written
    assert (path / "model.tflite").read_bytes()[4:8] == b"TFL3"  # a LiteRT flatbuffer: data, not code
    with zipfile.ZipFile(path / "model.keras") as archive:
        names = set(archive.namelist())
    assert names <= {"config.json", "metadata.json", "model.weights.h5"}
    for name in ("metadata.json", "scaler.json", "manifest.json"):
        json.loads((path / name).read_text())  # plain JSON, nothing executable
    keras.saving.load_model(path / "model.keras", safe_mode=True)
    assert json.loads((path / "metadata.json").read_text())["format_version"] == FORMAT_VERSION


def test_a_bundle_written_before_versions_still_opens(saved):
    path, _ = saved  # a bundle at the top of the model directory: the earlier layout
    bundle = Store(path).open()
    assert bundle.path == path and bundle.metadata.trained_horizon == 2


def damage_metadata(path, change):
    meta = json.loads((path / "metadata.json").read_text())
    change(meta)
    (path / "metadata.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda p: (p / "metadata.json").write_text("{truncated"), "metadata.json is not valid JSON"),
        (lambda p: (p / "metadata.json").write_text("[1, 2]"), "metadata.json is not a JSON object"),
        (lambda p: damage_metadata(p, lambda m: m.update(format_version=99)), "has format version 99; this forecast reads versions 2, 3, 4"),
        (lambda p: damage_metadata(p, lambda m: m.pop("config")), "metadata.json lacks config"),
        (lambda p: (p / "scaler.json").write_text("{}"), "the saved scaler is damaged"),
        (lambda p: damage_metadata(p, lambda m: m["series"].update(other=m["series"][""])), "scalers and metadata name different series"),
        (lambda p: damage_metadata(p, lambda m: m.update(frequency="fortnightly")), "unknown frequency 'fortnightly'"),
        (lambda p: damage_metadata(p, lambda m: m["series"][""].update(frequency="XQ")), "no valid frequency for the series"),
        (lambda p: damage_metadata(p, lambda m: m["series"][""].pop("history")), "damaged stored history"),
        (lambda p: damage_metadata(p, lambda m: m["series"][""]["history"].update(values=[], timestamps=[])), "damaged stored history"),
        (lambda p: damage_metadata(p, lambda m: m["series"][""]["recent_target"].update(values=[])), "damaged recent history"),
        (lambda p: damage_metadata(p, lambda m: m["config"].update(lookback="4")), "no whole lookback and horizon"),
        (lambda p: damage_metadata(p, lambda m: m["config"].update(horizon=True)), "no whole lookback and horizon"),
        (lambda p: damage_metadata(p, lambda m: m["series"][""]["history"]["values"][0].__setitem__(0, float("nan"))), "NaN is not a number JSON allows"),
        (lambda p: damage_metadata(p, lambda m: m["series"][""]["history"].update(timestamps=["soon"] * 4)), "damaged stored history"),
        (lambda p: damage_metadata(p, lambda m: m.update(features="Volume")), "features entry that is not a list"),
        (lambda p: damage_metadata(p, lambda m: m.update(metrics={"val_mae": "low"})), "metrics that are not finite numbers"),
        (lambda p: damage_metadata(p, lambda m: m.update(intervals={"half_widths": {"80": [1.0, -1.0]}, "windows": 5, "method": "x"})), "damaged interval calibration"),
        (lambda p: damage_metadata(p, lambda m: m["intervals"].update(residuals=[5])), "damaged interval calibration"),
        (lambda p: damage_metadata(p, lambda m: m.update(calendar={"name": "XNYS", "closed": ["soon"], "until": "2030-01-01"})), "damaged exchange calendar"),
        (lambda p: damage_metadata(p, lambda m: m.update(calendar={"name": "XNYS", "closed": []})), "damaged exchange calendar"),
        (lambda p: damage_metadata(p, lambda m: m.update(holidays={"code": "US", "dates": ["2024-13-01"], "until": "2030-12-31"})), "damaged holidays"),
        (lambda p: damage_metadata(p, lambda m: m.update(holidays={"code": "US", "dates": []})), "damaged holidays"),
        (lambda p: damage_metadata(p, lambda m: m.update(future_features=["price"])), "future_features entry that is not a list of its features"),
        (lambda p: damage_metadata(p, lambda m: m["intervals"]["residuals"].__setitem__(0, 0)), "damaged interval calibration"),
        (lambda p: damage_metadata(p, lambda m: m["intervals"]["half_widths"]["80"].pop()), "damaged interval calibration"),
    ],
)
def test_wrong_contents_behind_a_valid_manifest_are_refused_before_loading_keras(saved, damage, message):
    path, _ = saved
    damage(path)
    reseal(path)
    with pytest.raises(BundleError, match=f"is damaged: .*{message}|{message}"):
        read_bundle(path)


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda p: (p / "metadata.json").unlink(), "metadata.json is missing"),
        (lambda p: (p / "model.keras").unlink(), "model.keras is missing"),
        (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda p: damage_metadata(p, lambda m: m["config"].update(horizon=5)), "metadata.json has changed since it was written"),
        (lambda p: (p / "config.toml").write_text("horizon = 2\n"), "config.toml is not in manifest.json"),
    ],
)
def test_files_that_disagree_with_the_manifest_are_refused(saved, damage, message):
    path, _ = saved
    damage(path)
    with pytest.raises(BundleError, match=f"is damaged: {message}"):
        read_bundle(path)


def test_a_format_2_bundle_without_a_manifest_still_opens(saved):
    path, _ = saved
    (path / "manifest.json").unlink()
    damage_metadata(path, lambda m: m.update(format_version=2))
    assert read_bundle(path).metadata.trained_horizon == 2


def test_truncated_model_file_is_refused(saved):
    path, _ = saved
    data = (path / "model.keras").read_bytes()
    (path / "model.keras").write_bytes(data[: len(data) // 2])
    reseal(path)
    with pytest.raises(BundleError, match="model.keras does not load"):
        read_bundle(path).load_model()


def test_model_that_disagrees_with_its_metadata_is_refused(saved):
    path, _ = saved
    damage_metadata(path, lambda m: (m["config"].update(horizon=5), m.update(intervals=None)))
    reseal(path)
    with pytest.raises(BundleError, match="the model maps"):
        read_bundle(path).load_model()


def test_missing_bundle_says_how_to_make_one(tmp_path):
    with pytest.raises(BundleError, match="no model bundle at .* Train one with `forecast train`"):
        read_bundle(tmp_path / "nowhere")


# Tampering with a trained bundle, through `predict` and `info`: every file, every way. -----------

BUNDLE_FILES = ["model.keras", "model.tflite", "scaler.json", "metadata.json", "config.toml", "manifest.json"]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip(path, offset_share):
    data = bytearray(path.read_bytes())
    data[int(len(data) * offset_share)] ^= 0x55
    path.write_bytes(bytes(data))


def _valid_json_wrong_contents(path):
    if path.suffix != ".json":
        path.write_text('{"valid": "json"}\n')
        return
    data = json.loads(path.read_text())
    data["files" if path.name == "manifest.json" else "series" if path.name == "metadata.json" else "kind"] = {}
    path.write_text(json.dumps(data))


def _symlink_to_copy(path):
    copy = path.parent.parent / f"copy-of-{path.name}"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)


def _directory(path):
    path.unlink()
    path.mkdir()


TAMPERINGS = {
    "truncate": _truncate,
    "flip a byte early": lambda p: _flip(p, 0.1),
    "flip a byte late": lambda p: _flip(p, 0.9),
    "valid json, wrong contents": _valid_json_wrong_contents,
    "delete": lambda p: p.unlink(),
    "symlink to an identical copy": _symlink_to_copy,
    "directory": _directory,
}


@pytest.mark.parametrize("tampering", TAMPERINGS)
@pytest.mark.parametrize("name", BUNDLE_FILES)
def test_every_tampering_of_every_bundle_file_is_refused_as_damaged(name, tampering, existing):
    version = existing / "current"
    assert (version / name).is_file()
    TAMPERINGS[tampering](version / name)
    for command in (["predict", "--quiet"], ["info"], ["predict", "--engine", "keras", "--quiet"]):
        result = invoke(*command, "--model-dir", existing)
        assert result.exit_code == 2 and result.stdout == "", (command, result.stdout, result.stderr)
        assert "is damaged" in result.stderr and "Traceback" not in result.stderr, result.stderr
    listed = invoke("models", "list", "--model-dir", existing)
    assert listed.exit_code == 0 and "damaged" in listed.stdout


def test_train_that_cannot_write_metadata_json_is_one_error_and_leaves_nothing(existing, monkeypatch):
    before = snapshot(existing)
    sync = os.fsync

    def full_disk(fd):  # the disk fills as metadata.json is flushed to it
        if os.readlink(f"/proc/self/fd/{fd}").endswith("/metadata.json"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return sync(fd)

    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to tell which file a descriptor is")
    monkeypatch.setattr(os, "fsync", full_disk)
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12", "--promote", "always",
                    "--model-dir", existing, *TINY)
    assert result.exit_code == 2, result.stderr
    line = error_line(result.stderr)
    assert line.startswith(f"error: cannot write metadata.json into '{existing / 'versions'}/.partial-"), line
    assert line.endswith("' (no space left on device). Free space there (df -h; df -i for inodes) and retry, "
                         "or use another --model-dir.\n"), line
    assert snapshot(existing) == before  # current unchanged, the staged version removed
