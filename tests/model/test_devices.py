import json

import keras
import pytest

from forecast.config import Strategy
from forecast.model.devices import choose_placement
from forecast.errors import ConfigError, DeviceError

tf = pytest.importorskip("tensorflow")
HAS_GPU = bool(tf.config.list_physical_devices("GPU"))


def test_auto_on_this_machine_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    placement = choose_placement(Strategy.auto)
    assert placement.name == ("gpu" if HAS_GPU else "cpu")
    assert placement.description.startswith("default strategy on")
    with placement.scope():
        layer = keras.layers.Dense(1)
        layer.build((None, 2))
        assert not tf.distribute.has_strategy()  # the default strategy: nothing distributed
    expected = "GPU" if HAS_GPU else "CPU"
    assert expected in layer.kernel.value.device.upper()


def test_forced_cpu_builds_variables_on_the_cpu():
    placement = choose_placement(Strategy.cpu)
    with placement.scope():
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
    assert "CPU" in layer.kernel.value.device.upper()


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("strategy,message", [(Strategy.gpu, "--strategy gpu needs a GPU"), (Strategy.mirrored, "--strategy mirrored needs at least one GPU")])
def test_gpu_strategies_fail_clearly_without_a_gpu(strategy, message):
    with pytest.raises(DeviceError, match=message):
        choose_placement(strategy)


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DeviceError, match="needs TF_CONFIG"):
        choose_placement(Strategy.multiworker)


def test_broken_tf_config_is_named(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG is not valid JSON"):
        choose_placement(Strategy.auto)


def test_tf_config_with_one_worker_stays_local(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:12345"]}, "task": {"type": "worker", "index": 0}}))
    assert choose_placement(Strategy.auto).name in ("cpu", "gpu")


def test_forced_tpu_fails_clearly_without_one(monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    with pytest.raises(DeviceError, match="--strategy tpu found no reachable TPU"):
        choose_placement(Strategy.tpu)
