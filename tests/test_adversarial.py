"""Inputs nobody planned for, through the command line: each test reproduces a way the tool once
crashed, hung, lost data or misled, and pins the one-line error (exit 2) or the right result."""

import os
import re
import shutil
import tomllib

import pandas as pd
import pytest

from conftest import SAMPLE, TINY, device, error_line, invoke, snapshot


def write(directory, name, text):
    path = directory / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def monthly(values, start="2000-01-01", freq="MS", name="Sales"):
    stamps = pd.date_range(start, periods=len(values), freq=freq)
    return f"Month,{name}\n" + "".join(f"{t:%Y-%m-%d},{v}\n" for t, v in zip(stamps, values))


def refused(result, message):
    """Exit 2, nothing on stdout, no traceback, one `error:` line, the last, matching `message`."""
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if re.match(r"(\S+ )?error: ", line)]
    assert len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0], result.stderr
    line = error_line(errors[0] + "\n")
    assert re.search(message, line), line
    return line


GOOD = [100 + (i % 12) * 3 + i for i in range(60)]


# 2. Hangs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--horizon", "--lookback"])
def test_a_huge_horizon_or_lookback_is_refused_at_once(option, tmp_path):
    data = write(tmp_path, "m.csv", monthly(GOOD))
    result = invoke("train", data, option, "1000000000", "--model-dir", tmp_path / "m", "--quiet")
    refused(result, r"needs at least [\d]+ rows; the series has 60")
    assert not (tmp_path / "m").exists()


def test_predict_refuses_a_horizon_it_would_spin_on(monthly_bundle):
    refused(invoke("predict", "--model-dir", monthly_bundle, "--horizon", "99999999999999999999"),
            r"would feed forecasts back in [\d,]+ blocks of the trained 12; at most 1000 .* Retrain with a longer --horizon")


# 3. Offsets that change ---------------------------------------------------------------------


def hourly_with_offsets(n=80):
    local = pd.date_range("2024-03-09 00:00", periods=n + 1, freq="h", tz="America/New_York")
    values = [10 + (i % 24) + i * 0.1 for i in range(len(local))]
    return "time,load\n" + "".join(f"{t.isoformat()},{v}\n" for t, v in zip(local, values))


