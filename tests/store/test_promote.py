import re
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLE, TINY, error_line, invoke
from forecast.config import Promote
from forecast.store.promote import Scores, decide, judge
from forecast.store.versions import Store


@pytest.mark.parametrize("new, old, naive, policy, promoted, why", [
    (1.0, 2.0, 3.0, Promote.if_better, True, "better than the current version"),
    (2.0, 2.0, 3.0, Promote.if_better, True, "as good as the current version"),
    # An identical retrain rescored in another process: the same score, not a worse one.
    (14.992129183, 14.992128610, 82.0, Promote.if_better, True, "as good as the current version"),
    (14.9922, 14.9921, 82.0, Promote.if_better, False, "worse than the current version"),
    (2.5, 2.0, 3.0, Promote.if_better, False, "worse than the current version"),
    (2.5, 2.0, 3.0, Promote.always, True, "--promote always"),
    (3.5, 2.0, 3.0, Promote.always, False, "does not beat the naive baseline and the current version does"),
    (3.5, 4.0, 3.0, Promote.if_better, True, "better than"),  # neither beats naive: the better one serves
])
def test_promotion_rules(new, old, naive, policy, promoted, why):
    scores = Scores(model_mae=new, current_mae=old, naive_mae=naive, windows=10, steps=3)
    verdict = decide(scores, policy)
    assert verdict.promote is promoted and why in verdict.reason and verdict.scores == scores
    record = verdict.record(policy, "v1").to_dict()
    assert record == {"policy": policy.value, "promoted": promoted, "reason": verdict.reason, "against": "v1",
                      "model_mae": new, "current_mae": old, "naive_mae": naive, "windows": 10, "steps": 3}


@pytest.mark.parametrize("new, old, promoted, why", [
    (float("nan"), 2.0, False, "its holdout forecasts are not finite"),
    (1.0, float("inf"), True, "the current version's holdout forecasts are not finite"),
])
def test_forecasts_that_are_not_numbers_never_win(new, old, promoted, why):
    verdict = decide(Scores(new, old, 3.0, 10, 3), Promote.always)
    assert verdict.promote is promoted and why in verdict.reason


def test_the_first_version_is_always_promoted():
    verdict = judge(None, None, Promote.if_better)
    assert verdict.promote and verdict.reason == "first version in this directory" and verdict.scores is None


JUNK = ["--window-norm", "none", "--learning-rate", "1e-7", "--epochs", "1"]  # forecasts near the data's minimum


