"""``--batch``: send a run's samples through a model's batch API (Anthropic's Message Batches: half price, no
rate limits), for any model that implements :class:`~harness.models.base.BatchModel`.

The batch id is stored in the run directory (``batch-<model>.json``) right after creation, so a restarted run
polls the same batch instead of paying for a second one. Results are mapped back to samples by ``custom_id``
(the sample id). Cache hits never enter the batch; answers go to the cache's ``agent`` namespace (the same
requests, the same keys as a plain run). Every batch API call goes through the one retry path
(:mod:`harness.retry`).

This module does not import the runner: it drives whatever implements :class:`BatchHost` (the runner does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import time
from pathlib import Path
from typing import Any, Protocol

from .cache import ResponseCache, cache_key
from .errors import ModelError
from .request import render_request
from .models.base import BatchModel, Completion, GenerationConfig, ModelSpec
from .records import SampleRecord, utcnow
from .retry import RetryPolicy, call_with_retries, with_deadline
from .textio import atomic_write_json


class BatchHost(Protocol):
    """What the batch path needs from the run it serves (:class:`harness.runner.Runner` implements it).

    ``samples`` are the runner's samples (``id``, ``case``, ``prompt``, ``model``, ``epoch``); ``stats`` its
    counters (``retries``, ``retries_by_kind``, ``cache_hits``, ``reused``)."""

    cfg: Any
    cache: ResponseCache
    rng: random.Random
    stats: Any
    stop_reason: str | None

    @property
    def run_path(self) -> Path: ...

    @property
    def epochs(self) -> int: ...

    def generation(self, spec: ModelSpec) -> GenerationConfig: ...

    def new_record(self, s: Any, spec: ModelSpec, model: Any, gen: GenerationConfig, system: str,
                   messages: list[dict], started: str) -> SampleRecord: ...

    def received(self, comp: Completion) -> Completion: ...

    def cache_put(self, key: str, comp: Completion) -> None: ...

    async def finish(self, s: Any, rec: SampleRecord, comp: Completion | None, err: ModelError | None, *,
                     spec: ModelSpec, batch: bool = False) -> None: ...


def _state_path(host: BatchHost, model_name: str) -> Path:
    return host.run_path / f"batch-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model_name)}.json"


def _count_retry(host: BatchHost):
    def on_retry(err: ModelError) -> None:
        host.stats.retries += 1
        host.stats.retries_by_kind[err.kind] = host.stats.retries_by_kind.get(err.kind, 0) + 1
    return on_retry


async def _with_retries(host: BatchHost, fn, *args):
    """One batch API call through the shared retry path (:func:`harness.retry.call_with_retries`): each attempt
    bounded by the request deadline, retryable failures retried and counted."""
    policy = RetryPolicy.from_config(host.cfg)
    return await call_with_retries(lambda _n: with_deadline(fn(*args), policy.deadline_s), policy,
                                   rng=host.rng, on_retry=_count_retry(host))


async def _fetch_results(host: BatchHost, model: BatchModel, batch_id: str, wanted: set[str]) -> list:
    """Download a batch's results whole. A download that breaks off — malformed JSONL, or cut short so that some
    of ``wanted`` (custom ids) are absent — is retried like any transient failure (and counted); after the last
    retry, whatever arrived is used."""
    policy = RetryPolicy.from_config(host.cfg)

    async def attempt(n: int) -> list:
        items = await with_deadline(model.batch_results(batch_id), policy.deadline_s)
        got = {item.custom_id for item in items}
        if wanted <= got or n >= policy.max_retries:
            return items
        raise ModelError(f"the results of batch {batch_id} lack {len(wanted - got)} of {len(wanted)} samples "
                         "(download cut short?)", kind="malformed_response", retryable=True)

    return await call_with_retries(attempt, policy, rng=host.rng, on_retry=_count_retry(host))


async def run_batch(runner: BatchHost, model: BatchModel, samples: list, *, poll_s: float | None = None,
                    max_poll_s: float = 60.0) -> None:
    """Run ``samples`` on ``model`` through one batch, appending a record per sample.

    Polls with exponential backoff (× 1.5) from ``poll_s`` seconds (default 2) up to
    ``max_poll_s``. Per-item errors become sample errors; a failure of the batch API itself becomes an error on
    every sample still pending.
    """
    spec = model.spec
    poll = poll_s if poll_s is not None else 2.0
    pending: dict[str, tuple[Any, dict, str, SampleRecord]] = {}
    leaders: set[str] = set()
    followers: dict[str, list] = {}
    answers: dict[str, object] = {}
    for s in samples:
        gen = runner.generation(spec)
        messages = [{"role": "user", "content": render_request(s.case)}]
        rec = runner.new_record(s, spec, model, gen, s.prompt.body, messages, utcnow())
        key = cache_key(spec, model.base_url, gen, s.prompt.body, messages, s.epoch)
        if gen.temperature == 0 and runner.epochs > 1 and key in leaders:
            # temperature 0: the epochs of a case share one request (README, "Epochs at temperature 0")
            followers.setdefault(key, []).append((s, rec))
            continue
        leaders.add(key)
        try:
            comp = runner.cache.get(key)
        except ModelError as e:
            await runner.finish(s, rec, None, e, spec=spec)
            continue
        if comp is not None:
            rec.cached = True
            runner.stats.cache_hits += 1
            answers[key] = comp
            await runner.finish(s, rec, comp, None, spec=spec)
            continue
        params = model.batch_request(s.prompt.body, messages, gen)
        pending[s.id] = (s, params, key, rec)
    try:
        await _run_pending(runner, model, pending, answers, poll, max_poll_s)
    finally:
        for key, group in followers.items():
            for s, rec in group:
                comp = answers.get(key)  # type: ignore[assignment]  # the answers map holds Completions (typed loosely where it is filled)
                if comp is not None:
                    rec.reused = True
                    runner.stats.reused += 1
                    await runner.finish(s, rec, comp, None, spec=spec, batch=True)
                else:
                    await runner.finish(s, rec, None, ModelError("the one temperature-0 request of this case got "
                                                                 "no answer", kind="batch_missing"), spec=spec)


async def _run_pending(runner: BatchHost, model: BatchModel, pending: dict, answers: dict, poll: float,
                       max_poll_s: float) -> None:
    """Send ``pending`` ({sample id: (sample, params, cache key, record)}) as one batch (or poll the stored one),
    record every result; ``answers`` gets {cache key: completion} of the samples that succeeded."""
    spec = model.spec
    if not pending:
        return
    state_file = _state_path(runner, spec.name)
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    try:
        if state and set(state.get("sample_ids", [])) >= set(pending):
            batch_id = state["batch_id"]
        else:
            reqs = [(sid, params) for sid, (_, params, _, _) in pending.items()]
            batch_id = await _with_retries(runner, model.batch_submit, reqs)
            atomic_write_json(state_file, {"batch_id": batch_id, "model": spec.name, "created_at": utcnow(),
                                           "sample_ids": list(pending)})
        t0 = time.monotonic()
        delay = poll
        while True:
            if await _with_retries(runner, model.batch_ended, batch_id):
                break
            await asyncio.sleep(delay)
            delay = min(max_poll_s, delay * 1.5)
        elapsed = time.monotonic() - t0
        seen: set[str] = set()
        for item in await _fetch_results(runner, model, batch_id, set(pending)):
            sid = item.custom_id
            if sid not in pending or sid in seen:
                continue
            seen.add(sid)
            s, _, key, rec = pending[sid]
            if item.completion is None:
                await runner.finish(s, rec, None, item.error, spec=spec)
                continue
            comp = runner.received(dataclasses.replace(item.completion, latency_s=elapsed))
            runner.cache_put(key, comp)
            answers[key] = comp
            await runner.finish(s, rec, comp, None, spec=spec, batch=True)
        for sid, (s, _, _, rec) in pending.items():
            if sid not in seen:
                await runner.finish(s, rec, None, ModelError("batch ended without a result for this sample",
                                                               kind="batch_missing"), spec=spec)
    except ModelError as e:
        for sid, (s, _, _, rec) in pending.items():
            if not rec.finished_at:
                await runner.finish(s, rec, None, e, spec=spec)
        if e.kind in ("auth", "permission", "not_found"):
            runner.stop_reason = f"fatal: {e.message}"
