"""A model bundle, one version of the model store: every file of it written here and read back here.

Layout::

    versions/20261123T021500Z-3f9a/
      model.keras     the Keras model (weights and architecture; loads with safe_mode)
      model.tflite    the same network for the LiteRT interpreter (trained on TensorFlow), or
      model.onnx      for ONNX Runtime (trained on JAX or PyTorch): predict runs either without Keras
      scaler.json     the fitted MinMax scalers as numbers, one per series
      metadata.json   format version, versions, data source, columns, frequency, per series the
                      last `lookback` rows of input, the training config, metrics, interval
                      calibration and the promotion decision (`Metadata`)
      config.toml     the resolved train options (see forecast.settings)
      manifest.json   the SHA-256 digest of every file above, written last

No other module names these files (the inference artifacts' export lives in
forecast.store.artifacts) or reads metadata by key: the rest of forecast sees a `Bundle`
with a typed `Metadata`, and asks it for a `Forecaster`. Reading a bundle checks every file
against the manifest (each must be a regular file, not a link) and the metadata against its
schema, so a damaged or altered bundle is refused as damaged instead of forecasting something
else. Bundles of format 2 (before the manifest) are read with the schema check alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Callable

from forecast.config import DataConfig, Engine
from forecast.data.scaling import Scaler, scalers_from_dict, scalers_to_dict
from forecast.errors import BundleError, ConfigError, writing
from forecast.model.fit import Fitted
from forecast.model.forecaster import Forecaster
from forecast.model.runners import LoadError, keras_runner
from forecast.settings import to_toml
from forecast.store.artifacts import ARTIFACTS, LITERT_FILE, ONNX_FILE, export_artifact
from forecast.store.metadata import REQUIRED, Metadata, Promotion, schema_problem

MODEL_FILE = "model.keras"
SCALER_FILE = "scaler.json"
METADATA_FILE = "metadata.json"
CONFIG_FILE = "config.toml"
MANIFEST_FILE = "manifest.json"
FILES = (MODEL_FILE, LITERT_FILE, ONNX_FILE, SCALER_FILE, METADATA_FILE, CONFIG_FILE)  # what a manifest may list
READABLE = (2, 3, 4, 5)  # format versions this forecast reads (see forecast.store.metadata)

Log = Callable[[str], None]


@dataclasses.dataclass
class Bundle:
    """A bundle read from disk and checked; the network itself is loaded on demand."""

    path: Path
    metadata: Metadata
    scalers: dict[str, Scaler]  # one per series id ("" for a single series)
    _model: object = dataclasses.field(default=None, init=False, repr=False, compare=False)  # load_model's

    @property
    def artifact(self) -> str | None:
        """The inference artifact's file name, or None when predict must use Keras."""
        return next((a.file for a in ARTIFACTS.values() if _regular(self.path / a.file)), None)

    def load_model(self):
        """The Keras model, loaded with safe_mode on and checked against the metadata; loaded
        once per Bundle (a warm start reads its weights, promotion then forecasts with it).

        Raises:
            BundleError: the model file cannot be loaded or has the wrong shape.
        """
        if self._model is None:
            self._model = self._load_model()
        return self._model

    def _load_model(self):
        from forecast.model.backend import import_keras

        keras = import_keras()
        import forecast.model.network  # noqa: F401  registers the custom layers that safe_mode may load

        try:
            model = keras.saving.load_model(self.path / MODEL_FILE, compile=False, safe_mode=True)
        except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors... for a bad file
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _damaged(self.path, f"{MODEL_FILE} does not load ({detail[:200]})") from None
        meta = self.metadata
        expected_in, expected_out = (None, meta.lookback, meta.n_inputs), (None, meta.trained_horizon)
        if meta.n_known:
            expected_in = [expected_in, (None, meta.trained_horizon, meta.n_known)]
        shapes = [tuple(shape) for shape in model.input_shape] if isinstance(model.input_shape, list) else tuple(model.input_shape)
        if shapes != expected_in or tuple(model.output_shape) != expected_out:
            raise BundleError(
                f"bundle {str(self.path)!r} is damaged: the model maps {model.input_shape} to {model.output_shape} "
                f"but its metadata says {expected_in} to {expected_out}. Retrain the model."
            )
        return model

    def forecaster(self, engine: Engine = Engine.auto, log: Log = lambda message: None) -> tuple[Forecaster, str]:
        """The bundle's network as a forecaster, and the name of the engine that runs it.

        `auto` takes the bundle's inference artifact (LiteRT from a TensorFlow-trained model, ONNX
        from one trained on JAX or PyTorch) when its runtime is installed, else Keras; `litert` and `onnx`
        insist on theirs; `keras` loads the Keras model.

        Raises:
            ConfigError: `litert` or `onnx` asked for, but the artifact or its runtime is missing.
            BundleError: the chosen model file is damaged.
        """
        meta = self.metadata
        engine = Engine(engine)
        for kind in {Engine.auto: list(ARTIFACTS), Engine.keras: []}.get(engine, [engine]):
            artifact = ARTIFACTS[kind]
            problem = None if _regular(self.path / artifact.file) else (
                f"bundle {str(self.path)!r} has no {artifact.file} ({artifact.missing})")
            if problem is None and not artifact.installed():
                problem = f"{artifact.package} is not installed"
            if problem is None:
                try:
                    run = artifact.runner(self.path / artifact.file, (meta.lookback, meta.n_inputs), meta.trained_horizon, meta.n_known)
                    return self._forecaster(run), kind.value
                except LoadError as exc:
                    error = BundleError(f"bundle {str(self.path)!r} is damaged: {artifact.file} {exc}.")
                    if engine is kind:
                        raise error from None
                    log(f"warning: {error} Using the Keras model.")
            elif engine is kind:
                raise ConfigError(f"--engine {kind.value} needs the {artifact.title} artifact, but {problem}. "
                                  "Use --engine keras (or auto), or retrain.")
        return self._forecaster(keras_runner(self.load_model())), "keras"

    def _forecaster(self, run) -> Forecaster:
        meta = self.metadata
        return Forecaster(run, self.scalers, meta.lookback, meta.trained_horizon, meta.features, meta.calibration,
                          meta.dates, meta.future_features, meta.known_future)