def train(model_dir, *extra):
    args = ["train", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12", "--model-dir", model_dir, *TINY]
    return invoke(*args, *extra)


def test_a_worse_model_stays_a_candidate_and_a_better_one_takes_over(monthly_bundle, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(monthly_bundle, model_dir, symlinks=True)
    store = Store(model_dir)
    (good,) = store.ids()

    worse = train(model_dir, *JUNK)
    assert worse.exit_code == 0, worse.stderr
    assert "candidate, not current" in worse.stdout
    junk = store.ids()[-1]
    assert store.current_id() == good and junk != good
    meta = __import__("json").loads((store.path_of(junk) / "metadata.json").read_text())["promotion"]
    assert meta["promoted"] is False and meta["against"] == good and meta["model_mae"] > meta["current_mae"]

    listed = invoke("models", "list", "--model-dir", model_dir)
    assert re.search(rf"\*\s+{good}.*current", listed.stdout) and re.search(rf"{junk}.*candidate", listed.stdout)

    rolled = invoke("models", "use", junk, "--model-dir", model_dir)  # forward to the candidate...
    assert rolled.exit_code == 0 and store.current_id() == junk
    retrained = train(model_dir)  # ...and the same good training beats it again
    assert retrained.exit_code == 0, retrained.stderr
    assert store.current_id() == store.ids()[-1] and "(current)" in retrained.stdout

    back = invoke("models", "use", good, "--model-dir", model_dir)  # roll back
    assert back.exit_code == 0 and store.current_id() == good
    predicted = invoke("predict", "--model-dir", model_dir, "--model-version", junk, "--quiet")
    assert predicted.exit_code == 0 and predicted.stdout != invoke("predict", "--model-dir", model_dir, "--quiet").stdout
    old_spelling = invoke("predict", "--model-dir", model_dir, "--version", junk)  # the spelling before, for a release
    assert old_spelling.exit_code == 0 and old_spelling.stdout == predicted.stdout
    assert "warning: --version here is now --model-version" in old_spelling.stderr

    newest = store.ids()[-1]
    assert len(store.ids()) == 3
    pruned = invoke("models", "prune", "--keep", "1", "--model-dir", model_dir)
    assert pruned.exit_code == 0
    assert store.ids() == [good, newest] and store.current_id() == good  # the newest, and the current


def test_models_commands_refuse_unknown_versions(monthly_bundle):
    result = invoke("models", "use", "nope", "--model-dir", monthly_bundle)
    assert result.exit_code == 2 and "--version 'nope' is not in" in error_line(result.stderr)
    result = invoke("models", "prune", "--keep", "0", "--model-dir", monthly_bundle)
    assert result.exit_code == 2 and "--keep must be at least 1" in error_line(result.stderr)


def test_the_holdout_is_the_validation_windows_scored_as_training_scored_them(tmp_path):
    import json

    model_dir = tmp_path / "model"
    assert train(model_dir).exit_code == 0
    again = train(model_dir)  # the same data, options and seed: the same model
    assert again.exit_code == 0
    meta = json.loads((model_dir / "current" / "metadata.json").read_text())
    scores, metrics = meta["promotion"], meta["metrics"]
    assert scores["promoted"] and scores["reason"].startswith("as good as the current version")
    assert scores["model_mae"] == pytest.approx(scores["current_mae"], rel=1e-9)
    assert scores["model_mae"] == pytest.approx(metrics["val_mae"], rel=1e-6)
    assert scores["naive_mae"] == pytest.approx(metrics["naive_mae"], rel=1e-12)
    assert scores["windows"] == metrics["val_windows"] and scores["steps"] == 12


def panel_csv(path, series=("A", "B"), promo=True):
    """Monthly passengers as a long file of `series` (each a scaled copy of airline passengers),
    with a 0/1 `promo` column that a run may read or not."""
    import pandas as pd

    airline = pd.read_csv(SAMPLE / "airline-passengers.csv")
    frames = []
    for number, key in enumerate(series):
        frame = pd.DataFrame({"Month": airline["Month"], "store": key,
                              "Passengers": airline["Passengers"] * (1 + 0.5 * number)})
        if promo:
            frame["promo"] = (pd.RangeIndex(len(frame)) % 3 == 0).astype(int)
        frames.append(frame)
    pd.concat(frames).to_csv(path, index=False)
    return path


def promotion(model_dir, version):
    import json

    return json.loads((Store(model_dir).path_of(version) / "metadata.json").read_text())["promotion"]


def test_a_run_reading_more_columns_is_scored_against_the_current_version(tmp_path):
    data, model_dir = panel_csv(tmp_path / "sales.csv", series=("A",)), tmp_path / "model"
    common = ["--target", "Passengers", "--lookback", "12", "--horizon", "12", "--model-dir", model_dir, *TINY]
    first = invoke("train", data, *common)
    assert first.exit_code == 0, first.stderr
    added = invoke("train", data, "--features", "promo", *common, *JUNK)
    assert added.exit_code == 0, added.stderr
    store = Store(model_dir)
    record = promotion(model_dir, store.ids()[-1])
    assert "cannot be scored" not in record["reason"] and record["current_mae"] is not None
    assert record["promoted"] is False and record["model_mae"] > record["current_mae"], record

    # The reverse: the current version reads promo, tonight's run does not; the file still holds it.
    invoke("models", "use", store.ids()[-1], "--model-dir", model_dir)
    dropped = invoke("train", data, *common)
    assert dropped.exit_code == 0, dropped.stderr
    record = promotion(model_dir, store.ids()[-1])
    assert "holdout MAE" in record["reason"] and record["current_mae"] is not None, record


def test_a_file_that_lost_a_series_does_not_drop_it_from_what_is_served(tmp_path):
    both, model_dir = panel_csv(tmp_path / "both.csv"), tmp_path / "model"
    common = ["--id-col", "store", "--target", "Passengers", "--lookback", "12", "--horizon", "12", "--model-dir", model_dir, *TINY]
    assert invoke("train", both, *common).exit_code == 0
    store = Store(model_dir)
    serving = store.current_id()

    only_a = invoke("train", panel_csv(tmp_path / "a.csv", series=("A",)), *common)
    assert only_a.exit_code == 0, only_a.stderr
    assert store.current_id() == serving
    reason = promotion(model_dir, store.ids()[-1])["reason"]
    assert "does not know series B" in reason and "--promote always" in reason
    served = invoke("predict", "--model-dir", model_dir, "--quiet")
    assert served.exit_code == 0 and "\nB," in served.stdout and "\nA," in served.stdout

    on_purpose = invoke("train", tmp_path / "a.csv", *common, "--promote", "always")
    assert on_purpose.exit_code == 0 and store.current_id() == store.ids()[-1]


def test_a_file_that_gained_a_series_is_scored_on_the_series_both_know(tmp_path):
    model_dir = tmp_path / "model"
    common = ["--id-col", "store", "--target", "Passengers", "--lookback", "12", "--horizon", "12", "--model-dir", model_dir, *TINY]
    assert invoke("train", panel_csv(tmp_path / "a.csv", series=("A",)), *common).exit_code == 0
    gained = invoke("train", panel_csv(tmp_path / "both.csv"), *common, *JUNK)
    assert gained.exit_code == 0, gained.stderr
    record = promotion(model_dir, Store(model_dir).ids()[-1])
    assert record["promoted"] is False and record["model_mae"] > record["current_mae"], record


def test_a_version_that_does_not_read_back_is_never_saved(existing, monkeypatch):
    """A bundle damaged while it is written (here its network file cut short after the manifest,
    as a failing disk might) is read back as predict reads it, refused, and removed."""
    from forecast import train as pipeline
    from forecast.store import bundle as bundles

    real = bundles.write_bundle

    def write_then_damage(directory, *args, **kwargs):
        real(directory, *args, **kwargs)
        path = Path(directory) / "model.tflite"
        path.write_bytes(path.read_bytes()[:100])

    monkeypatch.setattr(pipeline, "write_bundle", write_then_damage)
    store = Store(existing)
    before = (store.ids(), store.current_id())
    result = train(existing)
    assert result.exit_code == 2
    line = error_line(result.stderr)
    assert "does not read back as predict would read it" in line and "stays current" in line
    assert (store.ids(), store.current_id()) == before
    assert not [p for p in (existing / "versions").iterdir() if p.name.startswith(".")]


class Interrupted(BaseException):
    """What a kill leaves a run: nothing more of it runs (a BaseException, as KeyboardInterrupt)."""


NIGHT_OPTIONS = dict(id_col="store", target="Passengers", lookback=12, horizon=12, layers=1, units=4, epochs=2,
                     patience=2, batch_size=16, window_norm="revin", interval_refits=0)
CRIPPLED = dict(window_norm="none", learning_rate=1e-7, epochs=1)
COUNTS = {"runs": 0, "nights": 0, "promoted": 0, "kept": 0, "killed": 0}


def _night():
    from hypothesis import strategies as st

    # (series in tonight's file, whether the run reads promo, crippled, --promote always, the log line a kill comes at)
    return st.tuples(st.sampled_from([("A", "B"), ("A",), ("A", "B", "C"), ("B", "C")]), st.booleans(),
                     st.booleans(), st.booleans(), st.none() | st.integers(0, 5))


def _nights_test():
    from hypothesis import HealthCheck, example, given, settings, strategies as st

    plain = (("A", "B"), False, False, False, None)
    covering = [plain, plain,  # an identical rerun
                (("A", "B"), True, False, False, None),  # a feature added
                (("A", "B"), False, False, False, None),  # and dropped again
                (("A",), False, False, False, None),  # a series missing
                (("A", "B", "C"), False, True, False, None),  # a series gained, a crippled run
                (("A", "B"), False, False, False, 2),  # killed while training
                (("A", "B"), True, False, False, 3),  # killed once its version is written, before promotion
                (("A",), False, False, True, None)]  # a series dropped on purpose

    @settings(max_examples=1, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @example(nights=covering)
    @given(nights=st.lists(_night(), min_size=5, max_size=5))
    def property_holds(tmp_path_factory, nights):
        run_nights(tmp_path_factory.mktemp("nights"), nights)

    return property_holds


def run_nights(directory, nights):
    """The first version on A and B, then each night in turn, checking after each that current
    forecasts through predict's reader, knows every series it knew (unless --promote always was
    given), and was replaced only by a version that scored at least as well against it."""
    from forecast.api import train as api_train
    from forecast.predict import predict

    model_dir = directory / "model"
    store = Store(model_dir)
    api_train(panel_csv(directory / "night.csv"), model_dir=model_dir, **NIGHT_OPTIONS)
    served = {"A", "B"}
    COUNTS["runs"] += 1
    for series, promo, cripple, always, kill_at in nights:
        COUNTS["nights"] += 1
        before, lines = store.current_id(), []

        def log(message):
            lines.append(message)
            if kill_at is not None and len(lines) > kill_at:
                raise Interrupted

        options = {**NIGHT_OPTIONS, **(CRIPPLED if cripple else {}), "features": ("promo",) if promo else ()}
        try:
            result = api_train(panel_csv(directory / "night.csv", series=series), model_dir=model_dir,
                               promote="always" if always else "if-better", log=log, **options)
        except Interrupted:
            COUNTS["killed"] += 1
            result = None
        now = store.current_id()
        frame = predict(str(model_dir)).frame  # current, through predict's own reader
        known, served = served, set(frame["store"])
        if result is None or not always:
            assert served >= known, (series, known, served)
        if now == before:
            COUNTS["kept"] += 1
            continue
        COUNTS["promoted"] += 1
        # A killed run becomes current only where the kill came after it was made so.
        assert result.version_id == now if result else any(line.startswith(f"version {now} is now current") for line in lines)
        record = promotion(model_dir, now)
        assert record["promoted"] and record["against"] == before
        if not always:  # the two share a series and the target, so the current version was scored
            assert record["current_mae"] is not None, record
            assert record["model_mae"] <= record["current_mae"] * (1 + 1e-6), record


test_nightly_runs_never_leave_current_worse_off = _nights_test()


def test_the_nightly_property_ran_every_kind_of_night():
    """Runs after the property (pytest keeps file order): each kind of outcome happened."""
    print(f"promotion property: {COUNTS}")
    assert COUNTS["runs"] == 2 and COUNTS["nights"] == 14, COUNTS
    assert COUNTS["promoted"] and COUNTS["kept"] and COUNTS["killed"] >= 2, COUNTS


def test_a_file_that_lost_its_id_column_keeps_the_panel_and_a_renamed_one_is_compared(tmp_path):
    import pandas as pd

    model_dir = tmp_path / "model"
    common = ["--target", "Passengers", "--lookback", "12", "--horizon", "12", "--model-dir", model_dir, *TINY]
    both = panel_csv(tmp_path / "both.csv")
    assert invoke("train", both, "--id-col", "store", *common).exit_code == 0
    store = Store(model_dir)
    serving = store.current_id()
    frame = pd.read_csv(both)
    frame[frame["store"] == "B"].drop(columns="store").to_csv(tmp_path / "b.csv", index=False)
    single = invoke("train", tmp_path / "b.csv", *common)
    assert single.exit_code == 0, single.stderr
    assert store.current_id() == serving
    assert "does not know series A, B (by store)" in promotion(model_dir, store.ids()[-1])["reason"]

    frame.rename(columns={"store": "item"}).to_csv(tmp_path / "renamed.csv", index=False)
    renamed = invoke("train", tmp_path / "renamed.csv", "--id-col", "item", *common, *JUNK)
    assert renamed.exit_code == 0, renamed.stderr
    record = promotion(model_dir, store.ids()[-1])
    assert record["current_mae"] is not None and not record["promoted"], record  # compared, and worse


def test_a_dropped_feature_is_read_again_from_standard_input_and_from_a_dataframe(tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from forecast.api import train as api_train
    from forecast.cli.commands import app

    data, model_dir = panel_csv(tmp_path / "sales.csv", series=("A",)), tmp_path / "model"
    common = ["--target", "Passengers", "--lookback", "12", "--horizon", "12", "--model-dir", str(model_dir), *TINY]
    assert invoke("train", data, "--features", "promo", *common).exit_code == 0
    piped = CliRunner().invoke(app, ["train", "-", *common], input=data.read_bytes())
    assert piped.exit_code == 0, piped.stderr
    record = promotion(model_dir, Store(model_dir).ids()[-1])
    assert record["current_mae"] is not None and "holdout MAE" in record["reason"], record

    Store(model_dir).set_current(Store(model_dir).ids()[0])  # the version reading promo serves again
    frame = pd.read_csv(data).drop(columns="store")
    result = api_train(frame, model_dir=model_dir, target="Passengers", lookback=12, horizon=12, layers=2, units=8,
                       epochs=3, patience=2, batch_size=16, window_norm="revin", interval_refits=0)
    assert result.verdict.scores is not None and "holdout MAE" in result.verdict.reason, result.verdict
