"""Training on several workers and several devices, for real: processes and devices on this
machine's CPU, tiny models, each against one-device training of the same data and seed."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from forecast.config import Strategy
from forecast.errors import DeviceError
from forecast.model.cluster import this_worker

ROOT = Path(__file__).resolve().parents[2]
AIRLINE = ROOT / "sample_data" / "airline-passengers.csv"
TINY = ["--horizon", "12", "--epochs", "2", "--layers", "1", "--units", "8", "--window-norm", "revin",
        "--interval-refits", "0", "--seed", "7"]


def _cluster(kind: str, index: int, workers: list[str], chief: list[str] = ()) -> str:
    cluster = {"worker": workers, **({"chief": list(chief)} if chief else {})}
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_the_chief_task_or_else_worker_0_writes(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _cluster("worker", 0, ["a:1", "b:2"]))
    assert this_worker(Strategy.auto).chief
    monkeypatch.setenv("TF_CONFIG", _cluster("worker", 1, ["a:1", "b:2"]))
    worker = this_worker(Strategy.auto)
    assert (worker.chief, worker.address, worker.size) == (False, "b:2", 2)
    monkeypatch.setenv("TF_CONFIG", _cluster("worker", 0, ["a:1"], chief=["c:3"]))
    assert not this_worker(Strategy.auto).chief  # with a chief task, worker 0 is not it
    monkeypatch.setenv("TF_CONFIG", _cluster("chief", 0, ["a:1"], chief=["c:3"]))
    assert this_worker(Strategy.auto).chief


def test_one_worker_or_a_forced_device_trains_alone(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _cluster("worker", 0, ["a:1"]))
    assert this_worker(Strategy.auto) is None
    monkeypatch.setenv("TF_CONFIG", _cluster("worker", 1, ["a:1", "b:2"]))
    assert this_worker(Strategy.cpu) is None


def test_a_task_outside_the_cluster_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", _cluster("worker", 2, ["a:1", "b:2"]))
    with pytest.raises(DeviceError, match="is not one of its cluster's chief or worker tasks"):
        this_worker(Strategy.auto)


def _forecast(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env or os.environ, timeout=300)


def _predicted(model_dir: Path) -> list[float]:
    done = _forecast("predict", "--model-dir", str(model_dir), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    return [float(line.split(",")[1]) for line in done.stdout.strip().splitlines()[1:]]


def test_two_workers_on_one_machine_train_one_model_and_only_the_chief_writes(tmp_path):
    shared = tmp_path / "model"  # the same --model-dir for both: only the chief takes its lock
    addresses = [f"localhost:{port}" for port in _free_ports(2)]
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": _cluster("worker", index, addresses)}
        workers.append(subprocess.Popen([sys.executable, "-m", "forecast", "train", str(AIRLINE), *TINY, "--model-dir", str(shared)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env))
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    chief_log, other_log = outputs[0][1], outputs[1][1]
    assert "MultiWorkerMirroredStrategy over 2 workers, the CPU each; this is worker 0 (the chief)" in chief_log
    assert "each batch split over 2 replicas" in chief_log
    assert f"worker 1 of 2: trained its share; the chief ({addresses[0]}) writes the version" in other_log
    assert "version" in outputs[0][0] and outputs[1][0] == ""  # the chief's summary; nothing from the other
    assert len(list((shared / "versions").iterdir())) == 1

    alone = tmp_path / "alone"
    done = _forecast("train", str(AIRLINE), *TINY, "--model-dir", str(alone), "--quiet",
                     env={k: v for k, v in os.environ.items() if k != "TF_CONFIG"})
    assert done.returncode == 0, done.stderr[-2000:]
    # Each step's gradient is the mean over the two halves of the batch: the same model up to rounding.
    assert _predicted(shared) == pytest.approx(_predicted(alone), rel=1e-3)


_DEVICES = """
import json, sys
import numpy as np
from forecast import api
kind, air, out = sys.argv[1:4]
if kind == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
notes, forecasts = [], {}
for strategy in ("mirrored", "cpu"):
    result = api.train(air, model_dir=f"{out}/{strategy}", horizon=12, epochs=2, layers=1, units=8, window_norm="revin",
                       interval_refits=0, seed=7, strategy=strategy, log=notes.append)
    forecasts[strategy] = api.predict(model_dir=f"{out}/{strategy}").frame["forecast"].tolist()
print(json.dumps({"notes": notes, "forecasts": forecasts}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_devices_train_the_model_one_device_trains(tmp_path, backend):
    """MirroredStrategy over two logical CPU devices (TensorFlow), keras DataParallel over two
    host devices (JAX): forecasts as one device's, up to rounding."""
    if backend == "jax":
        pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    env.pop("TF_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", _DEVICES, backend, str(AIRLINE), str(tmp_path)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = "MirroredStrategy over 2 logical CPU devices" if backend == "tensorflow" else "keras DataParallel over 2 CPU devices (jax backend)"
    assert f"strategy: {expected}" in result["notes"]
    assert result["forecasts"]["mirrored"] == pytest.approx(result["forecasts"]["cpu"], rel=1e-3)
