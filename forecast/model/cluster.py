"""Training on several workers (TF_CONFIG): who this process is, joining the others (the time
limit on that is the supervisor's: forecast.cli.workers), and the two places where Keras's `fit` does not yet handle TensorFlow's
MultiWorkerMirroredStrategy.

Every worker runs the same `forecast train` command with its own TF_CONFIG; each reads the same
data and trains the same model, each on its share of every batch, with the gradients summed
across workers after each step. The chief (task "chief", or else worker 0) alone takes the
model directory's lock, writes the version and promotes it; the others write nothing there.

The cluster is joined through TensorFlow's coordination service, which waits for every worker
to register, and is given a heartbeat limit (HEARTBEAT_SECONDS) for noticing a worker that
stops answering.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal

from forecast.config import Strategy
from forecast.errors import ConfigError, ForecastError, printable, quote

JOINED_FD = "FORECAST_JOINED_FD"  # a supervisor's pipe (forecast.cli.workers): one byte is written to it once joined
# A task's address: a host name, IPv4 or bracketed IPv6 address, then a port (its range checked apart).
ADDRESS = re.compile(r"[\w.\-\[\]:%]+:(\d{1,5})")
HEARTBEAT_SECONDS = 60  # a worker silent this long is taken for dead, and training stops with an error


class ClusterError(ForecastError):
    """The cluster could not form or broke up: a worker did not join in time or stopped answering."""

    exit_code = 3  # like a failed download: nothing was written, and a later run may succeed


@dataclasses.dataclass(frozen=True)
class Worker:
    """This process's place in a TF_CONFIG cluster."""

    task: str  # "chief" or "worker"
    index: int
    address: str  # this task's host:port
    addresses: tuple[str, ...]  # every task's, the chief's first

    @property
    def chief(self) -> bool:
        """Whether this process writes the version: the chief task, or worker 0 without one."""
        return self.addresses[0] == self.address

    @property
    def size(self) -> int:
        return len(self.addresses)

    def describe(self) -> str:
        return f"{self.task} {self.index}" + (" (the chief)" if self.chief else "")


def _tf_config() -> tuple[dict[str, list[str]], object]:
    """TF_CONFIG's cluster (empty when unset) and its task, the cluster checked whole: a job's
    tasks a list of distinct "host:port" addresses, at most one chief. A mistake there is a
    configuration error (exit 2), not a cluster that failed to form (exit 3, retry later).

    Raises:
        ConfigError: TF_CONFIG is not of that form.
    """
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except (ValueError, RecursionError):  # JSONDecodeError, or nesting too deep to parse
        config = None
    cluster = config.get("cluster", {}) if isinstance(config, dict) else None
    if not isinstance(cluster, dict):
        raise ConfigError('TF_CONFIG is not valid JSON of the form {"cluster": {"worker": ["host:port", ...]}, '
                          '"task": {"type": "worker", "index": 0}}. Fix it or unset it.')
    seen = set()
    for job, addresses in cluster.items():
        if not isinstance(addresses, list):
            raise ConfigError(f"TF_CONFIG's cluster gives its {printable(str(job))} tasks as a {type(addresses).__name__}, "
                              'not a list of "host:port" addresses. Write them as ["host:port", ...].')
        for address in addresses:
            port = ADDRESS.fullmatch(address) if isinstance(address, str) else None
            if port is None or not 1 <= int(port.group(1)) <= 65535:
                raise ConfigError(f"TF_CONFIG's {printable(str(job))} address {quote(address)} is not \"host:port\" text (a "
                                  "host name or IP address, a colon, a port from 1 to 65535). Fix that address in TF_CONFIG.")
            if address.lower() in seen:  # host names are the same in any case
                raise ConfigError(f"TF_CONFIG names the address {quote(address)} for two tasks; each task needs its own "
                                  "host:port. Fix TF_CONFIG.")
            seen.add(address.lower())
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(f"TF_CONFIG's cluster names {len(cluster['chief'])} chiefs; a cluster has at most one (the task "
                          "that writes). Make the others workers.")
    return cluster, config.get("task")


def _cluster() -> dict[str, list[str]]:
    return _tf_config()[0]


def worker_count() -> int:
    """How many tasks TF_CONFIG's cluster names (chief and workers); 0 without TF_CONFIG."""
    cluster = _cluster()
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def this_worker(strategy: Strategy) -> Worker | None:
    """This process's place in the cluster when training will use several workers (the
    TensorFlow backend, --strategy auto or multiworker, TF_CONFIG naming more than one task);
    None when it trains alone. Keras is not imported.

    Raises:
        ConfigError: TF_CONFIG is malformed, or its task is not in its cluster.
    """
    if Strategy(strategy) not in (Strategy.auto, Strategy.multiworker) or worker_count() < 2:
        return None
    from forecast.model.backend import configured_backend

    if configured_backend() != "tensorflow":
        return None
    cluster, task = _tf_config()
    kind, index = (task.get("type"), task.get("index")) if isinstance(task, dict) else (None, None)
    if kind not in ("chief", "worker") or not isinstance(index, int) or isinstance(index, bool) \
            or not 0 <= index < len(cluster.get(kind, [])):
        raise ConfigError(f"TF_CONFIG's task {quote(task, 80)} is not one of its cluster's chief or worker tasks. Set "
                          '"task": {"type": "worker", "index": N} with N below the number of workers.')
    addresses = tuple(cluster.get("chief", []) + cluster.get("worker", []))
    return Worker(kind, index, cluster[kind][index], addresses)


