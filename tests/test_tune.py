"""`forecast tune`: the search, its journal and the options file it writes."""

from __future__ import annotations

import fcntl
import json
import re
import signal
import tomllib

import pandas as pd
import pytest

from conftest import SAMPLE, error_line, invoke
from test_unattended import start, wait_for

# Tiny trials: each fold trains one or two networks of a few epochs on airline passengers.
QUICK = ["--horizon", "6", "--epochs", "2", "--patience", "1", "--batch-size", "16", "--interval-refits", "0",
         "--folds", "2", "--holdout", "12"]
ODD_NAMES = ['Month\n"q"\\\x01', 'Passengers\r\n\x1b[31m']  # the airline file's columns, renamed


def tune(tmp_path, data=SAMPLE / "airline-passengers.csv", *extra):
    study, output = tmp_path / "search.journal", tmp_path / "best.toml"
    return invoke("tune", data, *QUICK, "--study", study, "--output", output, *extra), study, output


def rows(stdout: str) -> list[list[str]]:
    """The results table's rows: trial, state, MASE, seconds, options."""
    body = stdout.split("\n\n")[0].splitlines()[1:]
    return [re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in body]


def scores(table: list[list[str]]) -> list[tuple[str, str, str]]:
    """Each trial's state, MASE and options: what a search decides, without its times and numbers."""
    return [(row[1], row[2], row[4]) for row in table]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """One search of two trials, its journal and options file; the data's columns are named with a
    line break, a quote, a backslash and a control character, which best.toml must escape."""
    tmp_path = tmp_path_factory.mktemp("tune")
    data = tmp_path / "airline.csv"
    pd.read_csv(SAMPLE / "airline-passengers.csv").set_axis(ODD_NAMES, axis=1).to_csv(data, index=False)
    result, study, output = tune(tmp_path, data, "--time-col", ODD_NAMES[0], "--target", ODD_NAMES[1], "--trials", "2")
    assert result.exit_code == 0, result.stderr
    return result, study, output, tmp_path


def test_the_search_reports_every_trial_and_writes_the_best_options_which_train_reads(searched, tmp_path):
    result, _, output, _ = searched
    table = rows(result.stdout)
    assert [row[0].rstrip(" *") for row in table] == ["0", "1"]
    assert all(row[1] in ("complete", "pruned", "failed") for row in table)
    # The first trial is the options as given: the defaults of what was not set.
    assert table[0][4] == "lookback 24, lstm 2x64, dropout 0.2, lr 0.001, window norm auto"
    best = next(row for row in table if row[0].endswith("*"))
    assert float(best[2]) == min(float(row[2]) for row in table if row[1] == "complete")
    options = tomllib.loads(output.read_text())
    assert (options["time-col"], options["target"]) == tuple(ODD_NAMES)
    assert options["horizon"] == 6 and options["epochs"] == 2 and options["seed"] == 42
    assert {"lookback", "cell", "layers", "units", "dropout", "learning-rate", "window-norm"} <= set(options)
    assert output.read_text().startswith(f"# forecast tune: trial {best[0].rstrip(' *')} of 2, mean validation MASE")

    trained = invoke("train", output.parent / "airline.csv", "--config", output, "--model-dir", tmp_path / "model", "--json")
    assert trained.exit_code == 0, trained.stderr
    from forecast.store.versions import Store

    store = Store(str(tmp_path / "model"))
    config = store.open(store.current_id()).metadata.config
    saved = tomllib.loads((store.resolve() / "config.toml").read_text(encoding="utf-8"))
    assert (saved["time-col"], saved["target"]) == tuple(ODD_NAMES)  # the version's own copy reads back too
    assert config.lookback == options["lookback"] and config.cell.value == options["cell"]
    assert config.units == options["units"] and config.learning_rate == options["learning-rate"]


def test_the_search_never_reads_the_held_out_rows(searched, tmp_path):
    result, _, _, _ = searched
    frame = pd.read_csv(SAMPLE / "airline-passengers.csv")
    frame.loc[len(frame) - 12 :, "Passengers"] = 10_000  # the holdout, made absurd
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)
    again, _, _ = tune(tmp_path, changed, "--trials", "2")
    assert again.exit_code == 0, again.stderr
    assert scores(rows(again.stdout)) == scores(rows(result.stdout))


