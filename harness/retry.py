"""The one retry path of every model call (the agent's samples, the judge, the Message Batches API).

A call is attempted, each attempt bounded by a total deadline (wall-clock seconds for the whole request: a
server that sends one byte every few seconds never trips a per-read timeout, but it does trip this); a failure
is classified as a :class:`~harness.errors.ModelError`; a retryable one (429, 529, 5xx, timeouts, resets, and
malformed 200s: an error body, an error event as the first server-sent event, an HTML page from a proxy) is
retried after :func:`backoff_delay` (never sooner than the server's ``retry-after``), up to ``max_retries``
times. The caller counts the retries through ``on_retry`` and sees the final error with ``retries`` set.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from .errors import ModelError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try one request.

    Attributes:
        max_retries: retries after the first attempt (``[tool.harness] max_retries``).
        base_s, cap_s: backoff base and cap in seconds (``retry_backoff_base_s``, ``retry_backoff_max_s``).
        deadline_s: total seconds one attempt may take, first byte to last (``request_timeout_s``); None: no
            deadline (the embedded model, whose generation is cancelled only between tokens).
    """

    max_retries: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    deadline_s: float | None = 120.0

    @classmethod
    def from_config(cls, cfg, *, deadline: bool = True) -> "RetryPolicy":
        """The policy of ``cfg`` (a HarnessConfig); ``deadline=False`` for calls that must not be cut."""
        return cls(max_retries=cfg.max_retries, base_s=cfg.retry_backoff_base_s, cap_s=cfg.retry_backoff_max_s,
                   deadline_s=cfg.request_timeout_s if deadline else None)


def backoff_delay(attempt: int, retry_after: float | None, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015):
    uniform(0, min(cap, base·2^attempt)) seconds, never less than the server's ``retry-after`` (seconds)."""
    delay = rng.uniform(0, min(cap, base * (2 ** attempt)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


async def with_deadline(aw: Awaitable[T], deadline_s: float | None) -> T:
    """Await ``aw`` for at most ``deadline_s`` seconds in total (None: no limit).

    Raises:
        ModelError: kind ``timeout`` (retryable) when the deadline passes; the request is cancelled.
    """
    if deadline_s is None:
        return await aw
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the answer when the task is cancelled as the
    # answer arrives and the cancellation is lost (gh-86296), so an interrupted sample went on to be graded and
    # recorded after the run was cut, and the stop waited for it
    try:
        async with asyncio.timeout(deadline_s):
            return await aw
    except TimeoutError:
        raise ModelError(f"no complete answer within {deadline_s:g} s (the request deadline, [tool.harness] "
                         "request_timeout_s)", kind="timeout", retryable=True) from None


def _unexpected(exc: BaseException) -> ModelError:
    return ModelError(f"the call failed ({type(exc).__name__}): {exc}", kind="client_error")


async def call_with_retries(attempt: Callable[[int], Awaitable[T]], policy: RetryPolicy, *, rng: random.Random,
                            classify: Callable[[BaseException], ModelError] | None = None,
                            on_error: Callable[[ModelError], Awaitable[None]] | None = None,
                            on_retry: Callable[[ModelError], None] | None = None) -> T:
    """Run ``attempt(n)`` (n = 0, 1, …) until it returns, retrying retryable failures.

    ``attempt`` applies :func:`with_deadline` itself (so that waiting for a concurrency slot is not request
    time). ``classify`` turns any other exception into a ModelError (default: a non-retryable ``client_error``);
    ``on_error`` sees every failure (e.g. to lower concurrency on 429/529), ``on_retry`` every retry (to count
    it) before the backoff sleep.

    Raises:
        ModelError: the last failure, with ``retries`` (int) set to the number of retries made.
    """
    n = 0
    while True:
        try:
            return await attempt(n)
        except asyncio.CancelledError:
            raise
        except ModelError as e:
            err = e
        except Exception as exc:  # noqa: BLE001 - every failure is classified, never a traceback
            err = (classify or _unexpected)(exc)
        if on_error is not None:
            await on_error(err)
        if not err.retryable or n >= policy.max_retries:
            err.retries = n
            raise err
        if on_retry is not None:
            on_retry(err)
        await asyncio.sleep(backoff_delay(n, err.retry_after, policy.base_s, policy.cap_s, rng))
        n += 1
