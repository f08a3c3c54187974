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
from forecast.errors import ConfigError
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
    with pytest.raises(ConfigError, match="is not one of its cluster's chief or worker tasks"):
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


@pytest.mark.parametrize("config,message", [
    ("{not json", 'TF_CONFIG is not valid JSON of the form {"cluster": {"worker": ["host:port", ...]}'),
    ('["a:1"]', 'TF_CONFIG is not valid JSON of the form {"cluster"'),
    ('{"cluster": ["a:1", "b:2"]}', 'TF_CONFIG is not valid JSON of the form {"cluster"'),
    ('{"cluster": {"worker": "a:1,b:2"}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's cluster gives its worker tasks as a str, not a list of \"host:port\" addresses. "),
    ('{"cluster": {"worker": [1, 2]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's worker address 1 is not \"host:port\" text (a host name or IP address, a colon, a port from 1 to "
     "65535). Fix that address in TF_CONFIG."),
    ('{"cluster": {"worker": ["localhost", "b:2"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's worker address 'localhost' is not \"host:port\" text"),
    ('{"cluster": {"worker": ["a:1", "b:70000"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG's worker address 'b:70000' is not \"host:port\" text"),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG names the address 'a:1' for two tasks; each task needs its own host:port. Fix TF_CONFIG."),
    ('{"cluster": {"worker": ["localhost:2222", "LOCALHOST:2222"]}, "task": {"type": "worker", "index": 0}}',
     "TF_CONFIG names the address 'LOCALHOST:2222' for two tasks"),  # host names are the same in any case
    ('{"cluster": {"chief": ["c:1", "d:2"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}',
     "TF_CONFIG's cluster names 2 chiefs; a cluster has at most one (the task that writes). Make the others workers."),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', "TF_CONFIG's task None is not one of its cluster's chief or worker tasks."),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker"}}', "TF_CONFIG's task {'type': 'worker'} is not"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": true}}', "is not one of its cluster's"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "ps", "index": 0}}', "is not one of its cluster's"),
])
def test_a_malformed_tf_config_is_refused_with_one_line(monkeypatch, config, message):
    """Every part checked here, so that none reaches the supervisor's message (non-text addresses
    made it raise TypeError) or TensorFlow's join (a missing port or two chiefs exited 3, retry later)."""
    monkeypatch.setenv("TF_CONFIG", config)
    with pytest.raises(ConfigError) as caught:
        this_worker(Strategy.auto)
    assert message in str(caught.value) and "\n" not in str(caught.value) and caught.value.exit_code == 2
