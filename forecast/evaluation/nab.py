"""The Numenta Anomaly Benchmark's score for a detector's alarms against labelled anomaly windows.

Written from the definition in Lavin and Ahmad, "Evaluating Real-time Anomaly Detection
Algorithms: the Numenta Anomaly Benchmark" (2015), and NAB's scoring rules:

- The first rows of each file are a probationary period where the detector learns; alarms there
  are ignored. It is 15% of the rows, but never more than 750 (15% of 5,000).
- Each labelled window is worth `tp` when detected. Only its earliest alarm counts, weighted by
  a sigmoid of its position: an alarm at the window's first row earns all of `tp`, one at its
  middle about 0.93 of it, one at its last row about 0.01 of it.
- A window without an alarm costs `fn`.
- Each alarm outside every window costs `fp`, less when it comes just after a window (the
  sigmoid of how many window widths past its end it is): a late detection is not a full false
  alarm. Before the first window, and more than three widths past one, it costs all of `fp`.
- Over a corpus the raw scores are summed and normalised so that a detector that never alarms
  scores 0 and one that alarms exactly at the start of every window and nowhere else scores 100.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Costs:
    """The weights of one NAB profile."""

    tp: float
    fp: float
    fn: float


STANDARD = Costs(tp=1.0, fp=0.11, fn=1.0)  # NAB's standard profile
PROBATION_SHARE = 0.15
PROBATION_CAP = 750  # rows: 15% of 5,000


@dataclasses.dataclass(frozen=True)
class FileScore:
    """One file's raw NAB score and the counts behind it."""

    raw: float
    windows: int  # labelled windows scored (those that end after the probationary period)
    detected: int  # windows with at least one alarm
    false_alarms: int  # alarms outside every window, after the probationary period
    costs: Costs = STANDARD

    @property
    def null(self) -> float:
        """The score of a detector that never alarms."""
        return -self.costs.fn * self.windows

    @property
    def perfect(self) -> float:
        """The score of alarms at the first row of every window and nowhere else."""
        return self.costs.tp * self.windows


def probation_rows(rows: int) -> int:
    """Rows at the start of a file of `rows` rows where alarms are not scored."""
    return int(min(math.floor(PROBATION_SHARE * rows), PROBATION_SHARE * 5000))


def _sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: 1 at position −1 (a window's start), 0 at its end, towards −1 past it."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def score_file(alarms: Sequence[bool], windows: Sequence[tuple[int, int]], costs: Costs = STANDARD,
               probation: int | None = None) -> FileScore:
    """The raw NAB score of one file's alarms.

    Args:
        alarms: one flag per row of the file, in time order.
        windows: labelled anomaly windows as (first row, last row), inclusive, in time order and
            not overlapping.
        costs: the profile; NAB's standard one by default.
        probation: rows at the start that are not scored; by default `probation_rows`.
    """
    alarms = np.asarray(alarms, dtype=bool)
    rows = len(alarms)
    probation = probation_rows(rows) if probation is None else probation
    best_tp = _sigmoid(-1.0)
    raw, detected, false_alarms, scored_windows = 0.0, 0, 0, 0
    previous_end, previous_width = None, None
    start_of_gap = 0
    for first, last in list(windows) + [(rows, rows)]:  # a sentinel closes the last gap
        # Alarms between the previous window (or the file's start) and this one: false alarms.
        for row in np.flatnonzero(alarms[max(start_of_gap, probation) : first]) + max(start_of_gap, probation):
            if previous_end is None:
                weight = -1.0
            else:
                weight = _sigmoid(abs(row - previous_end) / (previous_width - 1)) if previous_width > 1 else -1.0
            raw += weight * costs.fp
            false_alarms += 1
        if first >= rows:
            break
        width = last - first + 1
        if last >= probation:  # a window wholly inside the probationary period is not scored
            scored_windows += 1
            hits = np.flatnonzero(alarms[max(first, probation) : last + 1]) + max(first, probation)
            if len(hits):
                position = -(last - hits[0] + 1) / width
                raw += _sigmoid(position) * costs.tp / best_tp
                detected += 1
            else:
                raw -= costs.fn
        previous_end, previous_width = last, width
        start_of_gap = last + 1
    return FileScore(raw, scored_windows, detected, false_alarms, costs)


def normalised(scores: Iterable[FileScore]) -> float:
    """The corpus score, 0 for a detector that never alarms and 100 for a perfect one."""
    scores = list(scores)
    raw = sum(score.raw for score in scores)
    null = sum(score.null for score in scores)
    perfect = sum(score.perfect for score in scores)
    if perfect == null:
        raise ValueError("no labelled window is scored: the NAB score is undefined")
    return 100.0 * (raw - null) / (perfect - null)


def window_rows(timestamps: Sequence, windows: Iterable[tuple]) -> list[tuple[int, int]]:
    """Windows given by their first and last timestamps, as (first row, last row) of `timestamps`
    (sorted): the first row at or after the start, the last at or before the end."""
    stamps = np.asarray(timestamps, dtype="datetime64[ns]")
    out = []
    for start, end in windows:
        first = int(np.searchsorted(stamps, np.datetime64(start, "ns"), side="left"))
        last = int(np.searchsorted(stamps, np.datetime64(end, "ns"), side="right")) - 1
        if last >= first:
            out.append((first, last))
    return out
