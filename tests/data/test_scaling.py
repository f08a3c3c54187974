import json

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler

from forecast.errors import BundleError, DataError
from forecast.data.scaling import fit_scaler, inverse_target, scale_target, scaler_from_dict, scaler_to_dict


def test_fit_uses_only_the_rows_given():
    train = np.array([[0.0, 10.0], [5.0, 20.0], [10.0, 30.0]])
    scaler = fit_scaler(train, ["y", "x"])
    np.testing.assert_array_equal(scaler.data_min_, [0, 10])
    np.testing.assert_array_equal(scaler.data_max_, [10, 30])
    np.testing.assert_allclose(scaler.transform([[5.0, 30.0], [20.0, 0.0]]), [[0.5, 1.0], [2.0, -0.5]])


def test_inverse_target_undoes_the_target_column():
    scaler = fit_scaler(np.array([[100.0, 1.0], [300.0, 2.0]]), ["y", "x"])
    np.testing.assert_allclose(inverse_target(scaler, [[0.0, 0.5, 1.0, 1.5]]), [[100, 200, 300, 400]])


def test_round_trip_through_plain_data_is_exactly_scikit_learns_scaling():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 3)) * [1, 100, 1e-3]
    state = scaler_to_dict(fit_scaler(train, ["a", "b", "c"]), ["a", "b", "c"])
    assert state["columns"] == ["a", "b", "c"]
    restored = scaler_from_dict(json.loads(json.dumps(state)))
    reference = MinMaxScaler().fit(train)
    probe = rng.normal(size=(7, 3))
    np.testing.assert_array_equal(restored.transform(probe), reference.transform(probe))
    np.testing.assert_array_equal(inverse_target(restored, probe[:, 0]), reference.inverse_transform(probe)[:, 0])


def test_the_log_form_scales_the_targets_logarithm_and_comes_back_through_the_exponential():
    train = np.array([[1.0, 5.0], [np.e, 6.0], [np.e**2, 7.0]])
    scaler = fit_scaler(train, ["y", "x"], log_target=True)
    np.testing.assert_allclose(scaler.data_min_, [0, 5])
    np.testing.assert_allclose(scaler.data_max_, [2, 7])
    np.testing.assert_allclose(scaler.transform([[np.e**3, 6.0]]), [[1.5, 0.5]])  # log 3 -> 1.5; the feature is linear
    np.testing.assert_allclose(inverse_target(scaler, [0.0, 0.5, 1.5]), [1.0, np.e, np.e**3])
    np.testing.assert_allclose(scale_target(scaler, inverse_target(scaler, [0.2, 0.9])), [0.2, 0.9])
    # A value at or below zero has no logarithm: it scales to a value that is not finite.
    assert not np.isfinite(scaler.transform([[0.0, 6.0], [-1.0, 6.0]])[:, 0]).any()
    restored = scaler_from_dict(json.loads(json.dumps(scaler_to_dict(scaler, ["y", "x"]))))
    assert restored.log_target and scaler_to_dict(scaler, ["y", "x"])["target_transform"] == "log"
    np.testing.assert_array_equal(restored.transform(train), scaler.transform(train))


def test_a_scaler_saved_before_the_log_form_loads_as_linear():
    state = scaler_to_dict(fit_scaler(np.array([[1.0], [2.0]]), ["y"]), ["y"])
    del state["target_transform"]
    assert not scaler_from_dict(state).log_target


def test_constant_target_is_refused():
    with pytest.raises(DataError, match=r"target column 'y' is constant \(7\) in the training part"):
        fit_scaler(np.array([[7.0, 1.0], [7.0, 2.0]]), ["y", "x"])


def test_constant_feature_is_refused_with_its_fix():
    with pytest.raises(DataError, match=r"feature column 'x' is constant .* Drop it from --features"):
        fit_scaler(np.array([[1.0, 3.0], [2.0, 3.0]]), ["y", "x"])


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.pop("data_min_"),
        lambda s: s.update(data_max_=[1.0]),
        lambda s: s.update(data_max_=s["data_min_"]),
        lambda s: s.update(kind="standard"),
        lambda s: s.update(target_transform="sqrt"),
    ],
)
def test_damaged_state_is_refused(change):
    state = scaler_to_dict(fit_scaler(np.array([[0.0, 1.0], [1.0, 2.0]]), ["y", "x"]), ["y", "x"])
    change(state)
    with pytest.raises(BundleError, match="scaler is damaged"):
        scaler_from_dict(state)