def test_changing_utc_offsets_are_converted_to_utc_and_said(tmp_path):
    data = write(tmp_path, "h.csv", hourly_with_offsets())
    assert "-05:00" in data.read_text() and "-04:00" in data.read_text()
    result = invoke("train", data, "--check", "--lookback", "24", "--horizon", "6", "--model-dir", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    assert "time column time: timestamps with UTC offsets converted to UTC" in result.stderr
    assert "81 rows" in result.stdout


def test_offsets_on_some_timestamps_only_are_refused(tmp_path):
    text = hourly_with_offsets().replace("2024-03-09T05:00:00-05:00", "2024-03-09T05:00:00")
    result = invoke("train", write(tmp_path, "h.csv", text), "--check", "--model-dir", tmp_path / "m")
    refused(result, r"gives a UTC offset on some timestamps but not at line 7 \('2024-03-09T05:00:00'\)")


# 4. Values too large -----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e308", "-1.7e308", "9" * 400])
def test_values_beyond_what_errors_can_square_are_refused_before_training(value, tmp_path):
    data = write(tmp_path, "big.csv", monthly(GOOD[:20] + [value] + GOOD[21:]))
    result = invoke("train", data, "--model-dir", tmp_path / "m", "--quiet")
    refused(result, r"column 'Sales' has a value too large to model at line 22 \(2001-09-01\): beyond ±1e\+150")
    assert not (tmp_path / "m").exists()


def test_predict_data_far_outside_the_training_range_never_prints_blank_forecasts(monthly_bundle, tmp_path):
    values = [1e140] * 30
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", write(tmp_path, "d.csv", monthly(values, name="Passengers")))
    refused(result, r"the forecast is not a finite number: the recent values \(1e\+140 at most\) lie far outside the range")
    refused(invoke("predict", "--model-dir", monthly_bundle, "--data", write(tmp_path, "e.csv", monthly([1e300] * 30, name="Passengers"))),
            "too large to model")


# 5. Dates beyond what can be written ---------------------------------------------------------


def test_a_year_zero_is_refused_naming_the_range(tmp_path):
    data = write(tmp_path, "z.csv", "Month,Sales\n-0,1\n2000-01-01,2\n2000-02-01,3\n")
    refused(invoke("train", data, "--model-dir", tmp_path / "m"),
            r"time column 'Month' has a date outside the years 1 to 9999 at line 2: '-0'")


def test_a_series_ending_near_9999_is_refused_at_training(tmp_path):
    data = write(tmp_path, "late.csv", monthly(GOOD, start="9995-01-01"))
    refused(invoke("train", data, "--model-dir", tmp_path / "m", "--horizon", "12"),
            r"a 12-step monthly forecast after 9999-12-01 \(the series's newest point\) would run past 9999-12-31")


def test_predict_past_9999_is_refused_naming_the_range(monthly_bundle, tmp_path):
    data = write(tmp_path, "late.csv", monthly(GOOD[:30], start="9997-06-01", name="Passengers"))
    refused(invoke("predict", "--model-dir", monthly_bundle, "--data", data, "--horizon", "12"),
            r"a 12-step monthly forecast after 9999-11-01 \(the data's newest point\) would run past 9999-12-31")


# 6. Unreadable input -------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_csv_exits_2(tmp_path):
    data = write(tmp_path, "locked.csv", monthly(GOOD))
    data.chmod(0)
    refused(invoke("train", data, "--model-dir", tmp_path / "m"), r"cannot read data file .* \(Permission denied\)")


def test_a_csv_that_cannot_be_opened_exits_2(tmp_path, monkeypatch):
    data = write(tmp_path, "locked.csv", monthly(GOOD))
    real_open = open

    def denied(path, *args, **kwargs):
        if str(path) == str(data):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denied)
    refused(invoke("train", data, "--model-dir", tmp_path / "m"), r"cannot read data file .*locked.csv' \(Permission denied\)")


# 8. The lock -----------------------------------------------------------------------------------


def test_a_lock_that_is_a_symlink_is_refused_and_its_target_untouched(existing, tmp_path):
    victim = write(tmp_path, "victim.txt", "precious\n")
    (existing / ".lock").unlink(missing_ok=True)
    (existing / ".lock").symlink_to(victim)
    data = write(tmp_path, "m.csv", monthly(GOOD))
    refused(invoke("train", data, "--model-dir", existing, *TINY), r"\.lock' is not a regular file of forecast's .* Remove it")
    assert victim.read_text() == "precious\n"


def test_a_lock_that_is_a_hard_link_is_refused(existing, tmp_path):
    victim = write(tmp_path, "victim.txt", "precious\n")
    (existing / ".lock").unlink(missing_ok=True)
    os.link(victim, existing / ".lock")
    (version,) = [p.name for p in (existing / "versions").iterdir()]
    refused(invoke("models", "use", version, "--model-dir", existing), r"\.lock' is not a regular file")
    refused(invoke("models", "prune", "--keep", "1", "--model-dir", existing), r"\.lock' is not a regular file")
    assert victim.read_text() == "precious\n"


# 9. Frequencies ----------------------------------------------------------------------------------


@pytest.mark.parametrize("freq, said", [("2MS", "2MS"), ("ME", r"monthly \(month ends\)")])
def test_predict_data_at_another_step_is_refused(freq, said, monthly_bundle, tmp_path):
    data = write(tmp_path, "d.csv", monthly(GOOD[:30], freq=freq, name="Passengers"))
    refused(invoke("predict", "--model-dir", monthly_bundle, "--data", data),
            f"--data is {said} but the model was trained on monthly \\(month starts\\) data")


# 10, 11. Option types ------------------------------------------------------------------------------


