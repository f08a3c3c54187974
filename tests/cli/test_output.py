"""Every file the tool writes: through special files and links, never replacing them, with the
umask's permissions and nothing left behind by a failed write."""

import io
import json
import os
import shutil
import stat
import threading

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, TINY, device, error_line, invoke, snapshot
from test_tune import QUICK


def forecasts(model_dir, *extra):
    result = invoke("predict", "--model-dir", model_dir, "--quiet", *extra)
    assert result.exit_code == 0, result.stderr
    return result


def test_a_new_file_gets_the_permissions_the_umask_allows(monthly_bundle, tmp_path):
    previous = os.umask(0o022)
    try:
        forecasts(monthly_bundle, "--output", tmp_path / "f.csv")
        os.umask(0o077)
        forecasts(monthly_bundle, "--output", tmp_path / "private.csv")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "f.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.csv").stat().st_mode) == 0o600


def test_a_replaced_file_keeps_its_permissions(monthly_bundle, tmp_path):
    out = tmp_path / "f.csv"
    out.write_text("old\n")
    out.chmod(0o640)
    forecasts(monthly_bundle, "--output", out)
    assert out.read_text().startswith("timestamp,forecast") and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_a_symlink_is_followed_and_kept(monthly_bundle, tmp_path):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    link.symlink_to(target)
    forecasts(monthly_bundle, "--output", link)
    assert link.is_symlink() and target.read_text().startswith("timestamp,forecast")


def test_a_fifo_is_written_through_not_replaced(monthly_bundle, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    forecasts(monthly_bundle, "--output", fifo)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and received[0].startswith("timestamp,forecast")


def test_a_device_stays_a_device(monthly_bundle, tmp_path):
    null = device(tmp_path, "null")
    before = os.stat(null)
    forecasts(monthly_bundle, "--output", null)
    after = os.stat(null)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_a_full_device_is_a_clear_error_and_stays_a_device(monthly_bundle, tmp_path):
    full = device(tmp_path, "full")
    result = invoke("predict", "--model-dir", monthly_bundle, "--output", full)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].endswith(
        f"error: cannot write --output {str(full)!r} (No space left on device). Choose another path."
    )
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_dash_is_standard_output(monthly_bundle):
    assert forecasts(monthly_bundle, "--output", "-").stdout.startswith("timestamp,forecast")


def test_a_plot_cannot_share_standard_output_with_the_forecasts(monthly_bundle, tmp_path):
    result = invoke("predict", "--model-dir", monthly_bundle, "--plot", "-")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--plot - would mix a binary file into what the command prints. Name a file." in error_line(result.stderr)


def test_a_failed_write_leaves_the_old_file_and_no_leftover(monthly_bundle, tmp_path, monkeypatch):
    out = tmp_path / "f.csv"
    out.write_text("old\n")

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)  # the disk fills as the new file would take the old one's place
    result = invoke("predict", "--model-dir", monthly_bundle, "--output", out, "--quiet")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].endswith(
        f"error: cannot write --output {str(out)!r} (No space left on device). Choose another path."
    )
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


@pytest.mark.parametrize("flag", ["--output", "--plot"])
def test_destinations_are_checked_before_any_work(flag, tmp_path):
    missing = tmp_path / "no" / "f"
    result = invoke("evaluate", SAMPLE / "airline-passengers.csv", flag, missing, *TINY)
    assert result.exit_code == 2 and f"{flag} directory" in error_line(result.stderr)
    result = invoke("evaluate", SAMPLE / "airline-passengers.csv", flag, "", *TINY)
    assert result.exit_code == 2 and f"{flag} is empty" in error_line(result.stderr)


def test_output_and_plot_may_not_name_the_same_file(monthly_bundle, tmp_path):
    result = invoke("predict", "--model-dir", monthly_bundle, "--output", tmp_path / "f", "--plot", tmp_path / "f")
    assert result.exit_code == 2 and "--output and --plot both name" in error_line(result.stderr)
    assert not (tmp_path / "f").exists()


