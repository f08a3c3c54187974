"""The typed metadata: built from a training run, written in one order, read back unchanged."""

import json

import numpy as np
import pytest

from conftest import tiny_fitted
from forecast.config import Cell, DataConfig, Fill
from forecast.store.bundle import read_bundle, write_bundle
from forecast.store.metadata import FORMAT_VERSION, Metadata, Promotion


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    path = tmp_path_factory.mktemp("bundle")
    promotion = Promotion("if-better", False, "worse", "v1", {"model_mae": 2.0, "current_mae": 1.0})
    write_bundle(path, tiny_fitted(), DataConfig(path="/data/y.csv", fill=Fill.ffill), promotion)
    return path


def test_what_is_read_is_typed_and_writes_back_to_the_same_file(written):
    stored = json.loads((written / "metadata.json").read_text())
    meta = read_bundle(written).metadata
    assert meta.to_dict() == stored  # `forecast info --json` prints exactly the file
    assert meta.format_version == FORMAT_VERSION and meta.lookback == 4 and meta.trained_horizon == 2
    assert meta.config.cell is Cell.lstm and meta.data_config.fill is Fill.ffill
    assert meta.columns == ["y"] and meta.ids == [""] and meta.metrics.val_mae == 1.0
    assert meta.promotion == Promotion("if-better", False, "worse", "v1", {"model_mae": 2.0, "current_mae": 1.0})
    series = meta.series[""]
    np.testing.assert_allclose(series.lookback_rows[:, 0], np.sin(np.arange(26.0, 30.0)))
    assert series.lookback_timestamps == ("2020-01-27", "2020-01-28", "2020-01-29", "2020-01-30")
    assert len(series.recent_target) == 30 and series.recent_target.index[-1].day == 30


def test_a_format_2_metadata_without_later_fields_reads_with_their_defaults(written):
    stored = json.loads((written / "metadata.json").read_text())
    for key in ("promotion", "intervals", "data_config", "strategy"):
        stored.pop(key)
    for key in ("ensemble", "ensemble_cells", "epoch_windows"):
        stored["config"].pop(key)
    stored["format_version"] = 2
    stored["metrics"] = {"val_mae": 1.5, "naive_mae": 2.0, "series": 1, "retired_measure": 3.0}
    meta = Metadata.from_dict(stored)
    assert meta.promotion is None and meta.calibration is None and meta.data_config is None
    assert meta.config.ensemble == 1 and meta.metrics.series_count == 1 and meta.metrics.baselines() == {"naive": 2.0}