def test_a_search_stopped_by_sigterm_resumes_where_it_stopped_and_proposes_the_same_trials(searched, tmp_path):
    result, _, _, _ = searched
    study, output = tmp_path / "search.journal", tmp_path / "best.toml"
    args = ["tune", SAMPLE / "airline-passengers.csv", *QUICK, "--study", study, "--output", output, "--trials", "2"]
    process = start(*args)
    wait_for(process, r"trial 0: .*MASE")  # one trial done, the next under way
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143
    assert f"the finished trials are in {study}: run the same command to resume the search" in stderr
    assert not output.exists()
    resumed = invoke(*args)
    assert resumed.exit_code == 0, resumed.stderr
    # The interrupted trial ran again; the finished ones match an uninterrupted search's.
    assert scores(rows(resumed.stdout)) == scores(rows(result.stdout))


def test_a_budget_stops_the_trial_under_way_which_runs_again_on_resume(searched, tmp_path):
    result, _, _, _ = searched
    study, output = tmp_path / "search.journal", tmp_path / "best.toml"
    args = ["tune", SAMPLE / "airline-passengers.csv", *QUICK, "--study", study, "--output", output]
    cut = invoke(*args, "--budget", "0.1s")  # over before the first trial's first batch ends
    assert cut.exit_code == 2
    assert "tune: the budget ran out during trial 0; it runs again first when the search resumes" in cut.stderr
    assert cut.stderr.splitlines()[-1].endswith(
        "error: --budget ran out before any trial finished (trial 0 was stopped; it runs again first when the search "
        "resumes). Give a longer --budget, or run the same command again to go on.")
    assert not output.exists()
    resumed = invoke(*args, "--trials", "2")
    assert resumed.exit_code == 0, resumed.stderr
    assert scores(rows(resumed.stdout)) == scores(rows(result.stdout))


def test_a_journal_of_another_search_is_refused_with_the_fix(searched):
    _, study, _, tmp_path = searched
    before = study.read_bytes()
    result = invoke("tune", SAMPLE / "airline-passengers.csv", *QUICK, "--lookback", "8", "--study", study,
                    "--output", tmp_path / "other.toml", "--trials", "1", "--quiet")
    assert result.exit_code == 2
    assert "holds a search with other data or options. Give another --study file" in error_line(result.stderr)
    assert study.read_bytes() == before and not (tmp_path / "other.toml").exists()


def test_a_journal_another_search_holds_is_refused_as_busy(searched):
    _, study, _, tmp_path = searched
    with open(study, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = invoke("tune", SAMPLE / "airline-passengers.csv", *QUICK, "--study", study, "--output", tmp_path / "x.toml",
                        "--trials", "4", "--quiet")
    assert result.exit_code == 75
    assert "another tune is searching with the --study journal" in error_line(result.stderr)


@pytest.mark.parametrize("extra, message", [
    (["--budget", "0"], "a duration is a positive number of seconds or one such as 90s, 20m, 1.5h or 1h30m; received '0'"),
    (["--budget", "soon"], "received 'soon'"),
    (["--trials", "0"], "--trials must be a whole number of at least 1. Received: 0."),
    (["--holdout", "200"], "--holdout 200 is as long as the series"),
    (["--folds", "20"], "the earliest of 20 tuning folds leaves"),
    (["--output", "-"], "--output must name a file for the TOML options, not -."),
])
def test_options_a_search_cannot_use_are_refused_before_any_trial(tmp_path, extra, message):
    given = [*QUICK, "--study", str(tmp_path / "s.journal"), "--output", str(tmp_path / "best.toml")]
    result = invoke("tune", SAMPLE / "airline-passengers.csv", *_override(given, extra))
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "best.toml").exists()


def test_a_study_path_that_is_not_a_journal_is_refused(tmp_path):
    not_journal = tmp_path / "data.csv"
    not_journal.write_text("a,b\n1,2\n")
    result = invoke("tune", SAMPLE / "airline-passengers.csv", *QUICK, "--study", not_journal, "--output", tmp_path / "b.toml",
                    "--quiet")
    assert result.exit_code == 2, result.stderr
    assert "is not a tune journal" in error_line(result.stderr)
    assert not_journal.read_text() == "a,b\n1,2\n"


