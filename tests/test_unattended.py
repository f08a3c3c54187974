"""Unattended runs in real processes: kills, signals, overlapping runs, logs and config files."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from conftest import ROOT, SAMPLE, TINY, error_line, invoke, snapshot
from forecast.store.versions import Store

SLOW = ["--layers", "1", "--units", "8", "--epochs", "500", "--patience", "500", "--batch-size", "8"]


def start(*args, env=None, prelude=""):
    """`forecast ARGS` in a fresh process (after running `prelude` in it), stderr piped."""
    script = prelude + "\nfrom forecast.cli.commands import app\napp(prog_name='forecast')\n"
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def wait_for(process, pattern, timeout=120):
    """Read the process's stderr until a line matches `pattern`; return the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"never saw {pattern!r}: {''.join(lines)}")


@pytest.fixture
def serving(monthly_bundle, tmp_path):
    """A model directory with a current version, and the forecast it serves."""
    model_dir = tmp_path / "model"
    shutil.copytree(monthly_bundle, model_dir, symlinks=True)
    forecast = invoke("predict", "--model-dir", model_dir, "--quiet").stdout
    return model_dir, forecast


def still_serving(model_dir, forecast, before):
    assert snapshot(model_dir) == before
    assert invoke("predict", "--model-dir", model_dir, "--quiet").stdout == forecast


