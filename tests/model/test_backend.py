import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLE, TINY


def test_trains_and_predicts_on_jax_without_tensorflow(tmp_path):
    pytest.importorskip("jax", reason="the jax extra is not installed")
    # A fresh interpreter: Keras picks its backend once per process.
    # TensorFlow is installed here, so the interpreter is told it is not: any import of it fails,
    # as on a GPU machine that has only JAX. (Keras probes for it and carries on without it.)
    script = (
        "import sys\n"
        "class NoTensorFlow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tensorflow' or name.startswith('tensorflow.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, NoTensorFlow())\n"
        "from forecast.cli.commands import app\n"
        "for args in (sys.argv[1:-2], ['predict', '--model-dir', sys.argv[-2], '--output', sys.argv[-1]]):\n"
        "    try:\n"
        "        app(args, prog_name='forecast')\n"
        "    except SystemExit as exc:\n"
        "        if exc.code:\n"
        "            raise\n"
        "print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    )
    model_dir, output = tmp_path / "model", tmp_path / "forecast.csv"
    args = ["train", str(SAMPLE / "airline-passengers.csv"), "--lookback", "12", "--horizon", "6",
            "--model-dir", str(model_dir), *TINY, str(model_dir), str(output)]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tensorflow imported: False" in done.stdout
    assert "(jax backend)" in done.stdout
    meta = json.loads((model_dir / "current" / "metadata.json").read_text())
    assert meta["backend"] == "jax"
    assert output.read_text().splitlines()[1].startswith("1961-01-01,")
    assert (model_dir / "current" / "model.onnx").is_file()  # exported through jax2onnx, checked against Keras

    assert_cold_onnx_predict(model_dir, env)


def test_trains_on_torch_without_importing_tensorflow_and_predicts_through_onnx(tmp_path):
    pytest.importorskip("torch", reason="torch is not installed")
    # TensorFlow is installed and not hidden: Keras would import it on any backend (to seed it, and
    # while saving); forecast keeps it out, so a PyTorch user does not pay its start-up.
    script = (
        "import sys\n"
        "from forecast.cli.commands import app\n"
        "try:\n"
        "    app(sys.argv[1:], prog_name='forecast')\n"
        "except SystemExit as exc:\n"
        "    if exc.code:\n"
        "        raise\n"
        "print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    )
    model_dir = tmp_path / "model"
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    args = ["train", str(SAMPLE / "airline-passengers.csv"), "--lookback", "12", "--horizon", "6", "--model-dir", str(model_dir), *TINY]
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tensorflow imported: False" in done.stdout
    assert "(torch backend)" in done.stdout
    assert json.loads((model_dir / "current" / "metadata.json").read_text())["backend"] == "torch"
    assert (model_dir / "current" / "model.onnx").is_file()  # exported through torch.export, checked against Keras
    assert_cold_onnx_predict(model_dir, env)


def assert_cold_onnx_predict(model_dir, env):
    """A cold predict of the version in `model_dir` runs its ONNX artifact, imports none of Keras,
    JAX, PyTorch or TensorFlow, and forecasts what Keras on the training backend (`env`) does."""
    script = (
        "import sys\n"
        "from forecast.api import predict\n"
        "notes = []\n"
        "frame = predict(sys.argv[1], log=notes.append).frame\n"
        "print(frame['forecast'].round(6).tolist())\n"
        "print(next(note for note in notes if note.startswith('forecast ')))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'jax', 'torch'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(model_dir)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, check=True)
    light, engine, heavy_modules = done.stdout.strip().splitlines()
    assert engine.endswith("(onnx)") and heavy_modules == "[]"
    with_keras = subprocess.run([sys.executable, "-m", "forecast", "predict", "--model-dir", str(model_dir), "--engine", "keras",
                                 "--quiet"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=True)
    expected = [float(line.split(",")[1]) for line in with_keras.stdout.strip().splitlines()[1:]]
    assert json.loads(light) == pytest.approx(expected, rel=1e-4)


def test_tensorflow_notes_stay_quiet_and_its_errors_reach_stderr():
    """TensorFlow's Python logger is created while its import is silenced: its warnings (such as
    "retracing" when a backtest builds a model per fold) must not crash on the closed stream."""
    pytest.importorskip("tensorflow")
    script = (
        "import os\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "from forecast.model.backend import import_keras\n"
        "keras = import_keras()\n"
        "import numpy as np, tensorflow as tf\n"
        "for size in range(1, 9):  # a new model and a new batch shape each time: retracing\n"
        "    model = keras.Sequential([keras.Input((3, 1)), keras.layers.Dense(1)])\n"
        "    model.predict_on_batch(np.zeros((size, 3, 1), 'float32'))\n"
        "tf.get_logger().warning('a note')\n"
        "tf.get_logger().error('an error')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Logging error" not in done.stderr and "closed file" not in done.stderr
    assert "retracing" not in done.stderr and "a note" not in done.stderr
    assert "an error" in done.stderr


def test_silenced_leaves_no_logging_handler_on_its_closed_stream():
    """A logging.basicConfig() inside the block (absl's logging makes one under the LiteRT export;
    so does a module-level logging.warning()) gives the root logger the block's sink; the handler
    must not outlive the sink, or every later warning in the process prints a "Logging error"
    traceback."""
    script = (
        "import logging\n"
        "from forecast.model.backend import silenced\n"
        "with silenced(1, 2):\n"
        "    logging.warning('inside')\n"
        "logging.getLogger('x').warning('after')\n"
        "print(len(logging.getLogger().handlers))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Logging error" not in done.stderr and "closed file" not in done.stderr
    assert "after" in done.stderr  # logging's last resort prints it, as without the block
    assert done.stdout.strip() == "0"
