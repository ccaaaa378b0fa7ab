"""``--batch``: send a run's Anthropic samples through the Message Batches API (half price, no rate limits).

The batch id is stored in the run directory (``batch-<model>.json``) right after creation, so a restarted run
polls the same batch instead of paying for a second one. Results are mapped back to samples by ``custom_id``
(the sample id). Cache hits never enter the batch.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import TYPE_CHECKING

from .cache import cache_key
from .errors import ModelError
from .message import render_request
from .models.anthropic_model import checked_message, completion_from_message, map_exception, request_params
from .records import utcnow
from .textio import atomic_write_json

if TYPE_CHECKING:
    from .runner import Runner, Sample


def _state_path(runner: "Runner", model_name: str):
    return runner.rd.path / f"batch-{re.sub(r'[^A-Za-z0-9_.-]+', '_', model_name)}.json"


def _policy(runner: "Runner"):
    from .retry import RetryPolicy
    return RetryPolicy.from_config(runner.cfg)


def _count_retry(runner: "Runner"):
    def on_retry(err: ModelError) -> None:
        runner.stats.retries += 1
        runner.stats.retries_by_kind[err.kind] = runner.stats.retries_by_kind.get(err.kind, 0) + 1
    return on_retry


async def _with_retries(runner: "Runner", fn, *args, **kwargs):
    """One Batches API call through the shared retry path (:func:`harness.retry.call_with_retries`): each
    attempt bounded by the request deadline, retryable failures retried and counted."""
    from .retry import call_with_retries, with_deadline
    policy = _policy(runner)
    return await call_with_retries(lambda _n: with_deadline(fn(*args, **kwargs), policy.deadline_s), policy,
                                   rng=runner.rng, classify=map_exception, on_retry=_count_retry(runner))


async def _fetch_results(runner: "Runner", client, batch_id: str, wanted: set[str]) -> list:
    """Download a batch's results whole. A download that breaks off — malformed JSONL, or cut short so that some
    of ``wanted`` (custom ids) are absent — is retried like any transient failure (and counted); after the last
    retry, whatever arrived is used."""
    from .retry import call_with_retries, with_deadline
    policy = _policy(runner)

    async def download() -> list:
        return [item async for item in await client.messages.batches.results(batch_id)]

    async def attempt(n: int) -> list:
        items = await with_deadline(download(), policy.deadline_s)
        got = {item.custom_id for item in items}
        if wanted <= got or n >= policy.max_retries:
            return items
        raise ModelError(f"the results of batch {batch_id} lack {len(wanted - got)} of {len(wanted)} samples "
                         "(download cut short?)", kind="malformed_response", retryable=True)

    return await call_with_retries(attempt, policy, rng=runner.rng, classify=map_exception,
                                   on_retry=_count_retry(runner))


async def run_batch(runner: "Runner", model, samples: list["Sample"], *, poll_s: float | None = None,
                    max_poll_s: float = 60.0) -> None:
    """Run ``samples`` on an AnthropicModel through one message batch, appending a record per sample.

    Polls with exponential backoff from ``poll_s`` (default ``[tool.harness] batch_poll_s`` or 2 s) up to
    ``max_poll_s``. Per-item errors become sample errors; a failure of the batch API itself becomes an error on
    every sample still pending.
    """
    from .runner import generation_for
    spec = model.spec
    poll = poll_s if poll_s is not None else 2.0
    pending: dict[str, tuple["Sample", dict, str, object]] = {}
    leaders: set[str] = set()
    followers: dict[str, list] = {}
    answers: dict[str, object] = {}
    for s in samples:
        gen = generation_for(runner.cfg, spec, runner.opts.generation)
        messages = [{"role": "user", "content": render_request(s.case)}]
        rec = runner._record(s, spec, model, gen, s.prompt.body, messages, utcnow())
        key = cache_key(spec, model.base_url, gen, s.prompt.body, messages, s.epoch)
        if gen.temperature == 0 and runner.opts.epochs > 1 and key in leaders:
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
        params = request_params(spec, s.prompt.body, messages, gen, model.cache_system)
        pending[s.id] = (s, params, key, rec)
    try:
        await _run_pending(runner, model, pending, answers, poll, max_poll_s)
    finally:
        for key, group in followers.items():
            for s, rec in group:
                comp = answers.get(key)
                if comp is not None:
                    rec.reused = True
                    runner.stats.reused += 1
                    await runner.finish(s, rec, comp, None, spec=spec, batch=True)
                else:
                    await runner.finish(s, rec, None, ModelError("the one temperature-0 request of this case got "
                                                                 "no answer", kind="batch_missing"), spec=spec)


async def _run_pending(runner: "Runner", model, pending: dict, answers: dict, poll: float, max_poll_s: float) -> None:
    """Send ``pending`` ({sample id: (sample, params, cache key, record)}) as one batch (or poll the stored one),
    record every result; ``answers`` gets {cache key: completion} of the samples that succeeded."""
    spec = model.spec
    client = model.client
    if not pending:
        return
    state_file = _state_path(runner, spec.name)
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    try:
        if state and set(state.get("sample_ids", [])) >= set(pending):
            batch_id = state["batch_id"]
        else:
            reqs = [{"custom_id": sid, "params": params} for sid, (_, params, _, _) in pending.items()]
            batch = await _with_retries(runner, client.messages.batches.create, requests=reqs)
            batch_id = batch.id
            atomic_write_json(state_file, {"batch_id": batch_id, "model": spec.name, "created_at": utcnow(),
                                           "sample_ids": list(pending)})
        t0 = time.monotonic()
        delay = poll
        while True:
            b = await _with_retries(runner, client.messages.batches.retrieve, batch_id)
            if b.processing_status == "ended":
                break
            await asyncio.sleep(delay)
            delay = min(max_poll_s, delay * 1.5)
        elapsed = time.monotonic() - t0
        seen: set[str] = set()
        for item in await _fetch_results(runner, client, batch_id, set(pending)):
            sid = item.custom_id
            if sid not in pending or sid in seen:
                continue
            seen.add(sid)
            s, _, key, rec = pending[sid]
            r = item.result
            if r.type == "succeeded":
                try:
                    comp = runner.received(completion_from_message(checked_message(r.message), elapsed))
                except Exception as exc:  # noqa: BLE001 - a malformed item is this sample's error, not the run's end
                    await runner.finish(s, rec, None, map_exception(exc), spec=spec)
                    continue
                runner._cache_put(key, comp)
                answers[key] = comp
                await runner.finish(s, rec, comp, None, spec=spec, batch=True)
            else:
                detail = getattr(getattr(r, "error", None), "error", None)
                msg = getattr(detail, "message", None) or r.type
                await runner.finish(s, rec, None, ModelError(f"batch item {r.type}: {msg}", kind=f"batch_{r.type}"),
                              spec=spec)
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