@pytest.mark.parametrize("line, message", [
    ("horizon = true", "horizon = true: expected a whole number, got a boolean"),
    ("model-dir = 5", "model-dir = 5: expected a quoted string, got a whole number"),
    ('dropout = "0.5"', 'dropout = "0.5": expected a number, got a string'),
    ('offline = "yes"', 'offline = "yes": expected true or false, got a string'),
    ("features = [1, 2]", "list of non-strings"),
])
def test_config_values_of_the_wrong_type_are_refused(line, message, tmp_path):
    config = write(tmp_path, "f.toml", f'data = "{SAMPLE / "airline-passengers.csv"}"\n{line}\n')
    refused(invoke("train", "--config", config, "--print-config"), re.escape(message))


ODD = 'x\n"q"\\\x01\x1b[31m\x7f'  # a line break, quotes, a backslash, control characters


@pytest.mark.parametrize("option, value", [("--target", ODD), ("--time-col", ODD), ("--id-col", ODD), ("--features", [ODD]),
                                           ("--time-format", "%Y-%m" + ODD), ("--model-dir", ODD)])
def test_option_values_with_line_breaks_survive_print_config_and_config(option, value, tmp_path):
    given = ",".join(value) if isinstance(value, list) else value
    printed = invoke("train", SAMPLE / "airline-passengers.csv", option, given, "--print-config")
    assert printed.exit_code == 0, printed.stderr
    assert tomllib.loads(printed.stdout)[option[2:]] == value
    again = invoke("train", "--config", write(tmp_path, "f.toml", printed.stdout), "--print-config")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == printed.stdout


def test_a_seed_numpy_cannot_take_is_refused_before_training(tmp_path):
    refused(invoke("train", SAMPLE / "airline-passengers.csv", "--seed", "4294967296", "--model-dir", tmp_path / "m"),
            r"--seed must be from 0 to 4294967295")


# 12. A log file on a full disk -------------------------------------------------------------------


def test_a_full_log_file_is_one_warning_and_the_lines_go_to_stderr(monthly_bundle, tmp_path):
    full = device(tmp_path, "full")
    result = invoke("--log-file", full, "predict", "--model-dir", monthly_bundle)
    assert result.exit_code == 0 and result.stdout.startswith("timestamp,forecast")
    assert "forecast 12 steps with" in result.stderr  # the lines the file could not take
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count(f"cannot write --log-file {str(full)!r} (No space left on device)") == 1


# 14. Messages that misled --------------------------------------------------------------------------


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path):
    rows = monthly(GOOD).splitlines()
    text = "Month,Sales,Note\n" + "\n".join(f"{r},x" for r in rows[1:4]) + '\n\n\n' + f'{rows[4]},"two\nlines"\n'
    text += "\n".join(f"{r},x" for r in rows[5:9]) + "\n2000-09-01,12O,x\n" + "\n".join(f"{r},x" for r in rows[10:]) + "\n"
    data = write(tmp_path, "n.csv", text)
    bad_line = text.splitlines().index("2000-09-01,12O,x") + 1
    refused(invoke("train", data, "--target", "Sales", "--model-dir", tmp_path / "m"),
            f"non-numeric value '12O' at line {bad_line} ")


def test_a_fifo_is_read_not_called_empty(tmp_path):
    import threading

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(monthly(GOOD)))
    writer.start()
    result = invoke("train", fifo, "--check", "--model-dir", tmp_path / "m")
    writer.join(timeout=30)
    assert result.exit_code == 0 and "ok: 60 rows" in result.stdout, result.stderr


def test_a_long_bad_value_is_quoted_short(tmp_path):
    data = write(tmp_path, "l.csv", monthly(GOOD[:20] + ["x" * 100_000] + GOOD[21:]))
    line = refused(invoke("train", data, "--target", "Sales", "--model-dir", tmp_path / "m"), "non-numeric value 'xxx")
    assert len(line) < 400


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    data = write(tmp_path, "u.csv", monthly(GOOD).encode("utf-16-le"))
    line = refused(invoke("train", data, "--model-dir", tmp_path / "m"), r"holds NUL bytes .* or UTF-16 text without a byte-order mark")
    assert "\x00" not in line


