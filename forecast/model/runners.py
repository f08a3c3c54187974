"""What runs a network on scaled windows: Keras's compiled batch call, the LiteRT interpreter
(for a model trained on TensorFlow), or ONNX Runtime (for one trained on JAX or PyTorch).

A runner maps a batch of scaled input windows, (windows, lookback, columns) float32, and for a
network with known inputs their values over the forecast period, (windows, trained horizon,
known inputs), to the network's scaled output, (windows, trained horizon). Both kinds take a model already loaded (a
`keras.Model`, or the path of a LiteRT artifact); which file of a bundle to load is the bundle's
business (forecast.store.bundle), and what to do with the output is the forecaster's
(forecast.model.forecaster).

The LiteRT interpreter (`ai-edge-litert`) and ONNX Runtime load in a fraction of a second and
tens of MB, where Keras brings TensorFlow or JAX (seconds and hundreds of MB), so `forecast
predict` answers from a cold process in under a second.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

import numpy as np

from forecast.model.backend import silenced

Runner = Callable[[np.ndarray, np.ndarray | None], np.ndarray]  # windows, known inputs or None -> (windows, trained horizon)


class LoadError(Exception):
    """A LiteRT artifact that does not load, or whose shapes are not the expected ones; the
    bundle turns it into a BundleError naming the bundle."""


def keras_runner(model) -> Runner:
    """The runner of a Keras model: its compiled predict step on the whole batch at once.

    Calling the model eagerly would run each recurrent step from Python; the compiled step is
    the one training uses for its validation forecasts.
    """
    return lambda windows, known: np.asarray(model.predict_on_batch(windows if known is None else (windows, known)))


def litert_installed() -> bool:
    """Whether the LiteRT interpreter can be imported here (it has no wheel on some platforms)."""
    return importlib.util.find_spec("ai_edge_litert") is not None


def litert_runner(path: Path, window: tuple[int, int] | None = None, trained_horizon: int | None = None,
                  known: int = 0) -> Runner:
    """The runner of a LiteRT artifact; one window per invocation, as exported (the recurrent
    layers convert to fused LiteRT kernels only with a static batch of one).

    Args:
        path: the `.tflite` file.
        window: (lookback, columns) the artifact must read, when known.
        trained_horizon: the output width it must have, when known.
        known: known inputs per forecast step it must read besides the window (0: no second input).

    Raises:
        LoadError: the file does not load, or maps other shapes than (1, *window) [and
            (1, trained_horizon, known)] to (1, trained_horizon).
    """
    from ai_edge_litert.interpreter import Interpreter

    try:
        with silenced(2):  # the interpreter announces its CPU delegate on stderr
            interpreter = Interpreter(model_path=str(path))
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoadError(f"does not load ({detail[:160]})") from None
    sources, (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    # The converter names the inputs after the Keras ones ("serving_default_known:0"); their order is its own.
    sources = sorted(sources, key=lambda detail: "known" in detail["name"])  # the window, then the known inputs
    if window is not None:
        expected = [(1, *window)] + ([(1, trained_horizon, known)] if known else [])
        shapes = [tuple(int(n) for n in detail["shape"]) for detail in sources]
        if shapes != expected or tuple(sink["shape"]) != (1, trained_horizon):
            raise LoadError(f"maps {', '.join(map(str, shapes))} to {tuple(int(n) for n in sink['shape'])}, but its metadata says "
                            f"{', '.join(map(str, expected))} to {(1, trained_horizon)}")

    def run(windows: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        inputs = [np.asarray(windows, dtype=np.float32)] + ([] if known is None else [np.asarray(known, dtype=np.float32)])
        rows = []
        for i in range(len(inputs[0])):
            for detail, values in zip(sources, inputs):
                interpreter.set_tensor(detail["index"], values[i : i + 1])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(sink["index"])[0].copy())
        return np.stack(rows)

    return run


def onnx_installed() -> bool:
    """Whether ONNX Runtime can be imported here."""
    return importlib.util.find_spec("onnxruntime") is not None


def onnx_runner(path: Path, window: tuple[int, int] | None = None, trained_horizon: int | None = None,
                known: int = 0) -> Runner:
    """The runner of an ONNX artifact: the whole batch in one call (its batch axis is free).

    Args, Raises: as `litert_runner`; the shapes are checked with the batch axis left out.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: its notes about constant folding are not the user's business
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a bad file
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoadError(f"does not load ({detail[:160]})") from None
    sources, sinks = session.get_inputs(), session.get_outputs()
    names = [source.name for source in sources]
    if window is not None:
        expected = [[*window]] + ([[trained_horizon, known]] if known else [])
        shapes = [list(source.shape[1:]) for source in sources]
        output = list(sinks[0].shape[1:]) if len(sinks) == 1 else None
        if names != ["window", "known"][: len(expected)] or shapes != expected or output != [trained_horizon]:
            raise LoadError(f"maps {', '.join(f'{n} {s}' for n, s in zip(names, shapes))} to {output}, but its metadata "
                            f"says {expected} to {[trained_horizon]}")

    def run(windows: np.ndarray, known_values: np.ndarray | None = None) -> np.ndarray:
        feed = {"window": np.asarray(windows, dtype=np.float32)}
        if known_values is not None:
            feed["known"] = np.asarray(known_values, dtype=np.float32)
        return session.run(None, feed)[0]

    return run
