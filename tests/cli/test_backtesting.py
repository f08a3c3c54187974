import json
import re

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE, TINY, invoke


EVALUATE = ["evaluate", SAMPLE / "airline-passengers.csv", "--lookback", "12", "--horizon", "12", "--folds", "2", *TINY]


def test_evaluate_table_and_json_report_the_same_numbers():
    table = invoke(*EVALUATE)
    assert table.exit_code == 0, table.stderr
    report = json.loads(invoke(*EVALUATE, "--json").stdout)
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.split()[:1] and line.split()[0] in ("lstm", "naive", "drift")}
    for method, label in (("model", "lstm"), ("naive", "naive"), ("drift", "drift")):
        numbers = rows[label].replace("*", "").split()[1:]
        score = report["scores"][method]
        assert numbers == [f"{score[k]:.4g}" for k in ("mae", "rmse", "smape", "mape", "mase")]
    assert "seasonal naive" in table.stdout and "MAE by step:" in table.stdout
    assert re.search(r"^AutoETS +[\d.]+", table.stdout, re.M) and set(report["scores"]) >= {"auto_ets", "auto_theta"}
    assert re.search(r"coverage over 24 forecasts: 80% interval [\d.]+% \(split-conformal\); 95% interval [\d.]+% \(", table.stdout)
    assert len(report["by_step_mae"]["model"]) == 12 and set(report["coverage"]) == {"80", "95"}
    assert sum(basis["forecasts"] for basis in report["coverage_by_basis"]["95"].values()) == 24


def test_evaluate_writes_every_forecast_row_as_a_flat_table(tmp_path):
    report = json.loads(invoke(*EVALUATE, "--json").stdout)
    assert invoke(*EVALUATE, "--output", tmp_path / "bt.csv").exit_code == 0
    assert invoke(*EVALUATE, "--output", tmp_path / "bt.parquet").exit_code == 0
    rows = pd.read_csv(tmp_path / "bt.csv")
    assert list(rows.columns) == ["timestamp", "cutoff", "fold", "actual", "model", "naive", "seasonal_naive", "drift",
                                  "auto_ets", "auto_theta", "lower_80", "upper_80", "lower_95", "upper_95"]
    assert len(rows) == 24 and rows.groupby("fold")["cutoff"].nunique().tolist() == [1, 1]
    assert rows["cutoff"].iloc[0] == "1958-12-01" and rows["timestamp"].iloc[0] == "1959-01-01"
    for method in ("model", "naive", "auto_ets"):  # the same numbers the report scores
        assert (rows["actual"] - rows[method]).abs().mean() == pytest.approx(report["scores"][method]["mae"], rel=1e-4)
    typed = pd.read_parquet(tmp_path / "bt.parquet")
    assert list(typed.columns) == list(rows.columns)
    np.testing.assert_allclose(typed["model"], rows["model"], rtol=1e-5)


def test_compare_prints_the_three_cell_table():
    result = invoke("compare", SAMPLE / "airline-passengers.csv", "--cells", "lstm,gru,rnn", "--lookback", "12",
                    "--horizon", "12", "--folds", "1", *TINY)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert header.split() == ["method", "params", "train", "s", "epochs", "val", "loss", "MAE", "MASE", "sMAPE", "%"]
    labels = [line.split()[0] for line in lines[lines.index(header) + 1 :] if line and not line.startswith("*")]
    assert labels == ["lstm", "gru", "rnn", "naive", "seasonal", "drift", "AutoETS", "AutoTheta"]
    assert sum("*" in line for line in lines[lines.index(header) + 1 :]) == 2  # one marked row, one footnote


@pytest.mark.parametrize(
    "args,message",
    [
        (["evaluate", SAMPLE / "airline-passengers.csv", "--folds", "0"], "--folds must be a whole number"),
        (["evaluate", SAMPLE / "airline-passengers.csv", "--season", "0"], "--season must be a whole number"),
        (["compare", SAMPLE / "airline-passengers.csv", "--cells", "lstm,transformer"], "--cells takes lstm, gru and rnn"),
        (["evaluate", SAMPLE / "airline-passengers.csv", "--folds", "12"], "The earliest of 12 folds"),
    ],
)
def test_bad_evaluate_options_exit_2(args, message):
    result = invoke(*args, "--quiet")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert re.search(message, result.stderr), result.stderr