def test_day_first_dates_are_read_day_first_and_said(tmp_path):
    stamps = pd.date_range("2020-01-01", periods=60, freq="D")
    data = write(tmp_path, "d.csv", "Date,Sales\n" + "".join(f"{t:%d/%m/%Y},{v}\n" for t, v in zip(stamps, GOOD)))
    result = invoke("train", data, "--check", "--horizon", "7", "--model-dir", tmp_path / "m")
    assert result.exit_code == 0, result.stderr
    assert "dates read day-first: '13/01/2020' at line 14 has no month 13" in result.stderr


def test_an_empty_ticker_is_an_option_error(tmp_path):
    refused(invoke("train", "--ticker", "", "--model-dir", tmp_path / "m"), r"--ticker takes a Yahoo Finance symbol")


@pytest.mark.parametrize("where", ["missing", "file", "unrelated"])
def test_models_list_on_something_that_is_not_a_model_directory(where, tmp_path):
    path = tmp_path / "x"
    if where == "file":
        path.write_text("hello")
    elif where == "unrelated":
        path.mkdir()
        (path / "notes.txt").write_text("hello")
    refused(invoke("models", "list", "--model-dir", path), r"no model directory|is a file|is not a forecast model directory")


def test_models_use_when_current_is_a_real_directory(existing):
    versions = sorted(p.name for p in (existing / "versions").iterdir())
    (existing / "current").unlink()
    (existing / "current").mkdir()
    refused(invoke("models", "use", versions[0], "--model-dir", existing),
            r"current' is a directory, not the link forecast keeps there")
    assert (existing / "current").is_dir()


def test_prune_removes_a_linked_version_s_link_never_its_target(existing, tmp_path):
    outside = tmp_path / "kept-elsewhere"
    (version,) = [p for p in (existing / "versions").iterdir()]
    shutil.copytree(version, outside)
    (existing / "versions" / "20000101T000000Z-0000").symlink_to(outside)
    result = invoke("models", "prune", "--keep", "1", "--model-dir", existing)
    assert result.exit_code == 0, result.stderr
    assert outside.is_dir() and (outside / "model.keras").is_file()
    assert not os.path.lexists(existing / "versions" / "20000101T000000Z-0000")


def test_version_names_with_control_characters_are_escaped(existing):
    (version,) = [p for p in (existing / "versions").iterdir()]
    shutil.copytree(version, existing / "versions" / "evil\x1b[31m\nname")
    result = invoke("models", "list", "--model-dir", existing)
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "evil\\x1b[31m\\nname" in result.stdout


def test_several_series_in_one_file_say_use_id_col_even_with_fill(tmp_path):
    # An id column under a name not taken for ids by itself (unique_id is: tests/data/test_load.py).
    stamps = pd.date_range("2020-01-01", periods=40, freq="D")
    text = "store,ds,y\n" + "".join(f"{s},{t:%Y-%m-%d},{v}\n" for s in "ABCD" for t, v in zip(stamps, GOOD))
    data = write(tmp_path, "long.csv", text)
    for extra in ([], ["--fill", "ffill"]):
        refused(invoke("train", data, "--model-dir", tmp_path / "m", *extra),
                r"column 'store' repeats its values: this looks like several series in one file. Pass --id-col store")


def test_fill_never_drops_more_than_a_few_duplicates(tmp_path):
    text = monthly(GOOD)
    rows = text.splitlines()
    data = write(tmp_path, "dup.csv", "\n".join(rows + rows[1:11]) + "\n")
    refused(invoke("train", data, "--fill", "ffill", "--model-dir", tmp_path / "m"),
            r"\(10 duplicated rows\); --fill drops at most 5")