def test_sigkill_during_training_leaves_current_serving(serving):
    model_dir, forecast = serving
    before = snapshot(model_dir)
    run = start("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *SLOW)
    wait_for(run, r"epoch 2/")
    run.kill()
    run.wait()
    still_serving(model_dir, forecast, before)


SLOW_SAVE = textwrap.dedent("""
    import sys, time
    import forecast.store.bundle as bundle
    real = bundle._write_json
    def slow(path, data):
        if path.name == "metadata.json":
            print("saving", file=sys.stderr, flush=True)
            time.sleep(60)
        real(path, data)
    bundle._write_json = slow
""")


def test_sigkill_while_saving_leaves_current_serving_and_the_next_run_cleans_up(serving):
    model_dir, forecast = serving
    before = snapshot(model_dir)
    run = start("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *TINY[:-1], prelude=SLOW_SAVE)
    wait_for(run, r"^saving")
    run.kill()
    run.wait()
    partial = [p.name for p in (model_dir / "versions").iterdir() if p.name.startswith(".partial-")]
    assert len(partial) == 1  # the half-written version: hidden, never listed or served
    assert len(Store(model_dir).ids()) == 1
    still_serving(model_dir, forecast, {**before, **{k: v for k, v in snapshot(model_dir).items() if ".partial-" in k}})

    result = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *TINY[:-1])
    assert result.exit_code == 0, result.stderr
    assert f"removed 1 leftover(s) of an interrupted run: {partial[0]}" in result.stderr
    assert not any(p.name.startswith(".") for p in (model_dir / "versions").iterdir())


@pytest.mark.parametrize("sent, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_stop_cleanly(serving, sent, code):
    model_dir, forecast = serving
    before = snapshot(model_dir)
    run = start("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *SLOW)
    wait_for(run, r"epoch 2/")
    run.send_signal(sent)
    _, rest = run.communicate(timeout=60)
    assert run.returncode == code, rest
    assert "Traceback" not in rest
    (last,) = [line for line in rest.splitlines() if "error:" in line]
    assert re.search(r"(stopped by SIGTERM|interrupted \(Ctrl-C\)); the current model is unchanged", last)
    still_serving(model_dir, forecast, before)


def test_a_signal_once_the_version_is_being_saved_lets_the_run_complete_and_say_so(serving):
    """SIGTERM while the version is written, and again as it becomes current (or as the process
    exits): the run completes, exit 0, and says the signal came; it is never a 143 that changed current."""
    model_dir, _ = serving
    store = Store(model_dir)
    before = store.current_id()
    slow = SLOW_SAVE.replace("time.sleep(60)", "time.sleep(3)") + "\nfrom forecast.cli.commands import cli\ncli()\n"
    run = subprocess.Popen([sys.executable, "-c", slow, "train", str(SAMPLE / "airline-passengers.csv"), "--model-dir",
                            str(model_dir), "--lookback", "12", "--horizon", "12", *TINY[:-1]],
                           cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(run, r"^saving")
    run.send_signal(signal.SIGTERM)
    seen = wait_for(run, r"is now current|stays current")
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    # Read through the same buffered pipe wait_for read from (communicate would skip what it buffered).
    out, rest = run.stdout.read(), "".join(seen) + run.stderr.read()
    assert run.returncode == 0, rest
    assert "SIGTERM came while the run was publishing its result, so it completed first" in rest
    # The same options and data as the version serving: as good as it, so it became current.
    assert store.current_id() != before and "(current)" in out


def test_a_second_train_waits_for_the_lock_then_exits_75(serving):
    model_dir, _ = serving
    holder = start("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *SLOW)
    try:
        wait_for(holder, r"epoch 1/")
        result = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *TINY, "--lock-timeout", "1")
        assert result.exit_code == 75, result.stderr
        assert re.search(r"error: .* is locked by pid \d+ since .* --lock-timeout 1 s", error_line(result.stderr))
    finally:
        holder.kill()
        holder.wait()


def test_json_log_lines_parse(tmp_path):
    result = invoke("--log-format", "json", "train", SAMPLE / "airline-passengers.csv", "--model-dir", tmp_path / "m",
                    *TINY[:-1])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"time", "level", "command", "message"} <= set(lines[0])
    messages = [line["message"] for line in lines]
    assert any(m.startswith("read ") and "144 rows, 1949-01-01 to 1960-12-01" in m for m in messages)
    assert any(m.startswith("epoch 1/3") for m in messages)
    assert any(m.startswith("wrote version ") for m in messages)
    assert all(line["command"] == "train" and line["level"] == "info" for line in lines)


def test_log_file_gets_every_line_and_stderr_only_warnings_and_errors(tmp_path):
    log = tmp_path / "forecast.log"
    ok = invoke("--log-file", log, "train", SAMPLE / "airline-passengers.csv", "--model-dir", tmp_path / "m", *TINY[:-1])
    assert ok.exit_code == 0 and all(" warning: " in line for line in ok.stderr.splitlines())
    stale = invoke("--log-file", log, "predict", "--model-dir", tmp_path / "m")  # 1960's data: cron should hear of it
    assert stale.exit_code == 0 and " warning: the newest data point is 1960-12-01" in stale.stderr
    assert len(stale.stderr.splitlines()) == 1 and "forecast 12 steps with" in log.read_text()
    bad = invoke("--log-file", log, "predict", "--model-dir", tmp_path / "none")
    assert bad.exit_code == 2 and "no model bundle" in error_line(bad.stderr)
    text = log.read_text()
    assert re.search(r"^\d{4}-\d\d-\d\dT[\d:]+[+-]\d\d:\d\d read ", text, re.M)
    assert "error: no model bundle" in text.splitlines()[-1]


def test_config_file_options_and_the_command_line_winning(tmp_path):
    config = tmp_path / "forecast.toml"
    config.write_text(f'data = "{SAMPLE / "airline-passengers.csv"}"\nhorizon = 6\nlayers = 1\nmodel-dir = "{tmp_path / "m"}"\n')
    result = invoke("train", "--config", config, "--layers", "3", "--print-config")
    assert result.exit_code == 0, result.stderr
    import tomllib

    resolved = tomllib.loads(result.stdout)
    assert resolved["horizon"] == 6 and resolved["layers"] == 3 and resolved["model-dir"] == str(tmp_path / "m")
    assert not (tmp_path / "m").exists()  # printing trains nothing

    trained = invoke("train", "--config", config, *TINY)
    assert trained.exit_code == 0, trained.stderr
    saved = tomllib.loads((tmp_path / "m" / "current" / "config.toml").read_text())
    assert saved["horizon"] == 6 and saved["layers"] == 2  # TINY's --layers 2 beat the file's 1

    config.write_text("horizon = 6\nhorizn = 7\n")
    bad = invoke("train", "--config", config)
    assert bad.exit_code == 2 and "sets 'horizn', which is not an option of `forecast train`" in error_line(bad.stderr)
    config.write_text('horizon = "soon"\n')
    bad = invoke("train", "--config", config)
    assert bad.exit_code == 2 and "sets horizon = \"soon\": expected a whole number, got a string" in error_line(bad.stderr) and "Fix the value in the file" in bad.stderr


def test_one_config_file_serves_train_detect_and_evaluate(tmp_path):
    config = tmp_path / "forecast.toml"
    config.write_text(f'data = "{SAMPLE / "airline-passengers.csv"}"\nhorizon = 6\nlookback = 12\nlayers = 1\nunits = 8\n'
                      f'epochs = 2\nwindow-norm = "revin"\npromote = "always"\nmodel-dir = "{tmp_path / "m"}"\n')
    assert invoke("train", "--config", config, "--quiet").exit_code == 0
    # detect without --train-fraction reads with the model's settings: the file's training options wait
    scored = invoke("detect", "--config", config, "--output", tmp_path / "scored.csv", "--quiet")
    assert scored.exit_code == 0, scored.stderr
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 144 - 12
    # ... but the same option on the command line is refused, as before
    refused = invoke("detect", "--config", config, "--horizon", "3")
    assert refused.exit_code == 2 and "--horizon applies only with --train-fraction" in error_line(refused.stderr)
    report = invoke("evaluate", "--config", config, "--folds", "1", "--json", "--quiet")  # promote, model-dir: not evaluate's
    assert report.exit_code == 0, report.stderr
    assert json.loads(report.stdout)["horizon"] == 6
    config.write_text("horizn = 7\n")
    bad = invoke("evaluate", "--config", config)
    assert bad.exit_code == 2 and "sets 'horizn', which is not an option of `forecast evaluate`" in error_line(bad.stderr)


def test_predict_warns_when_the_data_is_stale(monthly_bundle):
    result = invoke("predict", "--model-dir", monthly_bundle)
    assert result.exit_code == 0
    assert re.search(r"warning: the newest data point is 1960-12-01, more than 3 steps before today", result.stderr)


def test_the_readme_crontab_line_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- crontab:start -->")[1].split("<!-- crontab:end -->")[0]
    (line,) = [x for x in block.splitlines() if x.startswith("15 2 * * *")]
    command = line.split(None, 5)[5].replace("\\%", "%")  # what cron hands to the shell
    command = command.replace("/srv/forecast", str(tmp_path))
    (tmp_path / "forecast.toml").write_text(
        f'data = "{SAMPLE / "airline-passengers.csv"}"\nmodel-dir = "{tmp_path / "model"}"\nhorizon = 6\n'
        'lookback = 12\nlayers = 1\nunits = 8\nepochs = 2\n'
    )
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    done = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    # cron mails only what needs a look: here that the sample data ends in 1960, and nothing else
    assert done.stdout == "" and all(" warning: " in line for line in done.stderr.splitlines())
    assert "warning: the newest data point is 1960-12-01" in done.stderr
    assert (tmp_path / "logs" / "last-train.txt").read_text().startswith("trained 1x8 lstm")
    (forecast,) = (tmp_path / "forecasts").iterdir()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d\.csv", forecast.name)
    assert forecast.read_text().splitlines()[0] == "timestamp,forecast" and len(forecast.read_text().splitlines()) == 7
    log = (tmp_path / "logs" / "forecast.log").read_text()
    assert "wrote version" in log and "forecast 6 steps with" in log and "warning: the newest data point" in log


def test_two_trains_on_one_directory_take_turns(serving):
    model_dir, _ = serving
    store = Store(model_dir)
    first = start("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *TINY[:-1], "--promote", "always")
    wait_for(first, r"^\S+ read ")
    second = start("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *TINY[:-1], "--promote", "always",
                   "--lock-timeout", "120")
    _, first_err = first.communicate(timeout=180)
    _, second_err = second.communicate(timeout=180)
    assert first.returncode == 0 and second.returncode == 0, first_err + second_err
    assert "waiting up to 120 s for another run to finish" in second_err
    assert len(store.ids()) == 3 and not any(p.name.startswith(".") for p in (model_dir / "versions").iterdir())
    # The later writer published after the earlier one: neither overwrote the other's version.
    written = [re.search(r"wrote version (\S+)", err).group(1) for err in (first_err, second_err)]
    assert sorted(written) == store.ids()[1:]