def test_the_table_format_follows_the_extension(monthly_bundle, tmp_path):
    plain = pd.read_csv(io.StringIO(forecasts(monthly_bundle, "--level", "80").stdout))
    forecasts(monthly_bundle, "--level", "80", "--output", tmp_path / "f.parquet")
    forecasts(monthly_bundle, "--level", "80", "--output", tmp_path / "f.JSON")
    typed = pd.read_parquet(tmp_path / "f.parquet")
    assert list(typed.columns) == ["timestamp", "forecast", "lower_80", "upper_80"]
    np.testing.assert_allclose(typed["forecast"], plain["forecast"], rtol=1e-5)
    assert len(json.loads((tmp_path / "f.JSON").read_text())["forecasts"]) == 12
    forecasts(monthly_bundle, "--output", tmp_path / "forced.txt", "--format", "json")  # --format decides
    assert json.loads((tmp_path / "forced.txt").read_text())["forecasts"]


@pytest.mark.parametrize("flag, name, message", [
    ("--output", "f.xlsx", "tables are written as CSV, JSON or Parquet, not .xlsx. Name a .csv, .json or .parquet file, or give --format."),
    ("--plot", "p.jpg", "plots are drawn as PNG, SVG or PDF, not .jpg. Name a .png, .svg or .pdf file."),
])
def test_an_extension_it_does_not_write_is_refused_before_any_work(monthly_bundle, tmp_path, flag, name, message):
    result = invoke("predict", "--model-dir", monthly_bundle, flag, tmp_path / name)
    assert result.exit_code == 2 and message in error_line(result.stderr)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name, start", [("p.svg", b"<?xml"), ("p.pdf", b"%PDF"), ("p.png", b"\x89PNG")])
def test_the_plot_format_follows_the_extension(monthly_bundle, tmp_path, name, start):
    forecasts(monthly_bundle, "--plot", tmp_path / name, "--output", tmp_path / "f.csv")
    assert (tmp_path / name).read_bytes().startswith(start)


def _data(tmp_path, name="d.csv"):
    """A copy of airline passengers, the input a test proves untouched."""
    path = tmp_path / name
    shutil.copy(SAMPLE / "airline-passengers.csv", path)
    return path


def _refused_as_input(result, flag, name, path, given=None):
    """Exit 2 with the one line naming the input `name` that `flag` would have destroyed; `path`
    as it was before the run."""
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr).endswith(
        f"error: {flag} {str(given or path)!r} is the file this command reads as {name} "
        f"({str(path)!r}); writing it would destroy that input. Name another file.\n")
    assert result.stdout == ""
    assert path.read_bytes() == (SAMPLE / "airline-passengers.csv").read_bytes()


def test_predict_refuses_an_output_that_is_its_data(monthly_bundle, tmp_path):
    data = _data(tmp_path)
    result = invoke("predict", "--model-dir", monthly_bundle, "--data", data, "--output", data)
    _refused_as_input(result, "--output", "--data", data)