def test_predict_dates_weekly_data_by_its_own_anchor(tmp_path):
    stamps = pd.date_range("2020-01-05", periods=80, freq="W-SUN")
    values = [50 + (i % 7) + i * 0.5 for i in range(80)]
    train_file = write(tmp_path, "w.csv", "week,y\n" + "".join(f"{t:%Y-%m-%d},{v}\n" for t, v in zip(stamps, values)))
    assert invoke("train", train_file, "--horizon", "4", "--lookback", "8", "--model-dir", tmp_path / "m", *TINY).exit_code == 0
    mondays = pd.date_range("2021-01-04", periods=20, freq="W-MON")
    data = write(tmp_path, "mon.csv", "week,y\n" + "".join(f"{t:%Y-%m-%d},{v}\n" for t, v in zip(mondays, values)))
    result = invoke("predict", "--model-dir", tmp_path / "m", "--data", data, "--quiet")
    assert result.exit_code == 0, result.stderr
    first = result.stdout.splitlines()[1].split(",")[0]
    assert pd.Timestamp(first).day_name() == "Monday"


def test_check_writes_nothing(existing, tmp_path):
    before = snapshot(existing)
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--check", "--model-dir", existing)
    assert result.exit_code == 0 and result.stdout.startswith("ok: 144 rows")
    assert snapshot(existing) == before


def test_a_version_pruned_while_it_is_read_is_not_called_damaged(existing, monkeypatch):
    import forecast.store.bundle

    verify = forecast.store.bundle._verify_manifest

    def pruned_meanwhile(path):
        listed = verify(path)
        shutil.rmtree(path)  # what `forecast models prune` in another process does
        return listed

    monkeypatch.setattr(forecast.store.bundle, "_verify_manifest", pruned_meanwhile)
    line = refused(invoke("predict", "--model-dir", existing, "--quiet"), r"was removed while it was read \(pruned\?\). Run the command again")
    assert "damaged" not in line


# 15. Column names only a Parquet file or a DataFrame can hold; a malformed TF_CONFIG ----------------


@pytest.mark.parametrize("columns, options, message", [
    (["Month", ""], [], r"the target column has an empty name \(''\)"),
    (["Month", "  "], [], r"the target column has an empty name \('  '\)"),
    (["", "Passengers"], ["--time-col", ""], r"the time column has an empty name \(''\)"),
    (["Month", "Passengers", ""], [], r"the target column has an empty name \(''\)"),  # picked: the last numeric one
])
def test_parquet_columns_without_a_name_are_refused(columns, options, message, tmp_path):
    frame = pd.read_csv(SAMPLE / "airline-passengers.csv", parse_dates=["Month"])
    frame = frame.assign(extra=range(len(frame)))[["Month", "Passengers", "extra"][: len(columns)]].set_axis(columns, axis=1)
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    refused(invoke("train", tmp_path / "d.parquet", *options, "--model-dir", tmp_path / "m", *TINY), message)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("config, message", [
    ('{"cluster": {"worker": [1, 2]}, "task": {"type": "worker", "index": 0}}', r"worker address 1 is not \"host:port\""),
    ('{"cluster": {"worker": ["localhost", "b:2"]}, "task": {"type": "worker", "index": 0}}', r"address 'localhost' is not"),
    ('{"cluster": {"worker": ["a:1", "b:0"]}, "task": {"type": "worker", "index": 0}}', r"address 'b:0' is not"),
    ('{"cluster": {"chief": ["a:1", "b:2"], "worker": ["c:3"]}, "task": {"type": "chief", "index": 0}}', r"names 2 chiefs"),
    ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 1}}', r"'a:1' for two tasks"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": "0"}}', r"task .* is not one of"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": "worker"}', r"task 'worker' is not one of"),
    ('{"cluster": {"worker": {"0": "a:1"}}}', r"gives its worker tasks as a dict"),
    ("[[[[" * 1000 + "]]]]" * 1000, r"TF_CONFIG is not valid JSON"),
])
def test_a_malformed_tf_config_is_one_line_and_exit_2(config, message, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", config)
    refused(invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", tmp_path / "m", *TINY), message)
    assert not (tmp_path / "m").exists()
