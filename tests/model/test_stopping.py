import signal

import pytest

from forecast.model import stopping


def test_outside_a_cooperative_block_a_signal_stops_at_once():
    stopping.reset()
    with pytest.raises(stopping.Stopped) as caught:
        stopping.handle(signal.SIGTERM, None)
    assert caught.value.exit_code == 143


def test_inside_one_it_is_recorded_and_raised_on_leaving():
    stopping.reset()
    reached = []
    with pytest.raises(stopping.Stopped) as caught:
        with stopping.cooperative():
            stopping.handle(signal.SIGINT, None)  # returns: the block finishes its work first
            reached.append(stopping.requested())
    assert reached == [True] and caught.value.exit_code == 130
    stopping.reset()
    with stopping.cooperative():
        pass  # nothing requested: nothing raised