def test_detect_refuses_an_output_that_is_its_data_spelled_another_way(monthly_bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _data(tmp_path)
    result = invoke("detect", "d.csv", "--model-dir", monthly_bundle, "--output", "./d.csv", "--quiet")
    assert result.exit_code == 2, result.stderr
    assert "error: --output './d.csv' is the file this command reads as DATA ('d.csv'); writing it would destroy that input." \
        in error_line(result.stderr)
    assert data.read_bytes() == (SAMPLE / "airline-passengers.csv").read_bytes()


def test_evaluate_refuses_an_output_that_links_to_its_data(tmp_path):
    data, link = _data(tmp_path), tmp_path / "link.csv"
    link.symlink_to(data)
    result = invoke("evaluate", data, "--lookback", "12", "--horizon", "12", "--folds", "1", *TINY, "--output", link)
    _refused_as_input(result, "--output", "DATA", data, given=link)
    assert link.is_symlink()


def test_tune_refuses_an_output_that_is_a_hard_link_to_its_data(tmp_path):
    data, twin = _data(tmp_path), tmp_path / "twin.csv"
    os.link(data, twin)
    result = invoke("tune", data, *QUICK, "--trials", "1", "--study", tmp_path / "s.journal", "--output", twin, "--quiet")
    _refused_as_input(result, "--output", "DATA", data, given=twin)
    assert not (tmp_path / "s.journal").exists()


def test_tune_refuses_an_output_that_is_its_study_journal_or_its_config(tmp_path):
    journal, config = tmp_path / "j.journal", tmp_path / "c.toml"
    result = invoke("tune", SAMPLE / "airline-passengers.csv", *QUICK, "--trials", "1", "--study", journal, "--output", journal)
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr).endswith(
        f"error: --output {str(journal)!r} is the file this command reads as --study ({str(journal)!r}); "
        "writing it would destroy that input. Name another file.\n")
    assert not journal.exists()
    config.write_text("epochs = 2\n")
    result = invoke("tune", SAMPLE / "airline-passengers.csv", *QUICK, "--trials", "1", "--study", journal,
                    "--config", config, "--output", config)
    assert result.exit_code == 2 and "is the file this command reads as --config" in error_line(result.stderr)
    assert config.read_text() == "epochs = 2\n" and not journal.exists()


def test_predict_refuses_an_output_inside_the_model_directory(existing):
    before = snapshot(existing)
    target = existing / "current" / "scaler.json"
    result = invoke("predict", "--model-dir", existing, "--output", target)
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr).endswith(
        f"error: --output {str(target)!r} lies inside --model-dir {str(existing)!r}, whose files only training writes "
        "(a file replaced there damages a version). Name a file outside it.\n")
    assert snapshot(existing) == before


def test_train_refuses_a_plot_inside_the_model_directory(existing):
    before = snapshot(existing)
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12", *TINY,
                    "--model-dir", existing, "--plot", existing / "loss.png")
    assert result.exit_code == 2, result.stderr
    assert "error: --plot" in error_line(result.stderr) and "lies inside --model-dir" in error_line(result.stderr)
    assert snapshot(existing) == before and not (existing / "loss.png").exists()


# Series ids a spreadsheet would run as formulas, and a target that goes below zero.
FORMULA_IDS = ["=1+2*cmd|' /C calc'!A0", "+SUM(1)", "@HYPERLINK(\"http://x\")", "-2+3"]


def test_csv_cells_a_spreadsheet_would_run_as_formulas_are_led_by_a_quote(tmp_path):
    air = pd.read_csv(SAMPLE / "airline-passengers.csv")
    air["Passengers"] -= 300  # negative numbers stay numbers
    panel = pd.concat([air.assign(**{"@series": name}) for name in FORMULA_IDS])
    data = tmp_path / "panel.csv"
    panel.to_csv(data, index=False)
    model = tmp_path / "model"
    trained = invoke("train", data, "--id-col", "@series", "--lookback", "12", "--horizon", "6", "--model-dir", model, *TINY)
    assert trained.exit_code == 0, trained.stderr
    for command in (["predict"], ["detect", data]):
        out = tmp_path / "out.csv"
        result = invoke(*command, "--model-dir", model, "--output", out, "--quiet")
        assert result.exit_code == 0, result.stderr
        written = pd.read_csv(out, dtype={"'@series": str})
        assert written.columns[0] == "'@series"
        assert set(written["'@series"]) == {"'" + name for name in FORMULA_IDS}
        assert not out.read_text().count("'-") - out.read_text().count("'-2+3")  # no number is quoted
        if command[0] == "detect":
            first = written[written["'@series"] == "'-2+3"].set_index("timestamp")["actual"]
            first.index = pd.to_datetime(first.index)
            expected = air.set_index(pd.to_datetime(air["Month"]))["Passengers"].reindex(first.index)
            assert (first < 0).any() and (first == expected).all()


