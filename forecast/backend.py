"""Import Keras (and with it TensorFlow) once, silencing TensorFlow's start-up chatter."""

from __future__ import annotations

import os
import sys


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

        return keras
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # the CUDA probe logs here too
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras
