import json
import logging
import re

import numpy as np
import pandas as pd
import pytest

from conftest import error_line, invoke
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


FORGED = "\n2026-01-01T00:00:00Z error: forged"


def test_names_in_the_data_cannot_forge_log_lines_or_carry_escape_codes(tmp_path):
    """A column name and a series id ending in a line break and a log line, or holding a
    terminal escape (ESC ] 0 ; title BEL retitles the terminal), stay inside their own line."""
    target, key = "y" + FORGED + "\x1b]0;pwned\x07", "s" + FORGED + "\x1b[31m"
    dates = pd.date_range("2020-01-01", periods=60, freq="D").strftime("%Y-%m-%d")
    frame = pd.concat([pd.DataFrame({"date": dates, "series": name, target: np.sin(np.arange(60.0))})
                       for name in ("a", key)]).drop(index=30)  # a gap in both, which --fill reports per series
    frame.to_csv(tmp_path / "data.csv", index=False)
    log = tmp_path / "run.log"
    result = invoke("train", tmp_path / "data.csv", "--check", "--id-col", "series", "--fill", "ffill", "--lookback", "5",
                    "--horizon", "2", "--model-dir", tmp_path / "model", "--log-file", log)
    assert result.exit_code == 0, result.stderr
    text = log.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert any("target: y\\n2026-01-01T00:00:00Z error: forged\\x1b]0;pwned\\x07" in line for line in lines), text
    assert any("series s\\n2026-01-01T00:00:00Z error: forged\\x1b[31m: filled" in line for line in lines), text
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ", line) for line in lines), text
    assert not any(line.startswith("2026-01-01T00:00:00Z") for line in lines)
    assert "\x1b" not in text and "\x07" not in text
    jsonl = tmp_path / "run.jsonl"
    result = invoke("--log-format", "json", "train", tmp_path / "data.csv", "--check", "--id-col", "series", "--fill",
                    "ffill", "--lookback", "5", "--horizon", "2", "--model-dir", tmp_path / "model", "--log-file", jsonl)
    assert result.exit_code == 0, result.stderr
    messages = [json.loads(line)["message"] for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert f"series {key}: filled 1 missing timestamps (ffill)" in messages  # JSON escapes it as JSON does


@pytest.mark.parametrize("where", ["missing/x.log", "adir", "afile/x.log"])
def test_a_log_file_that_cannot_be_opened_is_one_error_line_before_anything_runs(monthly_bundle, tmp_path, where, monkeypatch):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    path = tmp_path / where
    for given in (["--log-file", path], []):
        if not given:
            monkeypatch.setenv("FORECAST_LOG_FILE", str(path))
        result = invoke(*given, "predict", "--model-dir", monthly_bundle)
        assert result.exit_code == 2 and result.stdout == ""
        assert error_line(result.stderr).startswith(f"error: cannot open --log-file {str(path)!r} (")