def test_a_log_file_that_is_an_input_or_inside_the_model_directory_is_refused_before_a_line_is_appended(existing, tmp_path):
    before = snapshot(existing)
    inside = existing / "current" / "metadata.json"
    for args in (["predict", "--model-dir", existing], ["models", "use", "--model-dir", existing, (existing / "current").resolve().name]):
        result = invoke("--log-file", inside, *args)
        assert result.exit_code == 2, result.stderr
        assert f"error: --log-file {str(inside)!r} lies inside --model-dir" in error_line(result.stderr)
        assert snapshot(existing) == before
    data = tmp_path / "airline.csv"
    data.write_bytes((SAMPLE / "airline-passengers.csv").read_bytes())
    result = invoke("--log-file", data, "predict", "--model-dir", existing, "--data", data)
    assert result.exit_code == 2 and "is the file this command reads as --data" in error_line(result.stderr)
    assert data.read_bytes() == (SAMPLE / "airline-passengers.csv").read_bytes()
    # A log file elsewhere is appended to as before.
    logged = invoke("--log-file", tmp_path / "run.log", "predict", "--model-dir", existing)
    assert logged.exit_code == 0 and "forecast 12 steps" in (tmp_path / "run.log").read_text()


def test_output_or_plot_and_the_log_file_cannot_name_one_file(monthly_bundle, tmp_path):
    log = tmp_path / "nightly.log"
    log.write_text("old history\n")
    for args in (["--output", log], ["--plot", log.with_suffix(".png")]):
        target = args[1]
        if target != log:
            target.write_text("old history\n")
        result = invoke("--log-file", target, "predict", "--model-dir", monthly_bundle, *args)
        assert result.exit_code == 2, result.stderr
        assert f"{args[0]} and --log-file both name {str(target)!r}" in error_line(result.stderr)
        assert target.read_text() == "old history\n"



@pytest.mark.parametrize("cell, written", [
    (" =1+1", "' =1+1"), ("  @SUM(A1)", "'  @SUM(A1)"), ("-5", "-5"), ("-1.5e3", "-1.5e3"), ("plain", "plain"), (3.5, 3.5),
])
def test_a_formula_behind_leading_spaces_is_led_by_a_quote_and_numbers_are_not(cell, written):
    from forecast.cli.output import _formula_safe

    assert _formula_safe(cell) == written


def test_evaluate_refuses_an_output_inside_any_model_directory_and_a_log_file_linked_into_one(existing, tmp_path):
    """evaluate takes no --model-dir, yet its output may land in one; a hard link to a bundle file
    or a symlink into the directory is a way in too. Nothing there is written or created."""
    before = snapshot(existing)
    inside = existing / "current" / "metadata.json"
    result = invoke("evaluate", SAMPLE / "airline-passengers.csv", "--output", inside, *TINY)
    assert result.exit_code == 2
    assert f"error: --output {str(inside)!r} lies inside the model directory {str(existing.resolve())!r}" in \
        error_line(result.stderr)
    linked = tmp_path / "hard.log"
    os.link(inside.resolve(), linked)
    result = invoke("--log-file", linked, "predict", "--model-dir", existing)
    assert result.exit_code == 2 and "lies inside --model-dir" in error_line(result.stderr)
    dangling = tmp_path / "dangling.log"
    dangling.symlink_to(existing / "new.log")
    result = invoke("--log-file", dangling, "predict", "--model-dir", existing)
    assert result.exit_code == 2 and dangling.is_symlink()
    assert snapshot(existing) == before


def test_csv_to_a_terminal_shows_control_characters_in_names_as_escapes(monkeypatch, capsys):
    import io
    import sys

    from forecast.cli import output

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    output.emit("id,forecast\nA\x1b[31mRED,1\n", None, None, "")
    assert terminal.getvalue() == "id,forecast\nA\\x1b[31mRED,1\n"
