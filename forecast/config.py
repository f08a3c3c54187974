"""Every option of `forecast`, as frozen dataclasses with defaults and their validation."""

from __future__ import annotations

import dataclasses
import enum
import math
import re

from forecast.errors import ConfigError

CALENDAR = re.compile(r"[A-Za-z0-9_]{2,16}")  # exchange-calendars names (XNYS, XLON) or none
HOLIDAYS = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,5})?")  # a country's ISO code, optionally -SUBDIVISION
TICKER = re.compile(r"[A-Za-z0-9.^=\-]{1,32}")  # Yahoo symbols: AAPL, BRK-B, ^GSPC, EURUSD=X, 0700.HK


class Cell(str, enum.Enum):
    """The recurrent cell stacked in the model."""

    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"  # SimpleRNN, kept as the baseline the LSTM/GRU literature compares against


class EnsembleCells(str, enum.Enum):
    """Which cell each member of an ensemble uses."""

    same = "same"  # every member is a --cell stack, from its own initial weights
    mixed = "mixed"  # LSTM and GRU members in turn


class EnsembleCombine(str, enum.Enum):
    """How an ensemble's member forecasts become one."""

    median = "median"  # at each step; one member that learnt badly cannot drag it far
    mean = "mean"


class Fill(str, enum.Enum):
    """How gaps and missing values are repaired when the user allows it."""

    ffill = "ffill"
    interpolate = "interpolate"


class Strategy(str, enum.Enum):
    """Where and how training runs; `auto` picks from what the machine has."""

    auto = "auto"
    cpu = "cpu"
    gpu = "gpu"
    tpu = "tpu"
    mirrored = "mirrored"
    multiworker = "multiworker"


class WindowNorm(str, enum.Enum):
    """How each window is normalised inside the model before the recurrent layers."""

    none = "none"
    last = "last"  # subtract the window's last target value, add it back to the forecast
    revin = "revin"  # subtract the window's mean and divide by its std (reversible instance norm)
    seasonal = "seasonal"  # learn a correction to the window's own seasonal naive forecast
    auto = "auto"  # train revin and seasonal, keep the better on validation (or seasonal naive itself)


class CycleInputs(str, enum.Enum):
    """Whether the network also reads each step's position in the day, week or year."""

    auto = "auto"  # the cycles that fit the data's frequency (forecast.data.cycles)
    none = "none"


class TargetTransform(str, enum.Enum):
    """What the target goes through before scaling (and back through after forecasting)."""

    log = "log"  # the natural logarithm: the network learns relative changes
    none = "none"


class Loss(str, enum.Enum):
    mse = "mse"
    mae = "mae"
    huber = "huber"


class Promote(str, enum.Enum):
    """When a newly trained version becomes current."""

    if_better = "if-better"  # only when it scores at least as well as the current one on recent windows
    always = "always"  # whenever training completes (never one that loses to naive over one that beats it)


class LogFormat(str, enum.Enum):
    text = "text"
    json = "json"


class OutputFormat(str, enum.Enum):
    """How a table is written: chosen by --format, else by the file's extension (forecast.cli.output)."""

    csv = "csv"
    json = "json"
    parquet = "parquet"