def write_bundle(
    directory: str | os.PathLike,
    fitted: Fitted,
    data_config: DataConfig,
    promotion: Promotion,
    options: dict | None = None,
    log: Log = lambda message: None,
) -> Path:
    """Write every file of a new version into `directory` (staged by the model store) and flush
    them to disk, so that the rename that publishes the directory publishes complete files.

    Args:
        directory: the staging directory.
        fitted: the trained model, its data and what was measured.
        data_config: where the data came from (predict --data reads new rows the same way).
        promotion: the decision about becoming current.
        options: the resolved train options as given, saved as config.toml; None writes none.
        log: hears why the LiteRT artifact was left out, when it is.

    Returns:
        The bundle's absolute path.
    """
    path = Path(directory).absolute()

    def into(name: str):  # a full disk, a quota...: a one-line error naming the file (forecast.errors.writing)
        return writing(f"write {name} into {str(path)!r}")

    if options is not None:
        with into(CONFIG_FILE):
            (path / CONFIG_FILE).write_text(to_toml(options), encoding="utf-8")
    with into(MODEL_FILE):
        fitted.model.save(path / MODEL_FILE)
    export_artifact(fitted.model, path, log)  # a failed export is a warning; the files below are not optional
    with into(SCALER_FILE):
        _write_json(path / SCALER_FILE, scalers_to_dict(fitted.prepared.scalers, fitted.prepared.panel.first.columns))
    with into(METADATA_FILE):
        _write_json(path / METADATA_FILE, Metadata.of(fitted, data_config, promotion).to_dict())
    written = sorted(name for name in FILES if (path / name).is_file())
    with into(MANIFEST_FILE):
        _write_json(path / MANIFEST_FILE, {"files": {name: _digest(path / name) for name in written}})
    for child in path.iterdir():
        with into(child.name), open(child, "rb") as handle:
            os.fsync(handle.fileno())
    return path


def is_bundle(directory: Path) -> bool:
    """Whether `directory` holds a bundle's files at its top (the model store's legacy layout)."""
    return (Path(directory) / METADATA_FILE).is_file()


def read_bundle(directory: str | os.PathLike) -> Bundle:
    """Read and check a bundle: its files against the manifest, its metadata against the schema,
    its scalers (the network is not loaded yet).

    Raises:
        BundleError: missing directory or files, a file that changed, invalid or inconsistent
            metadata, an unknown format version.
    """
    path = Path(directory).absolute()
    if not path.is_dir():
        raise BundleError(
            f"no model bundle at {str(path)!r}. Train one with `forecast train`, or point --model-dir "
            "(or FORECAST_MODEL_DIR) at an existing bundle."
        )
    listed = _verify_manifest(path) if os.path.lexists(path / MANIFEST_FILE) else None
    raw = _read_json(path / METADATA_FILE)
    version = raw.get("format_version")
    if version not in READABLE:
        raise BundleError(
            f"bundle {str(path)!r} has format version {version!r}; this forecast reads versions "
            f"{', '.join(map(str, READABLE))}. Retrain the model with this version, or use the forecast that wrote it."
        )
    if listed is None and version >= 3:
        raise _damaged(path, f"{MANIFEST_FILE} is missing")
    missing = [key for key in REQUIRED if key not in raw]
    if missing:
        raise _damaged(path, f"{METADATA_FILE} lacks {', '.join(missing)}")
    problem = schema_problem(raw)
    if problem:
        raise _damaged(path, f"{METADATA_FILE} {problem}")
    try:
        metadata = Metadata.from_dict(raw)
    except (ConfigError, ValueError, TypeError, KeyError) as exc:
        raise _damaged(path, f"{METADATA_FILE} holds options this forecast does not accept ({str(exc)[:160]})") from None
    scalers = scalers_from_dict(_read_json(path / SCALER_FILE))
    if set(scalers) != set(metadata.series):
        raise _damaged(path, "its scalers and metadata name different series")
    if any(len(scaler.data_min_) != len(metadata.columns) for scaler in scalers.values()):
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


def _write_json(path: Path, data: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, allow_nan=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _read_json(path: Path) -> dict[str, Any]:
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
