import shutil
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, invoke
from forecast.config import Cell
from forecast.errors import ConfigError
from forecast.settings import read_config, to_toml

ALLOWED = {"data", "horizon", "features", "model_dir", "cell", "learning_rate", "offline"}


def test_options_round_trip_through_toml(tmp_path):
    options = {"data": 'C:\\data\\"q".csv', "horizon": 30, "features": ["Volume", "Open"], "model_dir": "m",
               "cell": Cell.gru, "learning_rate": 0.001, "offline": False, "lookback": None}
    text = to_toml(options)
    assert "lookback" not in text  # None means the default
    path = tmp_path / "f.toml"
    path.write_text(text)
    assert read_config(str(path), ALLOWED | {"lookback"}) == {
        "data": 'C:\\data\\"q".csv', "horizon": 30, "features": "Volume,Open", "model_dir": "m", "cell": "gru",
        "learning_rate": 0.001, "offline": False,
    }
    assert tomllib.loads(text)["model-dir"] == "m"  # keys as the long options spell them


@pytest.mark.parametrize("text, message", [
    ("horizn = 3\n", "sets 'horizn', which is not an option of `forecast train`"),
    ("[train]\nhorizon = 3\n", "sets 'train', which is not an option"),
    ("horizon = \n", "is not valid TOML"),
])
def test_bad_files_are_refused_with_the_fix(tmp_path, text, message):
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_config(str(path), ALLOWED)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read --config .*nope.toml.*Check the path"):
        read_config(str(tmp_path / "nope.toml"), ALLOWED)


# A line break, a quote, a backslash, a tab and control characters: what a TOML basic string must escape.
ODD = 'a\nb"c\\d\x01e\x7f\tf\x1b[31m'


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(text=st.text(), items=st.lists(st.text(), max_size=3))
def test_any_text_is_written_as_toml_that_reads_back_the_same(text, items):
    written = to_toml({"target": text, "features": items})
    assert tomllib.loads(written) == {"target": text, "features": items}
    lines = written.splitlines()
    assert len(lines) == 2 and all(line.isprintable() for line in lines)  # one printable line an option


def test_odd_option_values_round_trip_through_print_config_and_config(tmp_path):
    data = tmp_path / f"dir {ODD}" / "data.csv"
    data.parent.mkdir()
    shutil.copy(SAMPLE / "airline-passengers.csv", data)
    printed = invoke("train", data, "--target", ODD, "--time-col", "t\r\n", "--features", f"x\ny,v{ODD}",
                     "--model-dir", tmp_path / f"m {ODD}", "--print-config")
    assert printed.exit_code == 0, printed.stderr
    resolved = tomllib.loads(printed.stdout)
    assert resolved["data"] == str(data) and resolved["target"] == ODD and resolved["time-col"] == "t\r\n"
    assert resolved["features"] == ["x\ny", "v" + ODD] and resolved["model-dir"] == str(tmp_path / f"m {ODD}")
    (tmp_path / "f.toml").write_text(printed.stdout, encoding="utf-8")
    again = invoke("train", "--config", tmp_path / "f.toml", "--print-config")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == printed.stdout
