import json
import os
import subprocess
import sys

from conftest import ROOT, SAMPLE, invoke
from forecast.cli.commands import globals_first


def test_light_commands_never_import_tensorflow(tmp_path):
    script = (
        "import sys\n"
        "from forecast.cli.commands import app\n"
        f"for args in (['--help'], ['train', '--help'], ['predict', '--model-dir', {str(tmp_path / 'none')!r}],"
        f" ['train', {str(SAMPLE / 'airline-passengers.csv')!r}, '--lookback', '0'],"
        f" ['train', {str(tmp_path / 'absent.csv')!r}]):\n"
        "    try:\n"
        "        app(args, prog_name='forecast')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('heavy:', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "heavy: []" in done.stdout, done.stdout + done.stderr


def test_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "forecast", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("forecast ")


def test_global_options_work_after_the_command_too(monthly_bundle, tmp_path):
    log_file = tmp_path / "forecast.log"
    result = invoke("predict", "--model-dir", monthly_bundle, "--log-format", "json", "--log-file", log_file, "--verbose")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert lines and {"time", "level", "command", "message"} <= set(lines[0]) and lines[0]["command"] == "predict"
    assert globals_first(["models", "list", "--log-file=x.log", "--model-dir", "m"]) == \
        ["--log-file=x.log", "models", "list", "--model-dir", "m"]
    assert globals_first(["--log-format", "json", "train", "a.csv", "--verbose", "--", "--log-file"]) == \
        ["--verbose", "--log-format", "json", "train", "a.csv", "--", "--log-file"]


def test_short_help_and_shell_completion():
    assert invoke("-h").stdout == invoke("--help").stdout
    assert "Forecast the next --horizon steps" in invoke("predict", "-h").stdout
    # The installed command in a fresh process, told the shell: it would otherwise look for one among
    # its parent processes, which a test run started outside a shell lacks.
    completion = subprocess.run([sys.executable, "-m", "forecast", "--show-completion", "bash"], capture_output=True,
                                text=True, cwd=ROOT, timeout=60,
                                env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert completion.returncode == 0 and "_FORECAST_COMPLETE=complete_bash" in completion.stdout, completion.stderr
