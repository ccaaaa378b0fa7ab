"""The exit codes of every ``harness`` command and of the run pipeline (README: "Outcomes", "The regression gate").

One enum, so that ``harness run``, ``harness nightly``, ``harness compare --fail-on-regression``, ``harness
validate`` and ``pytest evals --baseline`` cannot drift apart.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit status of a command.

    * ``OK`` (0): success; the run completed and (with a baseline) shows no significant regression.
    * ``FAILED`` (1): the command found what it was asked to fail on: a *regressed* verdict of the gate
      (:func:`harness.verdicts.exit_code`), failed validation. ``REGRESSED`` is the same value.
    * ``BAD_INPUT`` (2): bad input or configuration (a :class:`harness.errors.HarnessError`, an unreadable path).
    * ``INCOMPLETE`` (3): a run finished incomplete (errored samples, budget reached, fatal error).
    * ``INTERRUPTED`` (130) / ``TERMINATED`` (143): Ctrl-C / SIGTERM; the shell's 128 + signal number
      (SIGINT 2, SIGTERM 15), so scripts read them as they read any interrupted program.
    """

    OK = 0
    FAILED = 1
    REGRESSED = 1
    BAD_INPUT = 2
    INCOMPLETE = 3
    INTERRUPTED = 130
    TERMINATED = 143
