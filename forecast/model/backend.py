"""Import Keras (and with it TensorFlow) once, silencing TensorFlow's start-up chatter."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def silenced(*descriptors: int) -> Iterator[None]:
    """Send what is written to stdout (1) and/or stderr (2) during the block to /dev/null.

    TensorFlow's and LiteRT's C++ code write to the file descriptors themselves ("Could not find
    cuda drivers", "Created TensorFlow Lite XNNPACK delegate"), and Keras's export prints "Saved
    artifact at ..." through sys.stdout, where a forecast may be going; sys.stdout need not be
    descriptor 1 (a test runner, an embedding host), so both levels are redirected.
    """
    streams = {1: contextlib.redirect_stdout, 2: contextlib.redirect_stderr}
    if "tensorflow" in sys.modules:
        # TensorFlow's Python logger takes sys.stderr for its handler when first asked for: ask
        # now, or a warning inside the block would bind it to the sink closed after it.
        sys.modules["tensorflow"].get_logger()
    root = logging.getLogger()
    handlers = list(root.handlers)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in descriptors}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with open(os.devnull, "w") as sink, contextlib.ExitStack() as python_level:
            for fd in descriptors:
                python_level.enter_context(streams[fd](sink))
                os.dup2(devnull, fd)
            try:
                yield
            finally:
                # absl's logging, which TensorFlow's SavedModel writer (under the LiteRT export)
                # logs through, calls logging.basicConfig() when the root logger has no handler,
                # so the root logger got the sink as its stream; once the sink closes, every later
                # warning in the process would print a "Logging error" traceback.
                for handler in root.handlers[:]:
                    if handler not in handlers and getattr(handler, "stream", None) is sink:
                        root.removeHandler(handler)
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def configured_backend() -> str:
    """The backend Keras will load, read as Keras reads it (KERAS_BACKEND, else the "backend" of
    $KERAS_HOME/keras.json or ~/.keras/keras.json, else tensorflow) without importing it."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as handle:
            return str(json.load(handle).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def import_keras():
    """Import and return `keras`.

    TensorFlow's C++ runtime writes "Could not find cuda drivers"-style lines to the process's
    stderr while it loads, before its own log level applies. When TF_CPP_MIN_LOG_LEVEL is 3
    (the command line sets it unless --verbose), file descriptor 2 points at /dev/null for the
    duration of the import so that a user's terminal shows only forecast's own lines.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"]
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        import keras
    else:
        with silenced(2):
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # the CUDA probe logs here too
        if keras.backend.backend() == "tensorflow":
            _quiet_python_logger(tf.get_logger())
    if keras.backend.backend() != "tensorflow":
        _keep_tensorflow_out()
    return keras


def _keep_tensorflow_out() -> None:
    """On JAX or PyTorch, Keras still imports TensorFlow whenever it is installed, to seed its
    generator and to recognise its shapes while saving a model: seconds and hundreds of MB for
    nothing, since no TensorFlow object can exist in a process that never imported it. Keras's
    lazy handle on TensorFlow is told it is absent, unless something already imported it. A
    Keras without that handle only brings the import back (tested: tests/model/test_backend.py)."""
    from keras.src.utils import module_utils

    handle = getattr(module_utils, "tensorflow", None)
    if "tensorflow" not in sys.modules and getattr(handle, "_available", "") is None:
        handle._available = False


def _quiet_python_logger(logger: logging.Logger) -> None:
    """TensorFlow's Python logger made its handler while stderr was silenced, so the handler holds
    the closed /dev/null stream: point it back at stderr, and keep it to errors, as
    TF_CPP_MIN_LOG_LEVEL=3 keeps TensorFlow's C++ side (its notes, such as "retracing", are not
    the user's business; --verbose shows them all)."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stderr  # not setStream: it would flush the closed stream
    logger.setLevel(logging.ERROR)
