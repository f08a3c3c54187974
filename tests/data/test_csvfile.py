"""Reading a CSV file's bytes: a file still being written is refused, a settled one read once."""

import threading
import time

import pytest

from forecast.data import csvfile
from forecast.errors import SourceError


def test_a_file_still_being_written_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "growing.csv"
    path.write_text("date,y\n2020-01-01,1\n")
    stop = threading.Event()

    def writer():
        day = 1
        while not stop.is_set():
            with open(path, "a") as handle:
                handle.write(f"2021-01-{day % 28 + 1:02d},{day}\n")
            day += 1

    real_read = open

    def slow_open(file, mode="r", *args, **kwargs):
        handle = real_read(file, mode, *args, **kwargs)
        if str(file) == str(path) and "b" in mode:
            time.sleep(0.05)  # give the writer time to append between stat and read
        return handle

    monkeypatch.setattr(csvfile, "open", slow_open, raising=False)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with pytest.raises(SourceError, match="changed while it was being read.*something is still writing it") as caught:
            csvfile.read_csv(str(path))
        assert caught.value.exit_code == 3
    finally:
        stop.set()
        thread.join()


def test_a_settled_file_reads_in_one_go(tmp_path):

    path = tmp_path / "still.csv"
    path.write_text("date,y\n2020-01-01,1\n2020-01-02,2\n")
    assert csvfile.read_csv(str(path))["y"].tolist() == [1, 2]
