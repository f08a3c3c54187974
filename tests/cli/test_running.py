
import keras

from conftest import error_line, SAMPLE, TINY, invoke, snapshot


def test_unexpected_failure_is_one_line_with_a_hint(existing, monkeypatch):
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    before = snapshot(existing)
    result = invoke("train", SAMPLE / "airline-passengers.csv", "--model-dir", existing, *TINY)
    assert result.exit_code == 1
    assert error_line(result.stderr) == "error: unexpected RuntimeError: boom (rerun with --verbose for the traceback)\n"
    assert snapshot(existing) == before
