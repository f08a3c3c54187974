"""Run a bundle's network: its LiteRT artifact where it can, its Keras model otherwise.

Training writes `model.tflite` beside `model.keras`: the same network converted by Keras's
LiteRT export for one window of fixed shape (recurrent layers convert to fused LiteRT kernels
only with a static batch). The LiteRT interpreter (`ai-edge-litert`) loads in a fraction of a
second and tens of MB, where Keras brings TensorFlow (about 6 s and 700 MB), so `forecast
predict` answers from a cold process in under a second. The export is checked against Keras on
a probe window before it is kept; a bundle without one (older, or a failed conversion) runs on
Keras.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from forecast.model.backend import silenced
from forecast.config import Engine
from forecast.errors import BundleError, ConfigError

LITERT_FILE = "model.tflite"
AGREEMENT = 1e-4  # largest |LiteRT - Keras| on the probe window, in scaled units, for the export to be kept

Run = Callable[[np.ndarray], np.ndarray]  # scaled windows (series, lookback, columns) -> (series, horizon)
Log = Callable[[str], None]


def export_litert(model, directory: Path, log: Log) -> bool:
    """Write `model`'s LiteRT artifact into the bundle `directory`, if it converts and agrees.

    Returns:
        Whether the artifact was written; a failure is logged as a warning, never raised: the
        bundle stays usable through Keras.
    """
    if not _litert_installed():
        log("no LiteRT artifact: ai-edge-litert is not installed here; predict will use Keras")
        return False
    import keras

    path = Path(directory) / LITERT_FILE
    _, lookback, columns = model.input_shape
    signature = [keras.InputSpec(shape=(1, lookback, columns), dtype="float32")]
    try:
        with silenced(1, 2):
            model.export(str(path), format="litert", input_signature=signature)
        probe = np.random.default_rng(0).random((2, lookback, columns), dtype=np.float32)
        difference = float(np.max(np.abs(_litert(path)(probe) - keras_run(model)(probe))))
    except Exception as exc:  # the converter raises many kinds; the bundle works without the artifact
        path.unlink(missing_ok=True)
        log(f"warning: no LiteRT artifact ({type(exc).__name__}: {str(exc).strip()[:160]}); predict will use Keras")
        return False
    if not difference <= AGREEMENT:
        path.unlink()
        log(f"warning: the LiteRT artifact differs from the Keras model by {difference:.2g}; not kept, predict will use Keras")
        return False
    return True


def runner(bundle, engine: Engine = Engine.auto, log: Log = lambda message: None) -> tuple[Run, str]:
    """A function running the bundle's network on scaled windows, and the engine's name.

    `auto` takes the LiteRT artifact when the bundle has one and ai-edge-litert is installed,
    else Keras; `litert` insists on the artifact; `keras` loads the Keras model.

    Raises:
        ConfigError: `litert` asked for, but the artifact or the runtime is missing.
        BundleError: the chosen model file is damaged.
    """
    path = bundle.path / LITERT_FILE
    if engine is not Engine.keras:
        problem = None if path.is_file() else f"bundle {str(bundle.path)!r} has no {LITERT_FILE} (trained by an older forecast, or its export failed)"
        if problem is None and not _litert_installed():
            problem = "ai-edge-litert is not installed"
        if problem is None:
            try:
                return _litert(path, (bundle.lookback, len(bundle.columns)), bundle.horizon), "litert"
            except BundleError as exc:
                if engine is Engine.litert:
                    raise
                log(f"warning: {exc} Using the Keras model.")
        elif engine is Engine.litert:
            raise ConfigError(f"--engine litert needs the LiteRT artifact, but {problem}. Use --engine keras (or auto), or retrain.")
    from forecast.store.bundle import load_model

    return keras_run(load_model(bundle)), "keras"


def keras_run(model) -> Run:
    """The Run of a Keras model (imports Keras: the slow path)."""
    import keras

    return lambda windows: keras.ops.convert_to_numpy(model(windows, training=False))


def _litert_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ai_edge_litert") is not None


def _litert(path: Path, window: tuple[int, int] | None = None, horizon: int | None = None) -> Run:
    """The Run of a LiteRT artifact; one window per invocation, as exported.

    Raises:
        BundleError: the file does not load, or maps other shapes than (1, *window) to (1, horizon).
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        with silenced(2):  # the interpreter announces its CPU delegate on stderr
            interpreter = Interpreter(model_path=str(path))
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"bundle {str(path.parent)!r} is damaged: {LITERT_FILE} does not load ({detail[:160]}).") from None
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    if window is not None and (tuple(source["shape"]) != (1, *window) or tuple(sink["shape"]) != (1, horizon)):
        raise BundleError(
            f"bundle {str(path.parent)!r} is damaged: {LITERT_FILE} maps {tuple(source['shape'])} to "
            f"{tuple(sink['shape'])}, but its metadata says {(1, *window)} to {(1, horizon)}."
        )

    def run(windows: np.ndarray) -> np.ndarray:
        rows = []
        for window_ in np.asarray(windows, dtype=np.float32):
            interpreter.set_tensor(source["index"], window_[None])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(sink["index"])[0].copy())
        return np.stack(rows)

    return run
