"""`train --warm-start`: from the current version's weights where its network fits, else from scratch with a note."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tests.conftest import SAMPLE, TINY, invoke

AIRLINE = ["--lookback", "12", "--horizon", "12"]  # the monthly bundle's options, besides TINY
NOTED = [option for option in TINY if option != "--quiet"]  # the notes on stderr


def _current(model_dir):
    from forecast.store.versions import Store

    store = Store(str(model_dir))
    return store.current_id(), store.open(store.current_id())


def test_a_warm_start_begins_from_the_current_version_s_weights_and_records_it(existing, tmp_path):
    before, bundle = _current(existing)
    old = bundle.load_model().get_weights()
    # Another seed would draw other initial weights; a step too small to move them shows where training began.
    result = invoke("train", SAMPLE / "airline-passengers.csv", *AIRLINE, "--model-dir", existing, *NOTED,
                    "--seed", "7", "--epochs", "1", "--learning-rate", "1e-9", "--warm-start", "--json")
    assert result.exit_code == 0, result.stderr
    assert f"warm start: training the revin network on from version {before}'s weights" in result.stderr
    record = json.loads(result.stdout)
    assert record["warm_start"] == before
    from forecast.store.versions import Store

    new = Store(str(existing)).open(record["version"])
    assert new.metadata.warm_start == before
    assert json.loads((new.path / "metadata.json").read_text())["warm_start"] == before
    for was, now in zip(old, new.load_model().get_weights(), strict=True):
        np.testing.assert_allclose(now, was, atol=1e-6)
    info = invoke("info", "--model-dir", existing, "--model-version", record["version"])
    assert f"warm-started from version {before}" in info.stdout


def test_a_warm_start_never_keeps_an_epoch_worse_on_validation_than_the_weights_it_began_from(existing):
    before, bundle = _current(existing)
    old = bundle.load_model().get_weights()
    # A step so large that every epoch lands far from the fit: early stopping keeps the start.
    result = invoke("train", SAMPLE / "airline-passengers.csv", *AIRLINE, "--model-dir", existing, *TINY,
                    "--epochs", "2", "--learning-rate", "5", "--clipnorm", "1000", "--warm-start", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["metrics"]["best_epoch"] == 0
    from forecast.store.versions import Store

    new = Store(str(existing)).open(record["version"])
    for was, now in zip(old, new.load_model().get_weights(), strict=True):
        np.testing.assert_array_equal(now, was)
    assert "(no epoch beat its weights)" in invoke("train", SAMPLE / "airline-passengers.csv", *AIRLINE, "--model-dir", existing,
                                                   *TINY, "--epochs", "2", "--learning-rate", "5", "--clipnorm", "1000",
                                                   "--warm-start").stdout


@pytest.mark.parametrize("changed, note", [
    (["--lookback", "6"], "lookback: 12 there, 6 here"),
    (["--cell", "gru"], "cell: lstm there, gru here"),
    (["--window-norm", "seasonal"], "window norm: revin there, seasonal here"),
])
def test_a_current_version_that_does_not_fit_gives_a_fresh_start_with_a_note(existing, changed, note):
    before, _ = _current(existing)
    options = [*AIRLINE, *NOTED]
    at = options.index(changed[0]) if changed[0] in options else None
    if at is not None:
        options[at + 1] = changed[1]
    else:
        options += changed
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", existing, *options, "--warm-start", "--json")
    assert result.exit_code == 0, result.stderr
    assert f"warm start: version {before} does not fit this run ({note}); training from scratch" in result.stderr
    assert json.loads(result.stdout)["warm_start"] is None


def test_with_no_current_version_a_warm_start_trains_from_scratch(tmp_path):
    result = invoke("train", SAMPLE / "airline-passengers.csv", *AIRLINE, "--model-dir", tmp_path / "new", *NOTED,
                    "--warm-start", "--json")
    assert result.exit_code == 0, result.stderr
    assert "warm start: there is no readable current version to start from; training from scratch" in result.stderr
    assert json.loads(result.stdout)["warm_start"] is None


def test_the_options_that_change_what_the_weights_mean_are_each_a_mismatch(monthly_bundle):
    from forecast.config import DataConfig, TrainConfig
    from forecast.data.load import load_panel
    from forecast.model.fit import Selection, prepare
    from forecast.store.versions import Store
    from forecast.warm import mismatch

    store = Store(str(monthly_bundle))
    meta = store.open(store.current_id()).metadata
    panel = load_panel(DataConfig(path=str(SAMPLE / "airline-passengers.csv")))
    same = dict(lookback=12, horizon=12, layers=2, units=8, window_norm="revin")
    assert mismatch(meta, prepare(panel, TrainConfig(**same, dropout=0.5, learning_rate=0.1, seed=3))) is None
    for option, value, note in [("horizon", 6, "horizon: 12 there, 6 here"), ("layers", 1, "layers: 2 there, 1 here"),
                                ("units", 4, "units: 8 there, 4 here"), ("linear_path", True, "linear path: False there, True here"),
                                ("target_transform", "log", "target transform: none there, log here"),
                                ("cycle_inputs", "none", "date inputs: (month_of_year_sin, month_of_year_cos) there, (none) here")]:
        assert mismatch(meta, prepare(panel, TrainConfig(**{**same, option: value}))) == note
    auto = prepare(panel, TrainConfig(**{**same, "window_norm": "auto"}))
    assert mismatch(meta, auto) is None  # auto goes on with the network the version kept
    baseline = dataclasses.replace(meta, selection=Selection("seasonal naive", {"revin": 30.0, "seasonal naive": 20.0}))
    assert mismatch(baseline, auto) == "it kept the seasonal naive baseline, which has no trained network"


def test_promotion_refuses_a_warm_start_that_does_worse_than_the_current_version(tmp_path):
    from forecast.store.versions import Store

    model_dir = tmp_path / "model"
    options = [*AIRLINE, *TINY[: TINY.index("--window-norm")], "--window-norm", "none", *TINY[TINY.index("--window-norm") + 2 :]]
    assert invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", model_dir, *options).exit_code == 0
    before = Store(str(model_dir)).current_id()
    # The first six years alone: the scaler refitted on them reads the same rows at another scale,
    # which the weights, not moved by a vanishing step, were not trained for (no window norm undoes it).
    head = tmp_path / "six-years.csv"
    head.write_text("".join((SAMPLE / "airline-passengers.csv").read_text().splitlines(keepends=True)[:73]))
    result = invoke("train", head, "--model-dir", model_dir, *options, "--epochs", "1", "--learning-rate", "1e-9",
                    "--warm-start", "--json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["warm_start"] == before
    assert record["current"] is False
    assert record["promotion"]["reason"].startswith("worse than the current version")
    assert record["promotion"]["model_mae"] > record["promotion"]["current_mae"]
    assert Store(str(model_dir)).current_id() == before


def test_a_config_file_turns_the_warm_start_on_for_a_cron_line(existing, tmp_path):
    before, _ = _current(existing)
    config = tmp_path / "nightly.toml"
    config.write_text("warm-start = true\nlookback = 12\nhorizon = 12\n")
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--config", config, "--model-dir", existing,
                    *TINY, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["warm_start"] == before
    saved = (existing / "versions" / json.loads(result.stdout)["version"] / "config.toml").read_text()
    assert "warm-start = true" in saved
