"""Property-based fuzzing of CSV validation: mutated good files never crash the command line.

Good CSVs (airline passengers, monthly; a generated hourly file with a feature column) are
mutated several ways at once (lines dropped, repeated, swapped, shuffled or reversed; bad
values and dates; blank lines; broken headers; garbage bytes; truncation) and fed to
`train --check` and, for monthly seeds, to `predict --data` and `detect` against the tiny monthly
bundle; a quarter of them go as Parquet, some with a column renamed as only Parquet can name it ("").
Whatever the file, the tool answers exit 0, 2 or 3, and a refusal is one `error:` line.

`pytest -s tests/test_fuzz.py` prints the exit codes seen by each test.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from collections import Counter

import pandas as pd
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from conftest import SAMPLE, invoke

ALLOWED = {0, 2, 3}
LONGEST_ERROR = 1000
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\S+ ")  # the time that log lines carry when stderr is not a terminal
CODES = {"train": Counter(), "predict": Counter(), "detect": Counter()}  # exit codes seen, for the summary line of each test

BAD_VALUES = [
    b"nan", b"NaN", b"1e999", b"-1e999", b"inf", b"-inf", b"Infinity", b"-0", b'""', b"1e308", b"-1e308",
    b"1e150", b"-1e150", b"1e149", b"1.0000001e150", b"1e-300", b"9" * 400, b"-" + b"9" * 400, b"0x10", b"", b" ",
    b"1,000", b"12abc", b"--5", b"1e-400", b"True", b"\xc3\xa9", b"\xff", b'"12', b"5e-324",
]
BAD_DATES = [
    b"-0", b"0", b"9999-12-31", b"0001-01-01", b"2020-02-30", b"2024-03-10T02:30-05:00", b"2024-03-10T03:30-04:00",
    b"13/01/2020", b"01/13/2020", b"1e10", b"", b"1960-13", b"1960-00", b"10000-01", b"1677-09", b"2262-05",
    b"9999-12", b"0001-01", b"1958-12-31 23:59:59", b"2020-01-01T00:00Z", b"now", b"today", b"NaT", b"nan",
    b"1234", b"99999", b"1.5", b"2020-W01", b"\xff\xfe", b'"', b"1949-01-01 00:00+14:00",
]
GARBAGE = [
    b"\x00", b"\xff", b"\xc3(", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\r", b"\r\n", b"\n", b"\n\n", b'"', b'""',
    b",", b",,,", b";", b"\t", b"\x1b[31m", b"\xe2\x80\xa8", b"\x85", b"x" * 5000, b"9" * 2000, b"," * 3000,
    b'"' + b"a\nb" * 500 + b'"',
]


def _hourly_seed() -> bytes:
    """200 hourly rows: a timestamp, a feature (temperature) and the target (load, the last numeric column)."""
    stamps = pd.date_range("2020-01-01 00:00", periods=200, freq="h")
    rows = ["timestamp,temperature,load"]
    for i, stamp in enumerate(stamps):
        temperature = 10 + 5 * math.sin(2 * math.pi * i / 24)
        load = 100 + 20 * math.sin(2 * math.pi * (i - 6) / 24) + (i % 7)
        rows.append(f"{stamp:%Y-%m-%d %H:%M},{temperature:.2f},{load:.1f}")
    return ("\n".join(rows) + "\n").encode()


SEEDS = {
    "monthly": (SAMPLE / "airline-passengers.csv").read_bytes(),
    "hourly": _hourly_seed(),
}
# The airline file with its newest value 1e150 (allowed: the limit is 1e150, inclusive).
TAIL_1E150 = SEEDS["monthly"].rstrip().rsplit(b",", 1)[0] + b",1e150\r\n"
VALUE_COLUMNS = {"monthly": [1], "hourly": [1, 2]}
_YEAR = re.compile(rb'^("?)(\d{4})')  # a row's leading year, perhaps quoted
_DATE_CELL = re.compile(rb'^("?)([^,"]*)("?)')  # a row's first cell, perhaps quoted


def _index(draw, lines: list, extra: int = 0) -> int:
    return draw(st.integers(0, max(0, len(lines) - 1 + extra)))


def _replace_cell(lines: list, row: int, column: int, token: bytes) -> None:
    cells = lines[row].split(b",")
    if column < len(cells):
        cells[column] = token
    else:
        cells.append(token)
    lines[row] = b",".join(cells)


@st.composite
def mutated(draw, seeds=("monthly", "hourly")):
    """(seed name, mutated CSV bytes): several line mutations, then maybe byte-level damage."""
    seed = draw(st.sampled_from(seeds))
    lines = SEEDS[seed].splitlines()  # the airline file ends its lines with \r\n
    for _ in range(draw(st.sampled_from([1, 1, 2, 2, 3, 4]))):
        if not lines:
            lines = [b""]
        op = draw(st.sampled_from([
            "drop", "drop_block", "duplicate", "swap", "shuffle", "reverse", "value", "value", "date", "date",
            "blank", "header", "extra_cell", "relocate", "decimate", "suffix_dates",
        ]))
        data_row = 0
        if len(lines) > 1:  # often among the last rows: predict forecasts from the last lookback (12)
            last = len(lines) - 1
            data_row = draw(st.one_of(st.integers(1, last), st.integers(max(1, last - 12), last)))
        if op == "drop":
            del lines[_index(draw, lines)]
        elif op == "drop_block":
            start = _index(draw, lines)
            del lines[start : start + draw(st.integers(1, len(lines)))]
        elif op == "duplicate":
            source = _index(draw, lines)
            lines.insert(draw(st.integers(0, len(lines))), lines[source])
        elif op == "swap":
            i, j = _index(draw, lines), _index(draw, lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "shuffle":
            start = _index(draw, lines)
            block = lines[start : start + draw(st.integers(2, 20))]
            draw(st.randoms(use_true_random=False)).shuffle(block)
            lines[start : start + len(block)] = block
        elif op == "reverse":  # newest first, header kept on top
            lines[1:] = lines[1:][::-1]
        elif op == "value":
            token = draw(st.sampled_from(BAD_VALUES))
            _replace_cell(lines, data_row, draw(st.sampled_from(VALUE_COLUMNS[seed])), token)
        elif op == "date":
            token = draw(st.sampled_from(BAD_DATES))
            if draw(st.booleans()):
                token = b'"' + token + b'"'
            _replace_cell(lines, data_row, 0, token)
        elif op == "blank":
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from([b"", b"   ", b",", b",,", b"\t"])))
        elif op == "header":
            names = lines[0].split(b",")
            how = draw(st.sampled_from(["drop_name", "duplicate_name", "empty", "commas", "rename", "quote"]))
            if how == "drop_name":
                del names[_index(draw, names)]
            elif how == "duplicate_name":
                names[_index(draw, names)] = names[_index(draw, names)]
            elif how == "empty":
                names = [b""]
            elif how == "commas":
                names = [b""] * len(names)
            elif how == "rename":
                name = draw(st.sampled_from([b"Date", b"value", b"", b"\xff", b"x" * 300, b"1949-01",
                                             b'"v\n2026-01-01T00:00:00Z error: forged"', b"v\x1b]0;title\x07"]))
                names[_index(draw, names)] = name
            else:
                names[0] = b'"' + names[0]
            lines[0] = b",".join(names)
        elif op == "relocate":  # every date moved to another century, near the ends of what can be written
            first = _YEAR.match(lines[data_row])
            year = draw(st.sampled_from([1, 1000, 1677, 1678, 2261, 2262, 9988, 9999]))
            shift = year - int(first.group(2)) if first else 0
            move = lambda m: m.group(1) + b"%04d" % (int(m.group(2)) + shift)  # noqa: E731
            lines[1:] = [_YEAR.sub(move, line, count=1) for line in lines[1:]]
        elif op == "decimate":  # every k-th row only: another frequency
            k = draw(st.integers(2, 13))
            lines[1:] = lines[1 + draw(st.integers(0, k - 1)) :: k]
        elif op == "suffix_dates":  # the same suffix on every date
            suffixes = [b"-01", b"-31", b"T00:00Z", b" 00:00+01:00", b":00", b" ", b"Z", b"-01 12:00"]
            suffix = draw(st.sampled_from(suffixes))
            extend = lambda m: m.group(1) + m.group(2) + suffix + m.group(3)  # noqa: E731
            lines[1:] = [_DATE_CELL.sub(extend, line, count=1) for line in lines[1:]]
        else:  # extra_cell: a ragged row
            lines[data_row] += draw(st.sampled_from([b",5", b",", b',"a,b"', b",1,2,3"]))
    ending = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))
    data = ending.join(lines) + draw(st.sampled_from([ending, b""]))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # most files keep their bytes, to reach later checks
        if draw(st.booleans()):
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.one_of(st.sampled_from(GARBAGE), st.binary(min_size=1, max_size=12))) + data[at:]
        else:
            data = data[: draw(st.integers(0, len(data)))]
    if draw(st.sampled_from([False, False, False, True])):  # a quarter of the files as Parquet
        data = _as_parquet(draw, data)
    note(f"seed {seed}, {len(data)} bytes: {data[:3000]!r}")
    return seed, data


# Column names a Parquet file (or a DataFrame) can hold and a CSV header cannot: pandas names an
# empty CSV header "Unnamed: 1", but Parquet keeps "" as it is.
PARQUET_NAMES = ["", " ", "\t", "Month", "Passengers", "index", "\x1b[31m", "1949-01", "__index_level_0__"]


def _as_parquet(draw, data: bytes) -> bytes:
    """The CSV `data` as Parquet bytes (the reader knows them by their magic), perhaps with its
    first column as timestamps and a column renamed to one of PARQUET_NAMES; `data` as it is
    when pandas cannot read it or pyarrow cannot write it."""
    try:
        frame = pd.read_csv(io.BytesIO(data))
        if len(frame.columns) and draw(st.booleans()):
            frame[frame.columns[0]] = pd.to_datetime(frame[frame.columns[0]], errors="coerce", format="mixed")
        if len(frame.columns) and draw(st.booleans()):
            at = draw(st.integers(0, len(frame.columns) - 1))
            frame.columns = [draw(st.sampled_from(PARQUET_NAMES)) if i == at else c for i, c in enumerate(frame.columns)]
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    except Exception:  # noqa: BLE001 - any file pandas or pyarrow refuses stays a CSV
        return data


# Categories Python's default filters hide outside __main__; every other warning reaches stderr in a real run.
HIDDEN = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def _run(*args):
    """`invoke`, and the Python warnings a real run would print on stderr (pytest records warnings
    instead of letting them reach the CliRunner's stderr, so they are collected here)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = invoke(*args)
    shown = [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
             if not issubclass(w.category, HIDDEN)]
    return result, shown


def _check_stderr(result, shown: list, command: str) -> None:
    """The properties every run must have, whatever its exit code."""
    where = f"{command}: exit {result.exit_code}, exception {result.exception!r}, stderr {result.stderr!r}"
    assert not shown, f"{where}; Python warnings that a real run prints on stderr: {shown}"
    assert result.exit_code in ALLOWED, where
    assert "Traceback" not in result.stderr, where
    assert "error: unexpected" not in result.stderr, where  # the catch-all line (not "unexpected end of data")
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, where  # names in the data are escaped
    lines = [STAMP.sub("", line) for line in result.stderr.splitlines()]
    if result.exit_code == 0:
        assert all(line.startswith("warning:") for line in lines), where  # --quiet keeps warnings only
    else:
        assert result.stderr.count("\n") == 1 and len(lines) == 1, where
        assert lines[0].startswith("error:"), where
        assert len(lines[0]) <= LONGEST_ERROR, where


def _write(base, counter: Counter, data: bytes):
    case = base / f"case{sum(counter.values())}"
    case.mkdir()
    path = case / "data.csv"
    path.write_bytes(data)
    return case, path


def test_train_check_never_crashes(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz_train")
    counter = CODES["train"]

    @settings(max_examples=300, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(case=mutated())
    def check(case):
        _, data = case
        folder, path = _write(base, counter, data)
        model_dir = folder / "m"
        result, shown = _run("train", path, "--check", "--model-dir", model_dir, "--quiet", "--lookback", "12",
                             "--horizon", "6")
        counter[result.exit_code] += 1
        _check_stderr(result, shown, "train --check")
        assert not model_dir.exists(), "train --check created the model directory"

    try:
        check()
    finally:  # the counts, failing or not
        print(f"\nfuzz train --check: {sum(counter.values())} cases, exit codes {dict(sorted(counter.items()))}")


def test_predict_never_crashes(monthly_bundle, tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz_predict")
    counter = CODES["predict"]

    @settings(max_examples=200, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(case=mutated(seeds=("monthly",)))
    @example(case=("monthly", TAIL_1E150))  # found by this test: a finite value too large for float32 in the window
    def check(case):
        _, data = case
        _, path = _write(base, counter, data)
        result, shown = _run("predict", "--model-dir", monthly_bundle, "--data", path, "--quiet")
        counter[result.exit_code] += 1
        _check_stderr(result, shown, "predict --data")
        if result.exit_code == 0:
            frame = pd.read_csv(io.StringIO(result.stdout))
            forecasts = pd.to_numeric(frame["forecast"], errors="coerce")
            assert len(forecasts) > 0 and forecasts.map(math.isfinite).all(), result.stdout

    try:
        check()
    finally:  # the counts, failing or not
        print(f"\nfuzz predict --data: {sum(counter.values())} cases, exit codes {dict(sorted(counter.items()))}")


def test_detect_never_crashes(monthly_bundle, tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz_detect")
    counter = CODES["detect"]

    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(case=mutated(seeds=("monthly",)))
    @example(case=("monthly", TAIL_1E150))
    def check(case):
        _, data = case
        _, path = _write(base, counter, data)
        result, shown = _run("detect", path, "--model-dir", monthly_bundle, "--quiet")
        counter[result.exit_code] += 1
        _check_stderr(result, shown, "detect")
        if result.exit_code == 0:
            frame = pd.read_csv(io.StringIO(result.stdout))
            assert len(frame) > 0 and (frame["score"] >= 0).all(), result.stdout
            assert frame["anomaly"].isin([True, False]).all() and frame["alarm"].isin([True, False]).all()
            assert (frame["anomaly"] == ((frame["score"] > 2) | (frame["sustained"] > 4.26))).all()
            assert not (frame["alarm"] & ~frame["anomaly"]).any()

    try:
        check()
    finally:  # the counts, failing or not
        print(f"\nfuzz detect: {sum(counter.values())} cases, exit codes {dict(sorted(counter.items()))}")
