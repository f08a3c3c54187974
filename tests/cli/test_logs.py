import json
import logging
import re

from forecast.cli import logs


def test_text_lines_carry_their_time_off_a_terminal_and_warnings_their_level(capsys):
    logs.configure("text")
    logger = logs.start("train", quiet=False)
    logs.notes(logger)("read data.csv: 10 rows")
    logs.notes(logger)("warning: stale data")
    err = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d read data.csv: 10 rows", err[0])
    assert err[1].endswith(" warning: stale data")


def test_json_lines_and_quiet(capsys):
    logs.configure("json")
    logger = logs.start("predict", quiet=True)
    logger.info("dropped by --quiet")
    logs.notes(logger)("warning: kept by --quiet")
    (line,) = capsys.readouterr().err.splitlines()
    record = json.loads(line)
    assert record["level"] == "warning" and record["command"] == "predict" and record["message"] == "kept by --quiet"


def test_a_log_file_takes_everything_and_stderr_only_errors(tmp_path, capsys):
    path = tmp_path / "f.log"
    logs.configure("text", str(path))
    logger = logs.start("train", quiet=False)
    logger.info("note")
    logger.error("broken")
    assert capsys.readouterr().err.endswith("error: broken\n")
    assert [line.split(" ", 1)[1] for line in path.read_text().splitlines()] == ["note", "error: broken"]
    logs.configure("text")  # closes the file handler
    assert all(not isinstance(h, logging.FileHandler) for h in logging.getLogger(logs.LOGGER).handlers)
