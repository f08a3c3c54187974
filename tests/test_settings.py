import tomllib

import pytest

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
