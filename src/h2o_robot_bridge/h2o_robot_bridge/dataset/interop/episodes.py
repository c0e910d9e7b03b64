"""Episodes as other offline-RL formats see them: our episodes, split at discontinuities.

Minari and d3rlpy store an episode as one chain of observations ``o_0 .. o_T`` and derive the
next observation of step i from ``o_{i+1}``. Our rows carry ``next_observations`` explicitly,
so a row inside an episode whose next observation is not the next row's observation (a
*discontinuity*: a converter bug, hand-edited or concatenated data) cannot live in one chain.
Such an episode is split after that row, and the first part ends as a truncation: the chain
was cut, the robot did not fall (our schema's own meaning of a timeout, "a gap in the log").
The last row, when it ends no episode, is closed as a truncation too (end of the recording,
as :func:`~h2o_robot_bridge.dataset.schema.close_last_episode` does).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from h2o_robot_bridge.dataset.schema import Dataset, discontinuities

EpisodeEnd = Literal["terminal", "timeout", "discontinuity", "end_of_data"]
"""Why an exported episode ends: a fall, a truncation of ours, a split, an unclosed last row."""


class EpisodeSpan(NamedTuple):
    """Rows ``start .. stop-1`` of a dataset, one exported episode.

    Attributes:
        start: first row.
        stop: one past the last row (``stop - start`` transitions, >= 1).
        end: why it ends; only ``"terminal"`` is a termination, every other end a truncation.
    """

    start: int
    stop: int
    end: EpisodeEnd


def export_episodes(data: Dataset) -> list[EpisodeSpan]:
    """The dataset's episodes in order, split at :func:`discontinuities` (see the module doc).

    Without discontinuities the (start, stop) pairs are exactly
    :func:`~h2o_robot_bridge.dataset.schema.episode_bounds`. An empty dataset has none.
    """
    n = data.size
    if not n:
        return []
    cut = np.zeros(n, dtype=bool)
    cut[discontinuities(data)] = True
    open_end = np.zeros(n, dtype=bool)
    open_end[-1] = not (data.terminals[-1] or data.timeouts[-1])
    stops = np.flatnonzero(data.terminals | data.timeouts | cut | open_end) + 1
    starts = np.concatenate([[0], stops[:-1]])

    def end(row: int) -> EpisodeEnd:
        if data.terminals[row]:  # never together with a timeout (validate_dataset)
            return "terminal"
        if data.timeouts[row]:
            return "timeout"
        return "discontinuity" if cut[row] else "end_of_data"

    return [
        EpisodeSpan(int(a), int(b), end(int(b) - 1)) for a, b in zip(starts, stops, strict=True)
    ]


def export_flags(
    data: Dataset, spans: list[EpisodeSpan]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(terminals, timeouts), each (N,) bool, with every span's end flagged.

    ``terminals`` are ours unchanged (falls only); ``timeouts`` are ours plus the last row of
    every span that ends at a discontinuity or at the end of the data, so each row that ends an
    exported episode carries exactly one of the two flags.
    """
    timeouts = data.timeouts.copy()
    for span in spans:
        if span.end != "terminal":
            timeouts[span.stop - 1] = True
    return data.terminals.copy(), timeouts


def episode_observations(data: Dataset, span: EpisodeSpan) -> NDArray[np.float32]:
    """(T + 1, OBS_DIM) float32 chain ``o_0 .. o_T`` of a span of T rows: its observations,
    then the next observation of its last row."""
    last = data.next_observations[span.stop - 1 : span.stop]
    return np.concatenate([data.observations[span.start : span.stop], last])
