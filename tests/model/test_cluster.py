"""Who trains in a TF_CONFIG cluster, and several devices for real: two CPU devices, a tiny
model, against one-device training of the same data and seed. (Several worker processes:
tests/cli/test_workers.py.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecast.config import Strategy
from forecast.errors import DeviceError
from forecast.model.cluster import this_worker

ROOT = Path(__file__).resolve().parents[2]
AIRLINE = ROOT / "sample_data" / "airline-passengers.csv"


def _cluster(kind: str, index: int, workers: list[str], chief: list[str] = ()) -> str:
    cluster = {"worker": workers, **({"chief": list(chief)} if chief else {})}
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


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
