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


def test_a_deadline_stops_training_and_raises_out_of_time_on_leaving():
    import time

    stopping.reset()
    with stopping.deadline(time.monotonic() + 3600):
        assert not stopping.requested()
        with stopping.cooperative():
            pass  # not yet: nothing raised
    reached = []
    with pytest.raises(stopping.OutOfTime):
        with stopping.deadline(time.monotonic() - 1):
            with stopping.cooperative():
                reached.append(stopping.requested())  # training's check after each batch
    assert reached == [True]
    assert not stopping.requested()  # the deadline ends with its block