def refuse(command: str, strategy: Strategy) -> None:
    """Only `forecast train` trains on several workers; other commands that train (evaluate,
    compare, tune, detect) would join the cluster with none of train's chief-only writing or
    supervision, so they refuse one.

    Raises:
        ConfigError: TF_CONFIG names several workers and `strategy` would use them.
    """
    worker = this_worker(strategy)
    if worker is not None:
        raise ConfigError(f"forecast {command} trains on this machine alone (only train runs on several workers), but "
                          f"TF_CONFIG names {worker.size}. Unset TF_CONFIG for it, or pass --strategy cpu (or gpu).")


def join(worker: Worker, log=lambda message: None):
    """Create the MultiWorkerMirroredStrategy, which waits until every worker has registered.

    Raises:
        ClusterError: the cluster could not be formed (an address or port that cannot be used).
    """
    import tensorflow as tf

    global _joined
    if _joined is not None:  # a process joins its cluster once; later trainings (refits) reuse it
        return _joined
    _configure_coordination(worker)
    _fix_keras()
    log(f"joining {worker.size} workers as {worker.describe()}; waiting for all of them")
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        _joined = tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(timeout_seconds=HEARTBEAT_SECONDS))
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"could not join the workers ({detail}). Check TF_CONFIG's addresses and ports; then retry.") from None
    # TensorFlow put in its own SIGTERM handler (it only logs the signal): ours again, so a
    # signal stops training after its batch as anywhere else.
    for signum, handler in handlers.items():
        if callable(handler):
            signal.signal(signum, handler)
    _announce_joined()
    return _joined


def _announce_joined() -> None:
    """Tell the supervising process, if any, that the cluster formed."""
    fd = os.environ.pop(JOINED_FD, None)
    if fd is not None:
        try:
            os.write(int(fd), b"j")
            os.close(int(fd))
        except (OSError, ValueError):
            pass  # no supervisor listening: nothing to tell


def broken(exc: BaseException) -> ClusterError | None:
    """The error to report when training on several workers failed because the cluster broke
    up (a worker died or stopped answering), else None."""
    import tensorflow as tf

    if isinstance(exc, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
                        tf.errors.CancelledError, tf.errors.InternalError)):
        # TensorFlow's message starts "Graph execution error:" and runs to pages of op names.
        return ClusterError(f"a worker stopped answering while training (TensorFlow's {type(exc).__name__}); nothing "
                            "was written. Retry once every worker can run.")
    return None


def _configure_coordination(worker: Worker) -> None:
    """TensorFlow's coordination service as MultiWorkerMirroredStrategy would set it up, with a
    heartbeat limit so a dead worker is noticed. (It has no public API; the strategy uses this
    configuration when it finds one.)"""
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    cluster = _cluster()
    leader = "chief" if cluster.get("chief") else "worker"
    jobs = [coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(cluster[job]))
            for job in ("chief", "worker") if cluster.get(job)]
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{leader}/replica:0/task:0", coordinated_jobs=jobs,
        heartbeat_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
    )


_fixed = False
_joined = None  # the strategy of the cluster this process joined


def _fix_keras() -> None:
    """Two places where Keras 3's TensorFlow trainer fails under MultiWorkerMirroredStrategy
    with more than one worker (keras-team/keras#20585), both in how it reduces across replicas:

    - before the first step `fit` builds the model from one batch, averaging the (x, y) batch
      across replicas with `strategy.reduce`, which takes one tensor, not a structure; the
      batch of one replica has the shapes it needs.
    - it averages each step's logs (scalars such as the loss) with `strategy.reduce(...,
      axis=0)`, which has no axis 0 to reduce; scalars are averaged across replicas instead.
    """
    global _fixed
    if _fixed:
        return
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(
                    lambda x: self.distribute_strategy.experimental_local_results(x)[0]
                    if isinstance(x, tf.distribute.DistributedValues) else x,
                    next(batches),
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    reduce_per_replica = trainer.reduce_per_replica

    def reduced(values, strategy, reduction):
        if trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
            def mean(value):
                first = value.values[0] if trainer._is_per_replica_instance(value) else value
                return strategy.reduce("MEAN", value, axis=0 if first.shape.rank else None)

            return tree.map_structure(mean, values)
        return reduce_per_replica(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = reduced
    _fixed = True