@pytest.fixture(scope="module")
def small_search(tmp_path_factory):
    """A search of two cheap trials: its arguments and journal, which the tests below copy and damage."""
    tmp_path = tmp_path_factory.mktemp("journal")
    args = ["tune", SAMPLE / "airline-passengers.csv", *QUICK, "--window-norm", "revin", "--units", "8", "--trials", "2"]
    result = invoke(*args, "--study", tmp_path / "s.journal", "--output", tmp_path / "best.toml")
    assert result.exit_code == 0, result.stderr
    return result, args, (tmp_path / "s.journal").read_bytes()


def test_a_torn_last_line_of_the_journal_is_cut_away_and_the_trials_before_it_kept(small_search, tmp_path):
    result, args, whole = small_search
    last = whole[:-1].rsplit(b"\n", 1)[1]  # trial 1's completion
    start = len(whole) - 1 - len(last)
    study = tmp_path / "s.journal"
    study.write_bytes(whole[: start + len(last) // 2])  # what a kill during that append leaves
    resumed = invoke(*args, "--study", study, "--output", tmp_path / "best.toml")
    assert resumed.exit_code == 0, resumed.stderr
    assert (f"tune: ignored a torn last line of the journal ({len(last) // 2} bytes), left by an interrupted run"
            in resumed.stderr)
    assert scores(rows(resumed.stdout))[0] == scores(rows(result.stdout))[0]  # trial 0 as it finished
    kept = study.read_bytes()
    assert kept.startswith(whole[:start]) and all(json.loads(line) for line in kept.splitlines())
    again = invoke(*args, "--study", study, "--output", tmp_path / "best.toml")  # and it resumes again
    assert again.exit_code == 0, again.stderr


def test_a_journal_damaged_before_its_last_line_is_refused_and_left_as_it_was(small_search, tmp_path):
    _, args, whole = small_search
    lines = whole.split(b"\n")
    lines[2] = lines[2][:10]
    study = tmp_path / "s.journal"
    study.write_bytes(b"\n".join(lines))
    result = invoke(*args, "--study", study, "--output", tmp_path / "best.toml", "--quiet")
    assert result.exit_code == 2, result.stderr
    assert error_line(result.stderr).endswith(
        f"error: --study {str(study)!r} is damaged: line 3 of {len(lines) - 1} is not a journal record; nothing was "
        "written to it. Restore it from a copy, keep the trials before the damage (head -n 2), or give another "
        "--study file.\n")
    assert study.read_bytes() == b"\n".join(lines) and not (tmp_path / "best.toml").exists()


def _override(options: list[str], extra: list[str]) -> list[str]:
    """`options` with the flags in `extra` set to extra's values (added when absent)."""
    out = list(options)
    for flag, value in zip(extra[::2], extra[1::2]):
        if flag in out:
            out[out.index(flag) + 1] = value
        else:
            out += [flag, value]
    return out


def test_a_journal_on_a_full_disk_is_one_error_and_its_trials_are_kept(small_search, tmp_path, monkeypatch):
    import errno
    import importlib

    from optuna.storages.journal import JournalFileBackend

    result, args, whole = small_search
    study = tmp_path / "s.journal"
    study.write_bytes(whole)
    journal_io = importlib.import_module(JournalFileBackend.__module__).os

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(journal_io, "fsync", full)  # the disk refuses the next append
    more = [*args[:-1], "3"]  # a third trial: the journal must grow
    refused = invoke(*more, "--study", study, "--output", tmp_path / "best.toml")
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.splitlines()[-1].endswith(
        f"error: cannot append to the tune journal {str(study)!r} (no space left on device); the trials it holds are "
        "kept. Free space there (df -h; df -i for inodes) and retry, or use another --study.")
    assert "Traceback" not in refused.stderr and study.read_bytes().startswith(whole)
    monkeypatch.undo()
    resumed = invoke(*more, "--study", study, "--output", tmp_path / "best.toml")
    assert resumed.exit_code == 0, resumed.stderr
    assert scores(rows(resumed.stdout))[:2] == scores(rows(result.stdout))[:2]
