"""The inference artifacts a bundle may hold beside model.keras, so predict runs without Keras:
LiteRT for a network trained on TensorFlow, ONNX for one trained on JAX or PyTorch. Each is
exported, then kept only if it forecasts probe windows as the Keras model does."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from forecast.config import Engine
from forecast.model.runners import keras_runner, litert_installed, litert_runner, onnx_installed, onnx_runner

Log = Callable[[str], None]

LITERT_FILE = "model.tflite"  # the network for the LiteRT interpreter (trained on TensorFlow)
ONNX_FILE = "model.onnx"  # the network for ONNX Runtime (trained on JAX or PyTorch)
AGREEMENT = 1e-4  # largest |artifact - Keras| on the probe windows, in scaled units, for the export to be kept


@dataclasses.dataclass(frozen=True)
class _Artifact:
    """An inference artifact a bundle may hold, and what runs it."""

    file: str
    title: str
    package: str  # the runtime's distribution, for the user
    installed: Callable[[], bool]
    runner: Callable[..., object]
    missing: str  # why a bundle may lack it


ARTIFACTS = {
    Engine.litert: _Artifact(LITERT_FILE, "LiteRT", "ai-edge-litert", litert_installed, litert_runner,
                             "trained on another backend or by an older forecast, or its export failed"),
    Engine.onnx: _Artifact(ONNX_FILE, "ONNX", "onnxruntime", onnx_installed, onnx_runner,
                           "trained on TensorFlow, or its export failed"),
}


def export_artifact(model, path: Path, log: Log) -> bool:
    """Write the inference artifact for the backend `model` was trained on into the bundle at
    `path`: LiteRT from TensorFlow, ONNX from JAX or PyTorch (the LiteRT converter needs
    TensorFlow)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return export_litert(model, path / LITERT_FILE, log)
    return export_onnx(model, path / ONNX_FILE, log)


# The converter to ONNX from each backend but TensorFlow's, by its importable name.
ONNX_CONVERTERS = {"jax": "jax2onnx", "torch": "onnxscript"}


def export_onnx(model, path: Path, log: Log) -> bool:
    """Write `model`'s ONNX artifact to `path`, with a free batch axis, if it converts and agrees
    with Keras on probe windows: jax2onnx converts a model trained on JAX, PyTorch's own exporter
    (torch.export, writing through onnxscript) one trained on PyTorch.

    Returns:
        Whether the artifact was written; a failure is logged as a warning, never raised.
    """
    import importlib.util

    import keras

    from forecast.model.backend import silenced

    backend = keras.backend.backend()
    converter = ONNX_CONVERTERS.get(backend)
    if converter is None or importlib.util.find_spec(converter) is None or not onnx_installed():
        log(f"no ONNX artifact: exporting a model trained on {backend} needs {converter or 'jax or torch'} and onnxruntime "
            f"(pip install 'forecast[{backend}]'); predict will use Keras")
        return False
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    names = ["window", "known"][: len(shapes)]

    def export():
        with silenced(1, 2):
            (_onnx_from_jax if backend == "jax" else _onnx_from_torch)(model, shapes, names, path)
        return onnx_runner(path)

    return _checked_export(export, model, shapes, path, "ONNX", log)


def _onnx_from_jax(model, shapes: list, names: list[str], path: Path) -> None:
    import jax
    from jax2onnx import to_onnx

    def forward(*inputs):
        return model(inputs[0] if len(inputs) == 1 else tuple(inputs), training=False)

    to_onnx(forward, inputs=[jax.ShapeDtypeStruct(("batch", *shape[1:]), np.float32) for shape in shapes],
            input_names=names, return_mode="file", output_path=str(path))


def _onnx_from_torch(model, shapes: list, names: list[str], path: Path) -> None:
    import torch

    class Forward(torch.nn.Module):  # named parameters: torch.export maps its dynamic shapes onto them
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, window, known=None):
            return self.model(window if known is None else (window, known), training=False)

    batch = torch.export.Dim("batch")
    examples = tuple(torch.zeros((2, *shape[1:])) for shape in shapes)
    program = torch.onnx.export(Forward().eval(), examples, input_names=names, output_names=["forecast"], dynamo=True,
                                dynamic_shapes=tuple({0: batch} for _ in shapes), verbose=False)
    program.save(str(path))


def export_litert(model, path: Path, log: Log) -> bool:
    """Write `model`'s LiteRT artifact to `path`, if it converts and agrees with Keras.

    The export is for one window of fixed shape, and its known inputs when the model reads them
    (recurrent layers convert to fused LiteRT kernels only with a static batch), checked against
    Keras on probe windows before it is kept.

    Returns:
        Whether the artifact was written; a failure is logged as a warning, never raised: the
        bundle stays usable through Keras.
    """
    if not litert_installed():
        log("no LiteRT artifact: ai-edge-litert is not installed here; predict will use Keras")
        return False
    import keras

    from forecast.model.backend import silenced

    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    signature = [keras.InputSpec(shape=(1, *shape[1:]), dtype="float32") for shape in shapes]

    def export():
        with silenced(1, 2):
            model.export(str(path), format="litert", input_signature=[signature] if len(signature) > 1 else signature)
        return litert_runner(path)

    return _checked_export(export, model, shapes, path, "LiteRT", log)


def _checked_export(export: Callable, model, shapes: list, path: Path, title: str, log: Log) -> bool:
    """Run `export` (it writes `path` and returns its runner) and keep the artifact only if it
    forecasts two probe windows as the Keras model does, to within AGREEMENT."""
    try:
        run = export()
        rng = np.random.default_rng(0)
        window, *known = [rng.random((2, *shape[1:]), dtype=np.float32) for shape in shapes]
        known = known[0] if known else None
        difference = float(np.max(np.abs(run(window, known) - keras_runner(model)(window, known))))
    except Exception as exc:  # the converters raise many kinds; the bundle works without the artifact
        path.unlink(missing_ok=True)
        log(f"warning: no {title} artifact ({type(exc).__name__}: {str(exc).strip()[:160]}); predict will use Keras")
        return False
    if not difference <= AGREEMENT:
        path.unlink()
        log(f"warning: the {title} artifact differs from the Keras model by {difference:.2g}; not kept, predict will use Keras")
        return False
    return True
