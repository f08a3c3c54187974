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
