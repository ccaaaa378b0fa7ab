"""Admission of a run's samples to the event loop: how many may be started, and how many may wait to be graded.

A sample is *unanswered* from its admission until its model call ends (waiting for a concurrency slot, in
flight, between retries), then *unrecorded* until it is graded and its record written (or the run stops). Two
bounds hold at every moment:

* at most ``window`` samples are unanswered (the runner uses twice the concurrency limit: the next requests are
  ready when a slot frees);
* unanswered + unrecorded samples are at most ``window + max_unrecorded``.

So a sample gives its admission place back at its answer, not once graded: a slow grader (the semantic stage, a
busy grading thread) no longer holds the next requests back, and the backlog of answers waiting for it is
bounded. What that bound buys on a full disk: the sum above can only fall when a record is written (or the run
stops), so after the last record that could be written at most ``window + max_unrecorded`` more samples are
sent — one request each, plus their retries — before the failed write stops the run (the runner then sends
nothing more). Without the second bound the backlog, and so the requests paid for and never recorded, would
grow with the run (tests/test_admission.py).
"""

from __future__ import annotations

import asyncio

__all__ = ["Admission", "Ticket"]


class Ticket:
    """One admitted sample's place: :meth:`answered` when its model call ended, :meth:`done` when it is recorded
    or dropped (idempotent; ``done`` after ``answered`` or without it)."""

    __slots__ = ("_adm", "state")

    def __init__(self, adm: "Admission"):
        self._adm = adm
        self.state = "unanswered"

    def answered(self) -> None:
        """The sample has its answer (or its error): it leaves the window, joins the backlog to be recorded."""
        if self.state == "unanswered":
            self.state = "unrecorded"
            self._adm._move()

    def done(self) -> None:
        """The sample is recorded, or will not be (the run stopped, the task ended): its place is free."""
        if self.state != "done":
            self._adm._leave(self.state)
            self.state = "done"


class Admission:
    """The two counters and the wait for room (module docstring). Make it inside the event loop that uses it.

    Args:
        window: the most unanswered samples at once (>= 1).
        max_unrecorded: how many more samples than ``window`` may be admitted and not yet recorded (>= 0):
            ``[tool.harness] max_ungraded``, by default the concurrency.

    Raises:
        ValueError: a window below 1 or a negative ``max_unrecorded``.
    """

    def __init__(self, window: int, max_unrecorded: int):
        if window < 1 or max_unrecorded < 0:
            raise ValueError(f"admission: expected window >= 1 and max_unrecorded >= 0, got {window}, "
                             f"{max_unrecorded}")
        self.window = window
        self.max_unrecorded = max_unrecorded
        self.unanswered = 0
        self.unrecorded = 0
        self.peak_unrecorded = 0     # the most samples answered and not yet recorded at once (tests, benches)
        self._room = asyncio.Event()

    @property
    def bound(self) -> int:
        """The most samples admitted and not recorded at once: ``window + max_unrecorded``."""
        return self.window + self.max_unrecorded

    def has_room(self) -> bool:
        """Whether one more sample may be admitted now."""
        return self.unanswered < self.window and self.unanswered + self.unrecorded < self.bound

    async def enter(self) -> Ticket:
        """Wait until :meth:`has_room`, then admit one sample; returns its :class:`Ticket`."""
        while not self.has_room():
            self._room.clear()
            await self._room.wait()
        self.unanswered += 1
        return Ticket(self)

    def _move(self) -> None:
        self.unanswered -= 1
        self.unrecorded += 1
        self.peak_unrecorded = max(self.peak_unrecorded, self.unrecorded)
        self._room.set()

    def _leave(self, state: str) -> None:
        if state == "unanswered":
            self.unanswered -= 1
        else:
            self.unrecorded -= 1
        self._room.set()
