import pytest

from forecast.config import Cell, DataConfig, TrainConfig, config_to_dict
from forecast.errors import ConfigError


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("lookback", 0, "--lookback must be a whole number of at least 1. Received: 0."),
        ("horizon", -3, "--horizon must be a whole number of at least 1. Received: -3."),
        ("layers", 0, "--layers must be"),
        ("units", 0, "--units must be"),
        ("epochs", 0, "--epochs must be"),
        ("batch_size", -1, "--batch-size must be"),
        ("patience", -1, "--patience must be 0 or more"),
        ("val_fraction", 0.0, "--val-fraction must be between 0 and 1"),
        ("val_fraction", 1.0, "--val-fraction must be between 0 and 1"),
        ("dropout", 1.0, "--dropout must be at least 0 and below 1"),
        ("dropout", -0.1, "--dropout must be at least 0 and below 1"),
        ("learning_rate", 0.0, "--learning-rate must be greater than 0"),
        ("clipnorm", -1.0, "--clipnorm must be greater than 0"),
        ("seed", -1, "--seed must be from 0 to 4294967295"),
        ("linear_path", "yes", "--linear-path is true or false. Received: 'yes'."),
    ],
)
def test_bad_values_are_refused_with_the_flag_name(field, value, message):
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**{field: value})
    assert message in str(caught.value)


def test_exactly_one_source():
    with pytest.raises(ConfigError, match="exactly one data source"):
        DataConfig()
    with pytest.raises(ConfigError, match="exactly one data source"):
        DataConfig(path="a.csv", ticker="AAPL")


def test_target_cannot_also_be_a_feature():
    with pytest.raises(ConfigError, match="must not repeat the target"):
        DataConfig(path="a.csv", target="y", features=("y",))


def test_config_to_dict_is_json_ready():
    as_dict = config_to_dict(TrainConfig(cell=Cell.gru))
    assert as_dict["cell"] == "gru" and as_dict["strategy"] == "auto" and as_dict["lookback"] is None


def test_mixed_cells_need_an_ensemble():
    from forecast.config import EnsembleCells

    with pytest.raises(ConfigError, match="--ensemble-cells mixed .* needs --ensemble 2 or more"):
        TrainConfig(ensemble_cells=EnsembleCells.mixed)
    assert TrainConfig(ensemble=2, ensemble_cells=EnsembleCells.mixed).ensemble == 2
