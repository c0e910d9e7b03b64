"""Clock discontinuities: where the header times of a log stop being one timeline (pure).

A row may only combine samples that lie on one timeline. Header stamps are that timeline as
long as each stream's stamps only move forward; a stamp going back (a restarted robot or sim
clock, a reordered or replayed message), by any amount, means two stretches of the log share
stamp values, and sorting them together would pair samples taken up to that amount apart.

:class:`ClockSplitter` sees the messages in the order they were received and decides, for
each, whether it belongs to the current segment, starts a new one, or must be dropped:

- a stamped message older than the newest stamp of its own stream is a **split**: a new
  segment starts with it (whatever the size of the step back); so is one more than
  ``window`` older than the newest stamp of another stream of the segment (a step back seen
  across topics, e.g. by a stream whose first message comes after the jump);
- a clock that went back affects every stream stamped with it, but each stream shows it only
  at its own first message after the jump. Messages of other stamped streams received after
  the split and before their own step back are **stragglers** from before the jump and are
  dropped; their own step back (within ``window`` seconds of receive time) joins the segment
  the first split opened instead of starting another one. A stream that shows no step back
  within ``window`` joins the new segment after it (its messages inside the window are
  dropped: they cannot be told apart from stragglers);
- equal stamps are not a split (a duplicate: the aligner keeps the first);
- messages without a stamp (``NaN``: header-less topics, zero stamps) belong to the current
  segment; their time is mapped from receive time onto that segment's header clock
  (:func:`receive_to_stamp`).

Assumption: all stamped streams use one clock (what header-time alignment assumes anyway).
A step back shorter than a stream's sample interval does not show in that stream; it is then
indistinguishable from timing jitter, and a row may pair samples up to that step further
apart than ``max_age``. Both the bag converter and the live recorder use this class, so both
cut a log at the same messages.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray


class Decision(Enum):
    """What to do with one message."""

    KEEP = "keep"  # in the current segment
    SPLIT = "split"  # starts a new segment, then kept in it
    DROP = "drop"  # a straggler from before a split


@dataclass(frozen=True)
class Split:
    """One clock discontinuity.

    Attributes:
        stream: input whose message showed it first.
        receive_t: receive time of that message [s].
        stamp: its header stamp [s].
        back: how far it went back behind the stream's newest stamp [s].
        seen_by: streams that showed the same step back within the window.
    """

    stream: str
    receive_t: float
    stamp: float
    back: float
    seen_by: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "receive_t": float(self.receive_t),
            "stamp": float(self.stamp),
            "back_s": float(self.back),
            "seen_by": list(self.seen_by),
        }


@dataclass
class _Pending:
    """A split whose other streams have not all shown it yet."""

    index: int  # into ClockSplitter.splits
    receive_t: float
    waiting: set[str] = field(default_factory=set)


class ClockSplitter:
    """Streaming split decisions for messages in receive order (see the module docstring).

    Args:
        window: how long after a split [s of receive time] other streams may show the same
            step back and have their messages before it dropped as stragglers.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self.splits: list[Split] = []
        self.dropped: Counter = Counter()  # stragglers per stream
        self._newest: dict[str, float] = {}
        self._pending: _Pending | None = None

    def prime(self, stream: str, newest: float) -> None:
        """Start from a known state: ``stream``'s newest stamp so far (no split pending)."""
        self._newest[stream] = newest

    def _behind(self, stream: str, stamp: float) -> float:
        """How far ``stamp`` is behind the other streams of the current segment, beyond the
        window (> 0: a step back across topics, e.g. a stream that starts after a jump)."""
        if stamp >= max(self._newest.values(), default=-np.inf) - self.window:
            return 0.0  # the common case, decided without looking at each stream
        waiting = self._pending.waiting if self._pending is not None else set()
        others = [t for k, t in self._newest.items() if k != stream and k not in waiting]
        if not others or max(others) - stamp <= self.window:
            return 0.0
        return max(others) - stamp

    @property
    def segment(self) -> int:
        """Index of the current segment (0 before the first split)."""
        return len(self.splits)

    def feed(self, stream: str, stamp: float, receive_t: float) -> Decision:
        """Decide for one message (``stamp`` NaN: no header stamp)."""
        pending = self._pending
        if pending is not None and receive_t > pending.receive_t + self.window:
            pending = self._pending = None  # streams still waiting join without a step back
        if not np.isfinite(stamp):
            return Decision.KEEP
        newest = self._newest.get(stream, -np.inf)
        waiting = pending is not None and stream in pending.waiting
        back = max(newest - stamp, self._behind(stream, stamp))
        if back <= 0.0:
            self._newest[stream] = stamp
            if waiting:
                self.dropped[stream] += 1
                return Decision.DROP
            return Decision.KEEP
        self._newest[stream] = stamp
        if pending is not None and waiting:
            pending.waiting.discard(stream)  # the same jump, seen by this stream
            split = self.splits[pending.index]
            self.splits[pending.index] = Split(
                split.stream, split.receive_t, split.stamp, split.back, (*split.seen_by, stream)
            )
            return Decision.KEEP
        self.splits.append(Split(stream, receive_t, stamp, back, (stream,)))
        others = set(self._newest) - {stream}
        self._pending = _Pending(len(self.splits) - 1, receive_t, others)
        return Decision.SPLIT


OFFSET_WINDOW = 0.05
"""Ticks received up to this long [s] before a header-less message estimate its clock offset."""


def receive_to_stamp(
    tick_receive: NDArray, tick_stamp: NDArray, receive: NDArray, window: float = OFFSET_WINDOW
) -> NDArray:
    """Header-clock times of header-less messages (``/cmd_vel`` as Twist, resets), (m,).

    A message received at r is placed at ``r + max(stamp - receive)`` over the ticks of its
    clock segment received in ``[r - window, r)`` and the first one received at or after r.
    The maximum picks the tick that arrived fastest, so the estimate errs late by about the
    message's own latency, never early by a tick's latency; and where the clock stepped
    forward in between, it takes the newer offset (the message counts from the later time).
    Either way a command is never used at a tick it was sent after, beyond the message's own
    receive latency. Without ticks, the receive time itself.

    Args:
        tick_receive: (n,) receive times of the segment's ticks [s], non-decreasing.
        tick_stamp: (n,) their header stamps [s] (NaN: unstamped, ignored).
        receive: (m,) receive times of the header-less messages [s].
        window: see above [s].
    """
    ok = np.isfinite(tick_stamp)
    r, d = tick_receive[ok], (tick_stamp - tick_receive)[ok]
    receive = np.asarray(receive, dtype=np.float64)
    if not r.size:
        return receive.copy()
    lo = np.searchsorted(r, receive - window, side="left")
    hi = np.minimum(np.searchsorted(r, receive, side="left") + 1, r.size)
    lo = np.minimum(lo, hi - 1)  # no tick in the window or after: the newest before
    offset = np.array([d[a:b].max() for a, b in zip(lo.tolist(), hi.tolist(), strict=True)])
    return receive + offset
