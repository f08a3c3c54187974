"""Choose where training runs: TPU, several workers, several GPUs, one GPU or the CPU."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Callable, ContextManager

import keras

from forecast.config import Strategy
from forecast.errors import DeviceError


@dataclasses.dataclass
class Placement:
    """A chosen strategy: a description for the user and the scope to build and train in."""

    name: str  # the Strategy it resolved to (never "auto")
    description: str  # one line for the user, e.g. "MirroredStrategy over 4 GPUs"
    scope: Callable[[], ContextManager]
    accelerator: bool = False  # trains on GPUs or TPUs (the default batch size depends on it)
    replicas: int = 1  # copies of the model that each take a share of every batch

    @property
    def distributed(self) -> bool:
        """Whether the model is trained as several replicas; forecasting then runs on a one-device
        copy (`local_copy`), as a distributed model's batch call would split or repeat its input."""
        return self.replicas > 1 or self.name == "multiworker"


def choose_placement(strategy: Strategy = Strategy.auto, *, log=lambda m: None) -> Placement:
    """Resolve `strategy` for this machine and Keras backend.

    `auto` picks, in order: a reachable TPU, MultiWorkerMirroredStrategy when TF_CONFIG names
    several workers (joining them: forecast.model.cluster),
    MirroredStrategy over several GPUs, else the default (one GPU or the CPU). TensorFlow's
    strategies exist only on the TensorFlow backend; on JAX, several devices are used through
    `keras.distribution.DataParallel`.

    Raises:
        DeviceError: a forced strategy cannot apply here.
        forecast.model.cluster.ClusterError: the cluster could not be formed.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_placement(Strategy(strategy), log)
    return _keras_placement(Strategy(strategy), backend)


def _tensorflow_placement(strategy: Strategy, log) -> Placement:
    import tensorflow as tf

    from forecast.model import cluster

    gpus = tf.config.list_physical_devices("GPU")
    workers = cluster.worker_count()
    if strategy is Strategy.auto:
        if _tpu_hinted():
            try:
                return _tpu()
            except DeviceError:
                pass  # a hint without a reachable TPU: fall through to what is here
        if workers > 1:
            strategy = Strategy.multiworker
        elif len(gpus) > 1:
            strategy = Strategy.mirrored
        else:
            where = "one GPU" if gpus else "the CPU"
            default = tf.distribute.get_strategy()
            return Placement("gpu" if gpus else "cpu", f"default strategy on {where}", default.scope, accelerator=bool(gpus))
    if strategy is Strategy.tpu:
        return _tpu()
    if strategy is Strategy.multiworker:
        if workers < 2:
            raise DeviceError(
                "--strategy multiworker needs TF_CONFIG to name the cluster's workers, two or more; it is unset or "
                f"names {workers}. Set TF_CONFIG on each worker, or use --strategy auto."
            )
        worker = cluster.this_worker(strategy)
        multi = cluster.join(worker, log)
        each = f"{len(gpus)} GPU(s)" if gpus else "the CPU"
        return Placement("multiworker", f"MultiWorkerMirroredStrategy over {workers} workers, {each} each; this is "
                         f"{worker.describe()}", multi.scope, accelerator=bool(gpus), replicas=multi.num_replicas_in_sync)
    if strategy is Strategy.mirrored:
        # Listing logical devices starts TensorFlow's runtime, after which no cluster can be
        # joined: only here. More than one CPU device exists only where a program split the CPU.
        cpus = [] if gpus else tf.config.list_logical_devices("CPU")
        if not gpus and len(cpus) < 2:
            raise DeviceError("--strategy mirrored needs at least one GPU; none is visible. Use --strategy auto or cpu.")
        devices = [d.name for d in (tf.config.list_logical_devices("GPU") if gpus else cpus)]
        mirrored = tf.distribute.MirroredStrategy(devices)
        kind = "GPU(s)" if gpus else "logical CPU devices"
        return Placement("mirrored", f"MirroredStrategy over {len(devices)} {kind}", mirrored.scope, accelerator=bool(gpus),
                         replicas=len(devices))
    if strategy is Strategy.gpu:
        if not gpus:
            raise DeviceError("--strategy gpu needs a GPU; TensorFlow sees none. Use --strategy auto or cpu.")
        one = tf.distribute.OneDeviceStrategy("/gpu:0")
        return Placement("gpu", "one GPU (/gpu:0)", one.scope, accelerator=True)
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    return Placement("cpu", "the CPU (forced)", one.scope)


def _tpu() -> Placement:
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise DeviceError(
            f"--strategy tpu found no reachable TPU ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}). "
            "Run on a TPU VM or set TPU_NAME, or use --strategy auto."
        ) from None
    tpu = tf.distribute.TPUStrategy(resolver)
    return Placement("tpu", f"TPUStrategy with {tpu.num_replicas_in_sync} cores", tpu.scope, accelerator=True,
                     replicas=tpu.num_replicas_in_sync)


def _tpu_hinted() -> bool:
    # Probing for a TPU without a hint can wait on a cloud metadata server; only try when a
    # TPU VM device or the usual variables say one may be there.
    return bool(
        os.environ.get("TPU_NAME")
        or os.environ.get("COLAB_TPU_ADDR")
        or os.environ.get("TPU_ACCELERATOR_TYPE")
        or os.path.exists("/dev/accel0")
        or os.path.exists("/dev/vfio/0")
    )


def _keras_placement(strategy: Strategy, backend: str) -> Placement:
    if strategy in (Strategy.tpu, Strategy.multiworker):
        raise DeviceError(
            f"--strategy {strategy.value} needs the TensorFlow backend; this run uses {backend}. "
            "Set KERAS_BACKEND=tensorflow, or use --strategy auto."
        )
    gpus = _keras_devices("gpu")
    if strategy is Strategy.cpu:
        return Placement("cpu", f"the CPU (forced, {backend} backend)", lambda: keras.device("cpu:0"))
    if strategy is Strategy.gpu:
        if not gpus:
            raise DeviceError(f"--strategy gpu needs a GPU; the {backend} backend sees none. Use --strategy auto or cpu.")
        return Placement("gpu", f"one GPU ({backend} backend)", lambda: keras.device("gpu:0"), accelerator=True)
    # Forced, mirrored also spreads over several CPU devices where XLA was asked for them
    # (XLA_FLAGS=--xla_force_host_platform_device_count=N on the jax backend).
    cpus = _keras_devices("cpu") if strategy is Strategy.mirrored and not gpus and backend == "jax" else []
    if strategy is Strategy.mirrored and not gpus and len(cpus) < 2:
        raise DeviceError("--strategy mirrored needs at least one GPU; none is visible. Use --strategy auto or cpu.")
    devices = gpus if len(gpus) > 1 else cpus
    if len(devices) > 1 and backend == "jax":
        # Keras's own data parallelism: each batch is split across the devices.
        distribution = keras.distribution.DataParallel(devices=devices)

        @contextlib.contextmanager
        def scope():
            previous = keras.distribution.distribution()
            keras.distribution.set_distribution(distribution)
            try:
                yield
            finally:
                keras.distribution.set_distribution(previous)

        kind = "GPUs" if gpus else "CPU devices"
        return Placement("mirrored", f"keras DataParallel over {len(devices)} {kind} (jax backend)", scope,
                         accelerator=bool(gpus), replicas=len(devices))
    where = "one GPU" if gpus else "the CPU"
    if len(gpus) > 1:
        where = f"one of {len(gpus)} GPUs (data parallelism needs the jax or tensorflow backend)"
    return Placement("gpu" if gpus else "cpu", f"{where} ({backend} backend)", contextlib.nullcontext, accelerator=bool(gpus))


def _keras_devices(kind: str) -> list[str]:
    if keras.backend.backend() == "torch":
        import torch  # Keras's distribution API does not cover the torch backend

        return [f"gpu:{i}" for i in range(torch.cuda.device_count())] if kind == "gpu" else ["cpu:0"]
    try:
        return keras.distribution.list_devices(kind)
    except (RuntimeError, ValueError, NotImplementedError):
        return []
