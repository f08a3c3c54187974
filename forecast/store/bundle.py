"""Write and read a model bundle: one directory of plain files, with no pickle in it.

A bundle is one version in the model store (see forecast.store.versions). Layout::

    versions/20261123T021500Z-3f9a/
      model.keras     the Keras model (weights and architecture; loads with safe_mode)
      model.tflite    the same network for the LiteRT interpreter, which predict runs without TensorFlow
      scaler.json     the fitted MinMax scaler as numbers
      metadata.json   format version, versions, data source, columns, frequency, per series the
                      last `lookback` rows of input, the training config, seed and metrics
      config.toml     the resolved train options (see forecast.settings)
      manifest.json   the SHA-256 digest of every file above, written last

Reading a bundle checks every file against the manifest (each must be a regular file, not a
link) and the metadata against its schema, so a damaged or altered bundle is refused as
damaged instead of forecasting something else. Bundles of format 2 (before the manifest) are
read with the schema check alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any, Callable


from forecast.errors import BundleError
from forecast.model.runners import LITERT_FILE, export_litert
from forecast.data.scaling import Scaler, scalers_from_dict
from forecast.settings import CONFIG_FILE

FORMAT_VERSION = 3  # 3: manifest.json of digests; 2: per-series scalers and histories
READABLE = (2, 3)
RECENT_ROWS = 120  # target history kept in metadata.json for plots beside the forecast
MODEL_FILE = "model.keras"
SCALER_FILE = "scaler.json"
METADATA_FILE = "metadata.json"
MANIFEST_FILE = "manifest.json"
FILES = (MODEL_FILE, LITERT_FILE, SCALER_FILE, METADATA_FILE, CONFIG_FILE)  # what a manifest may list
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
    forecast.model.runners); `log` hears why when it does not.

    Returns:
        The bundle's absolute path.
    """
    path = Path(directory).absolute()
    model.save(path / MODEL_FILE)
    export_litert(model, path, log)
    _write_json(path / SCALER_FILE, scaler_state)
    _write_json(path / METADATA_FILE, {"format_version": FORMAT_VERSION, **metadata})
    written = sorted(name for name in FILES if (path / name).is_file())
    _write_json(path / MANIFEST_FILE, {"files": {name: _digest(path / name) for name in written}})
    for child in path.iterdir():
        with open(child, "rb") as handle:
            os.fsync(handle.fileno())
    return path


def open_bundle(model_dir: str | os.PathLike, version: str | None = None) -> Bundle:
    """Read the current version of the model directory, or `version`.

    Raises:
        BundleError: nothing trained there, no such version, or a damaged bundle.
    """
    from forecast.store.versions import Store

    return read_bundle(Store(model_dir).resolve(version))


def read_bundle(model_dir: str | os.PathLike) -> Bundle:
    """Read and check a bundle: its files against the manifest, its metadata against the schema,
    its scalers (the Keras model is not loaded yet).

    Raises:
        BundleError: missing directory or files, a file that changed, invalid or inconsistent
            metadata, an unknown format version.
    """
    path = Path(model_dir).absolute()
    if not path.is_dir():
        raise BundleError(
            f"no model bundle at {str(path)!r}. Train one with `forecast train`, or point --model-dir "
            "(or FORECAST_MODEL_DIR) at an existing bundle."
        )
    listed = _verify_manifest(path) if os.path.lexists(path / MANIFEST_FILE) else None
    metadata = _read_json(path / METADATA_FILE)
    version = metadata.get("format_version")
    if version not in READABLE:
        raise BundleError(
            f"bundle {str(path)!r} has format version {version!r}; this forecast reads versions "
            f"{', '.join(map(str, READABLE))}. Retrain the model with this version, or use the forecast that wrote it."
        )
    if listed is None and version >= 3:
        raise _damaged(path, f"{MANIFEST_FILE} is missing")
    missing = [key for key in _REQUIRED if key not in metadata]
    if missing:
        raise _damaged(path, f"{METADATA_FILE} lacks {', '.join(missing)}")
    problem = _schema_problem(metadata)
    if problem:
        raise _damaged(path, f"{METADATA_FILE} {problem}")
    scalers = scalers_from_dict(_read_json(path / SCALER_FILE))
    if set(scalers) != set(metadata["series"]):
        raise _damaged(path, "its scalers and metadata name different series")
    if any(len(scaler.data_min_) != 1 + len(metadata["features"]) for scaler in scalers.values()):
        raise _damaged(path, "its scalers and metadata name different columns")
    if not _regular(path / MODEL_FILE):
        raise _damaged(path, f"{MODEL_FILE} is missing")
    return Bundle(path, metadata, scalers)


def _damaged(path: Path, what: str) -> BundleError:
    if not path.is_dir():  # `forecast models prune` removed it while it was being read
        return BundleError(f"bundle {str(path)!r} was removed while it was read (pruned?). Run the command again.")
    return BundleError(f"bundle {str(path)!r} is damaged: {what}. Retrain the model, or pick another with `forecast models use`.")


def _regular(path: Path) -> bool:
    """A regular file, not a link to one: a bundle's files are written by forecast, never linked."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _digest(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _verify_manifest(path: Path) -> set[str]:
    """Check every file the manifest lists against its digest, and that no bundle file is unlisted.

    Returns:
        The names listed.
    """
    manifest = _read_json(path / MANIFEST_FILE)
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        name in FILES and isinstance(digest, str) and len(digest) == 64 for name, digest in files.items()
    ) or not {MODEL_FILE, SCALER_FILE, METADATA_FILE} <= set(files):
        raise _damaged(path, f"{MANIFEST_FILE} does not list the bundle's files")
    for name, digest in files.items():
        if not _regular(path / name):
            raise _damaged(path, f"{name} is missing or not a regular file")
        if _digest(path / name) != digest:
            raise _damaged(path, f"{name} has changed since it was written (its SHA-256 differs from {MANIFEST_FILE})")
    extra = [name for name in FILES if name not in files and os.path.lexists(path / name)]
    if extra:
        raise _damaged(path, f"{extra[0]} is not in {MANIFEST_FILE}")
    return set(files)


def _schema_problem(meta: dict) -> str | None:
    """What is wrong with a metadata dict's contents (types, shapes, finite numbers), or None."""
    import numpy as np
    import pandas as pd

    def frequency_ok(value) -> bool:
        try:
            pd.tseries.frequencies.to_offset(value)
            return isinstance(value, str)
        except (ValueError, TypeError):
            return False

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    def finite(values, shape) -> bool:
        try:
            array = np.asarray(values, dtype="float64")
        except (TypeError, ValueError):
            return False
        return array.shape == shape and bool(np.isfinite(array).all())

    def dates_ok(values, length) -> bool:
        if not isinstance(values, list) or len(values) != length or not all(isinstance(v, str) for v in values):
            return False
        try:
            pd.DatetimeIndex(values)
        except (ValueError, TypeError, OverflowError):
            return False
        return True

    config, features = meta["config"], meta["features"]
    if not isinstance(meta["target"], str) or not meta["target"]:
        return "has no target name"
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        return "has a features entry that is not a list of names"
    if not isinstance(meta["time_col"], str) or meta.get("id_col") is not None and not isinstance(meta["id_col"], str):
        return "has a time or id column that is not a name"
    if not frequency_ok(meta["frequency"]):
        return f"has an unknown frequency {str(meta['frequency'])[:20]!r}"
    if not isinstance(config, dict) or not whole(config.get("lookback")) or not whole(config.get("horizon")):
        return "has no whole lookback and horizon in its config"
    lookback, horizon, columns = config["lookback"], config["horizon"], 1 + len(features)
    series = meta["series"]
    if not isinstance(series, dict) or not series:
        return "lists no series"
    for key, entry in series.items():
        name = f"series {key!r}" if key else "the series"
        if not isinstance(entry, dict) or not frequency_ok(entry.get("frequency")):
            return f"has no valid frequency for {name}"
        history, recent = entry.get("history"), entry.get("recent_target")
        if not isinstance(history, dict) or not finite(history.get("values"), (lookback, columns)) \
                or not dates_ok(history.get("timestamps"), lookback):
            return f"has a damaged stored history for {name} (expected {lookback} dated rows of {columns} finite numbers)"
        values = recent.get("values") if isinstance(recent, dict) else None
        if not isinstance(values, list) or not values or not finite(values, (len(values),)) \
                or not dates_ok(recent.get("timestamps"), len(values)):
            return f"has a damaged recent history for {name}"
        if not all(isinstance(entry.get(k), str) for k in ("first_timestamp", "last_timestamp")):
            return f"has no first and last timestamps for {name}"
    intervals = meta.get("intervals")
    if intervals is not None:
        widths = intervals.get("half_widths") if isinstance(intervals, dict) else None
        if not isinstance(widths, dict) or not whole(intervals.get("windows")) or not all(
            w is None or (finite(w, (horizon,)) and min(w) >= 0) for w in widths.values()
        ) or not isinstance(intervals.get("method"), str):
            return "has damaged interval calibration"
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict) or not all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) for v in metrics.values()
    ):
        return "has metrics that are not finite numbers"
    return None


def load_model(bundle: Bundle):
    """Load the bundle's Keras model with safe_mode on and check it matches the metadata.

    Raises:
        BundleError: the model file cannot be loaded or has the wrong shape.
    """
    from forecast.model.backend import import_keras

    keras = import_keras()
    import forecast.model.network  # noqa: F401  registers the custom layers that safe_mode may load
    try:
        model = keras.saving.load_model(bundle.path / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors... for a bad file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _damaged(bundle.path, f"{MODEL_FILE} does not load ({detail[:200]})") from None
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
    if not _regular(path):
        raise _damaged(path.parent, f"{path.name} is missing or not a regular file")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise _damaged(path.parent, f"{path.name} is not valid JSON ({str(exc)[:120]})") from None
    except OSError as exc:
        raise _damaged(path.parent, f"{path.name} cannot be read ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise _damaged(path.parent, f"{path.name} is not a JSON object")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")