class Engine(str, enum.Enum):
    """What runs the network at predict time (see forecast.model.runners)."""

    auto = "auto"
    litert = "litert"
    onnx = "onnx"
    keras = "keras"


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the series comes from and which columns make it up."""

    path: str | None = None  # CSV file; exactly one of path and ticker is set
    ticker: str | None = None  # Yahoo Finance symbol fetched through yfinance
    start: str | None = None  # first date fetched for a ticker; None means ten years before end
    end: str | None = None  # last date (exclusive) fetched for a ticker; None means today
    interval: str = "1d"  # yfinance bar size: 1d, 5d, 1wk, 1mo or 3mo
    time_col: str | None = None  # column holding timestamps; None means detect it
    id_col: str | None = None  # column naming the series in a long-format file of several
    target: str | None = None  # column to forecast; None means Close for tickers, else the last numeric
    features: tuple[str, ...] = ()  # extra input columns; the target is always an input too
    future_features: tuple[str, ...] = ()  # input columns whose values over the forecast period are supplied too
    fill: Fill | None = None  # repair gaps and missing values instead of refusing them
    offline: bool = False  # a ticker's bars from the local cache only, no download
    sep: str | None = None  # a CSV file's separator: , ; \t or |; None means the one its first lines use
    time_format: str | None = None  # strftime format of the time column; None means parse each value
    dayfirst: bool = False  # read 01/02/2020 as 1 February; without it, day-first only when a day above 12 says so
    calendar: str | None = None  # exchange whose sessions date business days ("XNYS"); "none": plain weekdays; None: auto

    def __post_init__(self) -> None:
        _enums(self)
        if (self.path is None) == (self.ticker is None):
            raise ConfigError(
                "give exactly one data source: a CSV path or --ticker. "
                f"Received: path={self.path!r}, ticker={self.ticker!r}."
            )
        if self.calendar is not None and not CALENDAR.fullmatch(self.calendar):
            raise ConfigError(f"--calendar takes an exchange's ISO code such as XNYS, or none. Received: {self.calendar[:40]!r}.")
        if self.path is not None and not self.path.strip():
            raise ConfigError("the data path is empty. Name a CSV file.")
        if self.ticker is not None and not TICKER.fullmatch(self.ticker):
            raise ConfigError(
                f"--ticker takes a Yahoo Finance symbol (letters, digits and . - ^ =, at most 32). Received: {self.ticker[:40]!r}. "
                "Check the symbol, e.g. AAPL, BRK-B, ^GSPC or EURUSD=X."
            )
        if self.offline and self.ticker is None:
            raise ConfigError("--offline reads cached --ticker downloads; a CSV file is always local. Drop --offline.")
        if self.ticker is not None:
            given = [flag for flag, value in (("--sep", self.sep), ("--time-format", self.time_format), ("--dayfirst", self.dayfirst)) if value]
            if given:
                raise ConfigError(f"{given[0]} describes a data file; a --ticker's bars need none. Drop {given[0]}.")
        if self.sep is not None and self.sep not in (",", ";", "\t", "\\t", "|"):
            raise ConfigError(f"--sep takes one of , ; \\t | (\\t for a tab). Received: {self.sep!r}.")
        if self.time_format is not None and "%" not in self.time_format:
            raise ConfigError(
                f"--time-format takes a strftime format such as %d/%m/%Y %H:%M. Received: {self.time_format!r}."
            )
        if self.time_format is not None and self.dayfirst:
            raise ConfigError("--time-format already says where the day is; --dayfirst adds nothing. Drop --dayfirst.")
        if self.target is not None and self.target in self.features:
            raise ConfigError(
                f"--features must not repeat the target: {self.target!r} is already an input. "
                "Remove it from --features."
            )
        if len(set(self.features)) != len(self.features):
            raise ConfigError(
                f"--features lists a column twice. Received: {','.join(self.features)}. "
                "Name each column once."
            )
        if self.target is not None and self.target in self.future_features:
            raise ConfigError(
                f"--future-features must not name the target: {self.target!r} is what is forecast, so its future "
                "is not known. Remove it from --future-features."
            )
        if len(set(self.future_features)) != len(self.future_features):
            raise ConfigError(f"--future-features lists a column twice. Received: {','.join(self.future_features)}. "
                              "Name each column once.")
        both = [column for column in self.future_features if column in self.features]
        if both:
            raise ConfigError(
                f"{both[0]!r} is in both --features and --future-features. A future feature is already an input "
                "(its past values are read too): name it in --future-features only."
            )

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Every input column besides the target: the past-only features, then the future ones."""
        return (*self.features, *self.future_features)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """How windows are cut, the network is shaped and training runs."""

    lookback: int | None = None  # past steps the model sees; None: two seasons or two horizons
    horizon: int = 12  # future steps it forecasts at once (direct multi-output head)
    val_fraction: float = 0.2  # last share of the windows held out for validation
    cell: Cell = Cell.lstm  # recurrent cell type
    layers: int = 2  # stacked recurrent layers
    units: int = 64  # units per recurrent layer
    dropout: float = 0.2  # dropout after each recurrent layer; 0 disables it
    window_norm: WindowNorm = WindowNorm.auto  # per-window normalisation inside the model (see README)
    cycle_inputs: CycleInputs = CycleInputs.auto  # sin/cos of the time of day, day of week or year as inputs
    holidays: str | None = None  # public holidays of a country (US) or subdivision (US-CA) as inputs
    linear_path: bool = False  # a linear map of the window to the forecast beside the recurrent stack
    target_transform: TargetTransform = TargetTransform.none  # the target's logarithm, or itself, is scaled
    ensemble: int = 1  # stacks trained side by side from different initial weights
    ensemble_cells: EnsembleCells = EnsembleCells.same  # all --cell, or LSTM and GRU in turn
    ensemble_combine: EnsembleCombine = EnsembleCombine.median  # the members' forecasts into one
    loss: Loss = Loss.mse  # training loss on the scaled target
    learning_rate: float = 1e-3  # Adam's initial step size
    clipnorm: float = 1.0  # gradient norm clip, against the exploding gradients of long sequences
    epochs: int = 100  # ceiling; early stopping usually ends training sooner
    patience: int = 10  # epochs without a better validation loss before stopping
    batch_size: int | None = None  # windows per gradient step; None: chosen for the data and device
    epoch_windows: int = 20000  # training windows drawn at random per epoch, bounding an epoch's time
    interval_refits: int | None = None  # models retrained at earlier cutoffs to calibrate intervals; None: auto
    seed: int = 42  # fixes initial weights, dropout masks and shuffling
    strategy: Strategy = Strategy.auto  # device placement

    def __post_init__(self) -> None:
        _enums(self)
        for name in ("horizon", "layers", "units", "ensemble", "epochs", "epoch_windows"):
            _require_positive_int(name, getattr(self, name))
        if not isinstance(self.linear_path, bool):
            raise ConfigError(f"--linear-path is true or false. Received: {self.linear_path!r}. "
                              "Use --linear-path or --no-linear-path (true or false in a config file).")
        for name in ("lookback", "batch_size"):  # None: chosen at training time
            if getattr(self, name) is not None:
                _require_positive_int(name, getattr(self, name))
        if self.interval_refits is not None and (isinstance(self.interval_refits, bool) or not isinstance(self.interval_refits, int)
                                                 or self.interval_refits < 0):
            raise ConfigError(f"--interval-refits must be a whole number, 0 or more. Received: {self.interval_refits}. "
                              "Use 0 to calibrate intervals on the validation errors alone.")
        if self.holidays is not None and not HOLIDAYS.fullmatch(str(self.holidays)):
            raise ConfigError(f"--holidays takes a country code, optionally with a subdivision: US, US-CA, GB-SCT, DE-BY. "
                              f"Received: {str(self.holidays)[:40]!r}.")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ConfigError(
                f"--patience must be 0 or more. Received: {self.patience}. "
                "Use 0 to stop at the first epoch without improvement."
            )
        if self.ensemble_cells is EnsembleCells.mixed and self.ensemble < 2:
            raise ConfigError(
                f"--ensemble-cells mixed alternates LSTM and GRU members, so it needs --ensemble 2 or more. "
                f"Received: --ensemble {self.ensemble}."
            )
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError(f"--seed must be from 0 to {2**32 - 1} (NumPy's seed range). Received: {self.seed}.")
        if not (0 < self.val_fraction < 1):
            raise ConfigError(
                f"--val-fraction must be between 0 and 1 (exclusive). Received: {self.val_fraction}. "
                "Use for example 0.2 to validate on the last fifth of the windows."
            )
        if not (0 <= self.dropout < 1):
            raise ConfigError(
                f"--dropout must be at least 0 and below 1. Received: {self.dropout}. "
                "Use 0 to disable dropout."
            )
        for name in ("learning_rate", "clipnorm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} must be greater than 0. Received: {value}.")


def _enums(config) -> None:
    """Turn enum-valued fields given as their values ("gru") into the enum, once, at construction.

    Raises:
        ConfigError: a value the enum does not have, naming the allowed ones.
    """
    for field in dataclasses.fields(config):
        kind = _ENUM_FIELDS.get(field.name)
        value = getattr(config, field.name)
        if kind is None or value is None or isinstance(value, kind):
            continue
        try:
            object.__setattr__(config, field.name, kind(value))
        except ValueError:
            flag = "--" + field.name.replace("_", "-")
            allowed = ", ".join(member.value for member in kind)
            raise ConfigError(f"{flag} must be one of {allowed}. Received: {str(value)[:40]!r}.") from None


def _require_positive_int(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} must be a whole number of at least 1. Received: {value}.")


_ENUM_FIELDS = {
    "cell": Cell, "cycle_inputs": CycleInputs, "ensemble_cells": EnsembleCells, "ensemble_combine": EnsembleCombine, "fill": Fill, "strategy": Strategy,
    "window_norm": WindowNorm, "loss": Loss, "target_transform": TargetTransform,
}


def config_to_dict(config: DataConfig | TrainConfig) -> dict:
    """A JSON-ready dict of a config, enums as their values."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[field.name] = value
    return out
