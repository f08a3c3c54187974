"""Several `forecast train` workers of one TF_CONFIG cluster on this machine, as a user runs them:
local ports, a tiny model, each worker its own process under its supervisor."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AIRLINE = ROOT / "sample_data" / "airline-passengers.csv"
TINY = ["--horizon", "12", "--epochs", "2", "--layers", "1", "--units", "8", "--window-norm", "revin",
        "--interval-refits", "0", "--seed", "7"]


def _addresses(n: int) -> list[str]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return [f"localhost:{port}" for port in ports]


def _worker(index: int, addresses: list[str], model_dir: Path, *options: str) -> subprocess.Popen:
    config = json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})
    return subprocess.Popen([sys.executable, "-m", "forecast", "train", str(AIRLINE), *TINY, "--model-dir", str(model_dir),
                             *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "TF_CONFIG": config})


def _forecast(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return subprocess.run([sys.executable, "-m", "forecast", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)


def _predicted(model_dir: Path) -> list[float]:
    done = _forecast("predict", "--model-dir", str(model_dir), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    return [float(line.split(",")[1]) for line in done.stdout.strip().splitlines()[1:]]


def _wait_for(process: subprocess.Popen, text: str, seconds: float = 120) -> str:
    """Read the process's stderr until a line contains `text`; what was read."""
    read, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        read += line
        if text in line:
            return read
    raise AssertionError(f"{text!r} never came; stderr so far:\n{read[-3000:]}")


def _no_child_left(process: subprocess.Popen) -> None:
    left = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert not left, f"the supervisor left its worker process {left} running"


def test_two_workers_on_one_machine_train_one_model_and_only_the_chief_writes(tmp_path):
    shared = tmp_path / "model"  # the same --model-dir for both: only the chief takes its lock
    addresses = _addresses(2)
    workers = [_worker(index, addresses, shared) for index in range(2)]
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
    done = _forecast("train", str(AIRLINE), *TINY, "--model-dir", str(alone), "--quiet")
    assert done.returncode == 0, done.stderr[-2000:]
    # Each step's gradient is the mean over the two halves of the batch: the same model up to rounding.
    assert _predicted(shared) == pytest.approx(_predicted(alone), rel=1e-3)


def test_a_worker_whose_peers_never_come_gives_up_after_the_timeout(tmp_path):
    started = time.monotonic()
    worker = _worker(0, _addresses(2), tmp_path / "model", "--worker-timeout", "3")
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 3, err[-2000:]
    assert err.strip().splitlines()[-1].endswith(
        "did not all join within 3 s, so nothing was trained or written. Start every worker with its TF_CONFIG (the same "
        "command on each), or raise --worker-timeout; then retry.")
    assert "Traceback" not in err and out == ""
    assert time.monotonic() - started < 60  # the timeout, plus starting Python and reading the data
    assert not (tmp_path / "model" / "versions").exists() or not any((tmp_path / "model" / "versions").iterdir())
    _no_child_left(worker)


def test_sigterm_stops_a_worker_while_it_waits_for_the_others(tmp_path):
    worker = _worker(1, _addresses(2), tmp_path / "model")
    _wait_for(worker, "joining 2 workers as worker 1; waiting for all of them")
    time.sleep(1)  # well inside TensorFlow's wait, where it holds SIGTERM for itself
    worker.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 143
    assert time.monotonic() - sent < 5
    assert err.strip().splitlines()[-1].endswith("stopped by SIGTERM while waiting for the other workers; nothing was "
                                                 "trained or written.")
    _no_child_left(worker)


def test_when_a_worker_dies_the_other_stops_with_exit_3(tmp_path):
    addresses = _addresses(2)
    chief = _worker(0, addresses, tmp_path / "model", "--epochs", "500", "--patience", "500")
    other = _worker(1, addresses, tmp_path / "other", "--epochs", "500", "--patience", "500")
    _wait_for(chief, "epoch 3/500")
    other.kill()  # the supervisor dies at once, and its worker process with it
    other.communicate(timeout=30)
    killed = time.monotonic()
    out, err = chief.communicate(timeout=240)
    assert chief.returncode == 3, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert "error: a worker stopped answering while training (TensorFlow's " in last
    assert last.endswith("nothing was written. Retry once every worker can run.")
    assert time.monotonic() - killed < 180
    assert not (tmp_path / "model" / "versions").exists() or not any((tmp_path / "model" / "versions").iterdir())


@pytest.mark.parametrize("command", [
    ["evaluate", str(AIRLINE), "--horizon", "12"],
    ["compare", str(AIRLINE), "--horizon", "12"],
    ["tune", str(AIRLINE), "--horizon", "12", "--trials", "1"],
    ["detect", str(AIRLINE), "--train-fraction", "0.5"],
])
def test_commands_other_than_train_refuse_a_cluster(command, tmp_path):
    """They would join it without train's chief-only writing or its supervisor."""
    config = json.dumps({"cluster": {"worker": _addresses(2)}, "task": {"type": "worker", "index": 0}})
    done = subprocess.run([sys.executable, "-m", "forecast", *command], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "TF_CONFIG": config}, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].endswith(
        "trains on this machine alone (only train runs on several workers), but TF_CONFIG names 2. Unset TF_CONFIG "
        "for it, or pass --strategy cpu (or gpu).")
    assert list(tmp_path.iterdir()) == []  # nothing written (tune's journal, detect's model directory)


def test_a_malformed_tf_config_exits_2_with_one_line_before_any_worker_starts(tmp_path):
    """Non-text addresses made the supervisor fail while writing its own message (two lines, exit 1)."""
    config = json.dumps({"cluster": {"worker": [1, 2]}, "task": {"type": "worker", "index": 0}})
    done = subprocess.run([sys.executable, "-m", "forecast", "train", str(AIRLINE), *TINY, "--model-dir", "m"],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "TF_CONFIG": config}, timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].endswith(
        "error: TF_CONFIG's worker address 1 is not \"host:port\" text (a host name or IP address, a colon, a port from 1 "
        "to 65535). Fix that address in TF_CONFIG.")
    assert len([line for line in done.stderr.splitlines() if "error" in line]) == 1
    assert list(tmp_path.iterdir()) == []
