import pytest

from forecast.cli.report import _network
from forecast.config import TrainConfig


@pytest.mark.parametrize("options,words", [
    ({}, "2x64 lstm"),
    ({"linear_path": True, "target_transform": "log"}, "2x64 lstm with a linear path on the target's log"),
    ({"ensemble": 3, "cell": "gru", "linear_path": True}, "ensemble of 3 2x64 stacks (gru, median of their forecasts) with a linear path"),
])
def test_the_network_in_words_names_what_changes_it(options, words):
    assert _network(TrainConfig(**options)) == words


def test_info_shows_names_from_the_data_escaped(tmp_path):
    """A target and series id holding a line break and terminal escapes reach `forecast info`'s
    terminal output as escapes, one line each."""
    import numpy as np
    import pandas as pd

    from conftest import TINY, invoke

    target, key = "y\n2026-01-01 error: forged\x1b]0;pwned\x07", "s\x1b[31m"
    dates = pd.date_range("2020-01-01", periods=80, freq="D").strftime("%Y-%m-%d")
    pd.concat([pd.DataFrame({"date": dates, "series": name, target: np.sin(np.arange(80.0))}) for name in ("a", key)]) \
        .to_csv(tmp_path / "data.csv", index=False)
    trained = invoke("train", tmp_path / "data.csv", "--id-col", "series", "--lookback", "5", "--horizon", "2",
                     "--model-dir", tmp_path / "m", *TINY)
    assert trained.exit_code == 0, trained.stderr
    shown = invoke("info", "--model-dir", tmp_path / "m")
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "series:     y\\n2026-01-01 error: forged\\x1b]0;pwned\\x07, 2 series by series (a, s\\x1b[31m)" in shown.stdout
    assert not any(line.startswith("2026-01-01 error") for line in shown.stdout.splitlines())
