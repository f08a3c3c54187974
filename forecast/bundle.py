"""Write and read a model bundle: one directory of plain files, with no pickle in it.

A bundle is one version in the model store (see forecast.store). Layout::

    versions/20261123T021500Z-3f9a/
      model.keras     the Keras model (weights and architecture; loads with safe_mode)
      model.tflite    the same network for the LiteRT interpreter, which predict runs without TensorFlow
      scaler.json     the fitted MinMax scaler as numbers
      metadata.json   format version, versions, data source, columns, frequency, per series the
                      last `lookback` rows of input, the training config, seed and metrics
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable


from forecast.errors import BundleError
from forecast.inference import export_litert
from forecast.scaling import Scaler, scalers_from_dict

FORMAT_VERSION = 2  # 2: per-series scalers and histories
RECENT_ROWS = 120  # target history kept in metadata.json for plots beside the forecast
MODEL_FILE = "model.keras"
SCALER_FILE = "scaler.json"
METADATA_FILE = "metadata.json"
_REQUIRED = ("format_version", "target", "features", "frequency", "time_col", "series", "config")


@dataclasses.dataclass
class Bundle:
    """A bundle read from disk; the Keras model itself is loaded on demand by `load_model`."""

    path: Path
    metadata: dict[str, Any]
    scalers: dict[str, Scaler]  # one per series id ("" for a single series)

    @property
    def lookback(self) -> int:
        return int(self.metadata["config"]["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.metadata["config"]["horizon"])

    @property
    def columns(self) -> list[str]:
        return [self.metadata["target"], *self.metadata["features"]]

    @property
    def ids(self) -> list[str]:
        return list(self.metadata["series"])


def save_bundle(
    directory: str | os.PathLike, model, scaler_state: dict, metadata: dict, log: Callable[[str], None] = lambda message: None
) -> Path:
    """Write a bundle's files into `directory` (staged by the model store) and flush every file
    in it to disk, so that the rename that publishes the directory publishes complete files.

    Besides the three files, the network's LiteRT artifact goes in when it converts (see
    forecast.inference); `log` hears why when it does not.

    Returns:
        The bundle's absolute path.
    """
    path = Path(directory).absolute()
    model.save(path / MODEL_FILE)
    export_litert(model, path, log)
    _write_json(path / SCALER_FILE, scaler_state)
    _write_json(path / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata})
    for child in path.iterdir():
        with open(child, "rb") as handle:
            os.fsync(handle.fileno())
    return path


def open_bundle(model_dir: str | os.PathLike, version: str | None = None) -> Bundle:
    """Read the current version of the model directory, or `version`.

    Raises:
        BundleError: nothing trained there, no such version, or a damaged bundle.
    """
    from forecast.store import Store

    return read_bundle(Store(model_dir).resolve(version))


def read_bundle(model_dir: str | os.PathLike) -> Bundle:
    """Read and check a bundle's metadata and scaler (the Keras model is not loaded yet).

    Raises:
        BundleError: missing directory or files, invalid JSON, unknown format version.
    """
    path = Path(model_dir).absolute()
    if not path.is_dir():
        raise BundleError(
            f"no model bundle at {str(path)!r}. Train one with `forecast train`, or point --model-dir "
            "(or FORECAST_MODEL_DIR) at an existing bundle."
        )
    metadata = _read_json(path / METADATA_FILE)
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"bundle {str(path)!r} has format version {version!r}; this forecast reads version "
            f"{FORMAT_VERSION}. Retrain the model with this version, or use the forecast that wrote it."
        )
    missing = [key for key in _REQUIRED if key not in metadata]
    if missing:
        raise BundleError(
            f"bundle {str(path)!r} is damaged: metadata.json lacks {', '.join(missing)}. Retrain the model."
        )
    scalers = scalers_from_dict(_read_json(path / SCALER_FILE))
    if not isinstance(metadata["series"], dict) or set(scalers) != set(metadata["series"]):
        raise BundleError(
            f"bundle {str(path)!r} is damaged: its scalers and metadata name different series. Retrain the model."
        )
    if not (path / MODEL_FILE).is_file():
        raise BundleError(f"bundle {str(path)!r} is damaged: {MODEL_FILE} is missing. Retrain the model.")
    return Bundle(path, metadata, scalers)


def load_model(bundle: Bundle):
    """Load the bundle's Keras model with safe_mode on and check it matches the metadata.

    Raises:
        BundleError: the model file cannot be loaded or has the wrong shape.
    """
    from forecast.backend import import_keras

    keras = import_keras()
    import forecast.model  # noqa: F401  registers the custom layers that safe_mode may load
    try:
        model = keras.saving.load_model(bundle.path / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors... for a bad file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(
            f"bundle {str(bundle.path)!r} is damaged: {MODEL_FILE} does not load ({detail[:200]}). Retrain the model."
        ) from None
    expected_in = (None, bundle.lookback, len(bundle.columns))
    expected_out = (None, bundle.horizon)
    if tuple(model.input_shape) != expected_in or tuple(model.output_shape) != expected_out:
        raise BundleError(
            f"bundle {str(bundle.path)!r} is damaged: the model maps {model.input_shape} to {model.output_shape} "
            f"but its metadata says {expected_in} to {expected_out}. Retrain the model."
        )
    return model


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise BundleError(f"bundle {str(path.parent)!r} is damaged: {path.name} is missing. Retrain the model.")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"bundle {str(path.parent)!r} is damaged: {path.name} is not valid JSON ({exc}). Retrain the model."
        ) from None
    if not isinstance(data, dict):
        raise BundleError(f"bundle {str(path.parent)!r} is damaged: {path.name} is not a JSON object. Retrain the model.")
    return data
