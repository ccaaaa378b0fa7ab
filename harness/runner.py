"""The runner: plan samples (cases × prompt versions × models × epochs), call the models concurrently with
retries, cache and budget, grade each review, and append one record per sample to the run directory.

Bookkeeping promises: a sample is recorded exactly once per attempt to run it (the last record of a sample id
wins on read); a completion is put in the cache before its record is appended, so a crash between the two
costs no second request on resume; a failed sample is recorded with its error and never graded.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .aio import run_sync
from .cache import ResponseCache, cache_key
from .cases import Case, suite_fingerprint
from .config import HarnessConfig
from .errors import ModelError
from .graders.registry import create_graders
from .limiter import AdaptiveLimiter, initial_limit
from .message import render_request, request_fingerprint
from .models.base import Completion, GenerationConfig, Model, ModelSpec
from .models.registry import create_model
from .prompts import PromptVersion
from .records import (ModelInfo, PromptInfo, RunDir, RunLock, RunManifest, SampleError, SampleRecord, git_commit,
                      sample_id, utcnow)
from .results import write_cases_json

FATAL_KINDS = {"auth", "permission", "not_found", "not_installed", "cache_miss"}
THROTTLE_KINDS = {"rate_limit", "overloaded"}


@dataclass(frozen=True)
class Sample:
    """One unit of work: a case through one prompt version on one model, at one epoch (0-based)."""

    case: Case
    prompt: PromptVersion
    model: str
    epoch: int

    @property
    def id(self) -> str:
        return sample_id(self.case.id, self.prompt.fingerprint, self.model, self.epoch)


def plan_samples(cases: list[Case], prompts: list[PromptVersion], models: list[str], epochs: int) -> list[Sample]:
    """Every combination, ordered model → prompt → epoch → case so that a shared system prompt stays hot."""
    return [Sample(c, p, m, e) for m in models for p in prompts for e in range(epochs) for c in cases]


@dataclass
class RunStats:
    """Counters of one run, reported in the manifest summary and the progress bar. Cost in USD."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    errors: int = 0
    retries: int = 0
    retries_by_kind: dict[str, int] = field(default_factory=dict)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    min_concurrency: int | None = None
    not_started: int = 0
    cost_unknown: int = 0   # samples answered (not from cache) whose model has no price: their cost is n/a

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def cost_text(self) -> str:
        """The session's cost for people: "$0.0123"; "n/a" when no answer had a price (an OpenAI-compatible
        server); "$0.0123 + n/a for N samples" when some had none. Never a sum of unknowns shown as $0."""
        if self.cost_unknown and not self.cost_usd:
            return "cost n/a"
        text = f"${self.cost_usd:.4f}"
        return f"{text} + n/a for {self.cost_unknown} unpriced samples" if self.cost_unknown else text


@dataclass
class RunOptions:
    """What to run. ``run_dir`` None → ``<runs_root>/<timestamp>-<short id>``; ``resume`` allows an existing one."""

    cases: list[Case]
    prompts: list[PromptVersion]
    models: list[str]
    epochs: int = 1
    run_dir: Path | None = None
    resume: bool = False
    batch: bool = False
    graders: list[str] = field(default_factory=lambda: ["deterministic"])
    judge_model: str | None = None
    progress: bool = True
    generation: GenerationConfig | None = None


@dataclass
class RunResult:
    """The outcome: the run folder, every record, counters, and whether it completed (with why not)."""

    run_dir: RunDir
    records: list[SampleRecord]
    stats: RunStats
    complete: bool
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


def cost_usd(cfg: HarnessConfig, model: ModelSpec, usage: dict, *, batch: bool = False) -> float | None:
    """Dollar cost of one sample from the ``[tool.harness.prices]`` table (USD per million tokens), halved for
    Message Batches (Anthropic's published batch discount). None when the model has no price (local, openai)."""
    if model.provider != "anthropic":
        return 0.0 if model.provider == "local" else None
    price = cfg.price_for(model.model)
    if price is None:
        return None
    c = (usage.get("input_tokens", 0) * price.input + usage.get("output_tokens", 0) * price.output
         + usage.get("cache_creation_input_tokens", 0) * price.cache_write
         + usage.get("cache_read_input_tokens", 0) * price.cache_read) / 1e6
    return c / 2 if batch else c


def estimate_cost(cfg: HarnessConfig, model: ModelSpec, system: str, message: str, max_tokens: int) -> float:
    """Upper-bound estimate of one sample's cost before it runs: input at ~3 characters per token (Japanese
    text is denser than English's ~4), uncached, plus ``max_tokens`` of output."""
    price = cfg.price_for(model.model) if model.provider == "anthropic" else None
    if price is None:
        return 0.0
    return ((len(system) + len(message)) / 3 * price.input + max_tokens * price.output) / 1e6


def generation_for(cfg: HarnessConfig, model: ModelSpec, override: GenerationConfig | None) -> GenerationConfig:
    if override is not None:
        return override
    return cfg.local_generation if model.provider == "local" else cfg.generation


def backoff_delay(attempt: int, retry_after: float | None, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015):
    uniform(0, min(cap, base·2^attempt)), never less than the server's ``retry-after`` (seconds)."""
    delay = rng.uniform(0, min(cap, base * (2 ** attempt)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class Runner:
    """Executes a plan into a run directory. Use :func:`execute` unless you need the pieces."""

    def __init__(self, cfg: HarnessConfig, opts: RunOptions, run_dir: RunDir, *,
                 on_progress: Callable[[RunStats], None] | None = None,
                 model_factory: Callable[[str], Model] | None = None):
        self.cfg = cfg
        self.opts = opts
        self.rd = run_dir
        self.stats = RunStats()
        self.cache = ResponseCache(cfg.resolved_cache_dir(), cfg.cache_mode)
        self.graders = create_graders(opts.graders, cfg=cfg, judge_model=opts.judge_model)
        self.on_progress = on_progress
        self.model_factory = model_factory or (lambda name: create_model(
            name, timeout_s=cfg.request_timeout_s, server_slots=cfg.server_slots, server_context=cfg.server_context))
        self.rng = random.Random(0)
        self.stop_reason: str | None = None
        self._inflight_estimate = 0.0
        self._pending_keys: dict[str, asyncio.Future] = {}
        self._pool = None   # the grading thread, started on first use

    def _grading_pool(self):
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-grade")
        return self._pool

    def _tick(self) -> None:
        if self.on_progress:
            self.on_progress(self.stats)

    async def _grade(self, case: Case, review: str) -> dict:
        grades = {}
        for g in self.graders:
            try:
                if hasattr(g, "agrade"):
                    grades[g.name] = await g.agrade(case, review)
                else:
                    # off the event loop: the deterministic grader's semantic stage spends tens of ms per review
                    # in the embedding model (which releases the GIL); one worker keeps grading in order and
                    # leaves the other core to the requests in flight
                    grades[g.name] = await asyncio.get_running_loop().run_in_executor(
                        self._grading_pool(), g.grade, case, review)
            except Exception as exc:  # noqa: BLE001 - a grader failure is recorded, never guessed
                from .graders.base import SampleGrade
                grades[g.name] = SampleGrade(grader=g.name, error=f"{type(exc).__name__}: {exc}")
        return grades

    def _record(self, s: Sample, spec: ModelSpec, model: Model | None, gen: GenerationConfig, system: str,
                messages: list[dict], started: str) -> SampleRecord:
        return SampleRecord(sample_id=s.id, case=s.case.id, case_fingerprint=s.case.fingerprint, kind=s.case.kind,
                            tags=s.case.tags, prompt_version=s.prompt.label, prompt_fingerprint=s.prompt.fingerprint,
                            model=s.model, epoch=s.epoch, request_fingerprint=request_fingerprint(system, messages),
                            generation=gen.model_dump(mode="json"), started_at=started)

    async def _call_with_retries(self, model: Model, system: str, messages: list[dict], gen: GenerationConfig,
                                 key: str, est: float, limiter: AdaptiveLimiter,
                                 rec: SampleRecord) -> tuple[Completion | None, ModelError | None]:
        """Call the model, retrying transient failures with backoff; returns (completion, None) or (None, error)."""
        comp: Completion | None = None
        err: ModelError | None = None
        attempt = 0
        while True:
            if self.stop_reason and self.stop_reason.startswith("fatal"):
                err = ModelError("not run: the run stopped after a fatal error", kind="aborted")
                break
            rec.queue_s = round((rec.queue_s or 0.0) + await limiter.acquire(), 4)
            if self.stop_reason and self.stop_reason.startswith("fatal"):
                # A fatal answer (e.g. 401) arrived while this sample waited for a slot: do not send it.
                await limiter.release()
                err = ModelError("not run: the run stopped after a fatal error", kind="aborted")
                break
            self._inflight_estimate += est
            try:
                comp = await model.generate(system, messages, gen)
            except ModelError as e:
                err = e
            finally:
                self._inflight_estimate -= est
                await limiter.release()
            if comp is not None:
                err = None
                await limiter.on_success()
                self.cache.put(key, comp)
                break
            assert err is not None
            if await limiter.on_error(err.kind):   # 429/529 and timeouts halve the concurrency
                self.stats.min_concurrency = limiter.min_seen
            if not err.retryable or attempt >= self.cfg.max_retries:
                break
            self.stats.retries += 1
            rec.retries += 1
            self.stats.retries_by_kind[err.kind] = self.stats.retries_by_kind.get(err.kind, 0) + 1
            self._tick()
            await asyncio.sleep(backoff_delay(attempt, err.retry_after, self.cfg.retry_backoff_base_s,
                                                   self.cfg.retry_backoff_max_s, self.rng))
            attempt += 1
            err = None
        return comp, err

    async def _run_one(self, s: Sample, model: Model, limiter: AdaptiveLimiter) -> None:
        spec = model.spec
        gen = generation_for(self.cfg, spec, self.opts.generation)
        system = s.prompt.body
        message = render_request(s.case)
        messages = [{"role": "user", "content": message}]
        rec = self._record(s, spec, model, gen, system, messages, utcnow())
        key = cache_key(spec, getattr(model, "base_url", None), gen, system, messages, s.epoch)
        est = estimate_cost(self.cfg, spec, system, message, gen.max_tokens)
        comp: Completion | None = None
        err: ModelError | None = None
        try:
            comp = self.cache.get(key)
            if comp is not None:
                rec.cached = True
                self.stats.cache_hits += 1
        except ModelError as e:
            err = e
        if comp is None and err is None and key in self._pending_keys:
            # Same request already in flight (epochs at temperature 0 share a key): share its answer.
            comp = await asyncio.shield(self._pending_keys[key])
            if comp is not None:
                rec.cached = True
                self.stats.cache_hits += 1
        if comp is None and err is None:
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self._pending_keys[key] = fut
            try:
                comp, err = await self._call_with_retries(model, system, messages, gen, key, est, limiter, rec)
            finally:
                fut.set_result(comp)
                self._pending_keys.pop(key, None)
        await self.finish(s, rec, comp, err, spec=spec)

    async def finish(self, s: Sample, rec: SampleRecord, comp: Completion | None, err: ModelError | None, *,
                     spec: ModelSpec, batch: bool = False) -> None:
        """Complete a record with its completion (graded) or its error, append it, update the counters."""
        rec.finished_at = utcnow()
        if comp is None:
            assert err is not None
            msg = f"gave up after {rec.retries} retries: {err.message}" if err.retryable else err.message
            rec.error = SampleError(kind=err.kind, message=msg, status=err.status)
            self.stats.errors += 1
            self.stats.errors_by_kind[err.kind] = self.stats.errors_by_kind.get(err.kind, 0) + 1
            if err.kind in FATAL_KINDS and not self.stop_reason:
                self.stop_reason = f"fatal: {err.message}"
        else:
            rec.review = comp.text
            rec.stop_reason = comp.stop_reason
            rec.usage = comp.usage.as_dict()
            rec.latency_s = round(comp.latency_s, 4)
            rec.cost_usd = cost_usd(self.cfg, spec, rec.usage, batch=batch)
            extra = comp.extra or {}
            if extra.get("queue_s"):   # waited for a local server's slot after a timeout
                rec.queue_s = round((rec.queue_s or 0.0) + extra["queue_s"], 4)
            rec.max_tokens_sent = extra.get("max_tokens_sent")
            rec.server_s = extra.get("server_s")
            if not rec.cached and rec.cost_usd is None:
                self.stats.cost_unknown += 1
            if not rec.cached:
                self.stats.input_tokens += comp.usage.input_tokens
                self.stats.output_tokens += comp.usage.output_tokens
                self.stats.cache_write_tokens += comp.usage.cache_creation_input_tokens
                self.stats.cache_read_tokens += comp.usage.cache_read_input_tokens
                self.stats.cost_usd += rec.cost_usd or 0.0
            rec.blocks = extra.get("blocks")
            rec.tool_use = extra.get("tool_use")
            if not comp.text.strip():
                # a reply with no review text (only thinking cut at max_tokens, only a tool call, nothing): an
                # outcome to see, not a review that found nothing; it is paid for, never graded or judged
                what = f"blocks: {', '.join(rec.blocks)}" if rec.blocks else "no content"
                rec.error = SampleError(kind="empty_review", message=f"the model returned no review text "
                                        f"(stop_reason {comp.stop_reason!r}; {what})")
                rec.review = None
                self.stats.errors += 1
                self.stats.errors_by_kind["empty_review"] = self.stats.errors_by_kind.get("empty_review", 0) + 1
            else:
                rec.grades = await self._grade(s.case, comp.text)
        self.rd.append(rec)
        self.stats.done += 1
        self._tick()

    def _budget_allows(self, s: Sample, spec: ModelSpec) -> bool:
        if self.cfg.max_cost is None:
            return True
        gen = generation_for(self.cfg, spec, self.opts.generation)
        est = estimate_cost(self.cfg, spec, s.prompt.body, render_request(s.case), gen.max_tokens)
        if self.stats.cost_usd + self._inflight_estimate + est > self.cfg.max_cost:
            if not self.stop_reason:
                self.stop_reason = (f"budget: --max-cost ${self.cfg.max_cost:.2f} would be exceeded "
                                    f"(spent ${self.stats.cost_usd:.4f}, in flight ≈ ${self._inflight_estimate:.4f})")
            return False
        return True

    async def run(self, samples: list[Sample]) -> None:
        """Run ``samples`` (already filtered for resume). Models are created per name, one instance each."""
        self.stats.total += len(samples)
        self._tick()
        by_model: dict[str, list[Sample]] = {}
        for s in samples:
            by_model.setdefault(s.model, []).append(s)
        for name, group in by_model.items():
            model = self.model_factory(name)
            try:
                if self.opts.batch and model.spec.provider == "anthropic":
                    from .batch import run_batch
                    await run_batch(self, model, group)
                    continue
                limit, server = await initial_limit(model, self.cfg.concurrency)
                self.rd.manifest.config.setdefault("servers", {})[name] = server
                limiter = AdaptiveLimiter(limit)
                for g in self.graders:   # a judge on the same server takes its turn with the agent's requests
                    if getattr(g, "spec", None) is not None and g.spec.base_url and \
                            g.spec.base_url == model.spec.base_url:
                        g.limiter = limiter
                pending: set[asyncio.Task] = set()
                for s in group:
                    if self.stop_reason or not self._budget_allows(s, model.spec):
                        break
                    while len(pending) >= limit * 2:
                        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    pending.add(asyncio.create_task(self._run_one(s, model, limiter)))
                if pending:
                    await asyncio.gather(*pending)
            finally:
                if getattr(model, "server", None) is not None and name in self.rd.manifest.config.get("servers", {}):
                    self.rd.manifest.config["servers"][name].update(model.server.as_dict())  # facts learnt
                await model.aclose()
            if self.stop_reason:
                break
        self.stats.not_started = self.stats.total - self.stats.done
        for g in self.graders:
            if hasattr(g, "server_facts"):
                self.rd.manifest.config.setdefault("judge_server", {}).update(g.server_facts())
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def open_run(cfg: HarnessConfig, opts: RunOptions) -> tuple[RunDir, list[SampleRecord], list[str], RunLock]:
    """Create the run directory, or reopen it for resume, and lock it for this process (the caller releases the
    lock). Returns (run dir, valid existing records, notes, held lock).

    Raises:
        RecordError: run_dir holds a run and ``resume`` is False; another process holds the run.
    """
    notes: list[str] = []
    path = opts.run_dir or cfg.path(cfg.runs_root) / _run_id()
    manifest = RunManifest(
        run_id=Path(path).name, git_commit=git_commit(cfg.root), suite_fingerprint=suite_fingerprint(opts.cases),
        cases=[c.id for c in opts.cases],
        prompts=[PromptInfo(label=p.label, spec=p.spec, name=p.name, fingerprint=p.fingerprint) for p in opts.prompts],
        models=[ModelInfo(name=m, provider=ModelSpec.parse(m).provider, base_url=ModelSpec.parse(m).base_url,
                          generation=generation_for(cfg, ModelSpec.parse(m), opts.generation).model_dump(mode="json"))
                for m in opts.models],
        epochs=opts.epochs, graders=list(opts.graders),
        config={"cache_mode": cfg.cache_mode, "concurrency": cfg.concurrency, "max_retries": cfg.max_retries,
                "max_cost": cfg.max_cost, "batch": opts.batch, "reducer": cfg.reducer,
                "severity_weights": cfg.severity_weights, "min_recall": cfg.min_recall,
                "max_critical_missed": cfg.max_critical_missed})
    if RunDir.exists(path):
        if not opts.resume:
            from .errors import RecordError
            raise RecordError("a run already exists here; pass --resume to continue it", file=path)
        rd = RunDir.open(path)
        lock = rd.lock().__enter__()  # before repair(): a concurrent writer must not lose records to a rewrite
        res = rd.repair()
        if res.torn_tail:
            notes.append("dropped a torn last line of samples.jsonl (the previous run was interrupted mid-write)")
        for lineno, why in res.bad_lines:
            notes.append(f"dropped invalid line {lineno} of samples.jsonl: {why}")
        old = rd.manifest
        if old.config.get("batch") and not opts.batch:
            # A batch run keeps its mode on resume: its stored batch is polled, not paid for a second time by
            # sending the same samples as direct calls.
            opts.batch = True
            manifest.config["batch"] = True
            notes.append("resumed as a --batch run, as it was started: polling its stored message batch")
        old_cache = old.config.get("cache_mode")
        if old_cache and old_cache != cfg.cache_mode:
            # A resume continues the run as it was started: a --cache refresh run must not serve its remaining
            # samples from older runs' answers (nor a replay-only run start paying).
            manifest.config["cache_mode"] = old_cache
            notes.append(f"resumed with --cache {old_cache}, as the run was started (not --cache {cfg.cache_mode})")
        manifest.run_id = old.run_id
        manifest.created_at = old.created_at
        manifest.summary = old.summary
        rd.manifest = manifest
        records = res.records
    else:
        rd = RunDir.create(path, manifest)
        lock = rd.lock().__enter__()
        records = []
    write_cases_json(rd.path, opts.cases)
    return rd, records, notes, lock


def execute(cfg: HarnessConfig, opts: RunOptions, *, on_progress: Callable[[RunStats], None] | None = None,
            model_factory: Callable[[str], Model] | None = None) -> RunResult:
    """Plan, run (skipping samples already recorded without error), and finish the manifest.

    The run is ``complete`` when every planned sample has a record without error; otherwise ``incomplete`` with
    the reason (errors, budget, fatal error). Raises HarnessError only for bad input before any sample runs.
    """
    cache_dir = cfg.resolved_cache_dir()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from .errors import ConfigError
        raise ConfigError(f"cannot use the response cache folder: {e.strerror}; set HARNESS_CACHE_DIR or "
                          "[tool.harness] cache_dir to a writable folder", file=cache_dir) from None
    rd, existing, notes, lock = open_run(cfg, opts)
    if rd.manifest.config.get("cache_mode", cfg.cache_mode) != cfg.cache_mode:
        cfg = cfg.model_copy(update={"cache_mode": rd.manifest.config["cache_mode"]})
    try:
        return _execute(cfg, opts, rd, existing, notes, on_progress, model_factory)
    finally:
        lock.__exit__(None, None, None)


def _execute(cfg: HarnessConfig, opts: RunOptions, rd: RunDir, existing: list[SampleRecord], notes: list[str],
             on_progress, model_factory) -> RunResult:
    done_ids = {r.sample_id for r in existing if r.error is None}
    plan = plan_samples(opts.cases, opts.prompts, opts.models, opts.epochs)
    todo = [s for s in plan if s.id not in done_ids]
    rd.manifest.started_at = rd.manifest.started_at or utcnow()
    rd.manifest.status = "running"
    rd.manifest.notes = notes  # type: ignore[attr-defined]
    rd.write_manifest()
    runner = Runner(cfg, opts, rd, on_progress=on_progress, model_factory=model_factory)
    runner.stats.skipped = len(plan) - len(todo)
    try:
        run_sync(lambda: runner.run(todo))  # also from inside a running event loop (notebooks, async code)
    except KeyboardInterrupt:
        # Ctrl-C: what was recorded stays; say so in the manifest, then let the caller exit.
        rd.manifest.status = "incomplete"
        rd.manifest.status_reason = "interrupted by the user (Ctrl-C); continue with --resume"
        rd.manifest.ended_at = utcnow()
        rd.write_manifest()
        raise
    rd.sync()
    final = {r.sample_id: r for r in rd.read_samples().records}
    planned_ids = [s.id for s in plan]
    records = [final[i] for i in planned_ids if i in final]
    missing = [i for i in planned_ids if i not in final]
    errored = [r for r in records if r.error is not None]
    complete = not missing and not errored
    reason = None
    if not complete:
        parts = []
        if runner.stop_reason:
            parts.append(runner.stop_reason)
        if errored:
            # Name the commonest error, so a user who sees only this line knows what went wrong and what to do.
            kinds = (Counter(r.error.kind for r in errored if r.error is not None and r.error.kind != "aborted")
                     or Counter(r.error.kind for r in errored if r.error is not None))
            kind, n = kinds.most_common(1)[0]
            example = next(r.error.message for r in errored if r.error is not None and r.error.kind == kind)
            parts.append(f"{len(errored)} of {len(plan)} samples errored ({n}× {kind}: {example})")
        if missing:
            parts.append(f"{len(missing)} of {len(plan)} samples not run")
        reason = "; ".join(parts)
    st = runner.stats
    priced = [r.cost_usd for r in records if r.cost_usd is not None]
    unpriced = sum(1 for r in records if r.error is None and r.cost_usd is None)
    # answers whose model has no price (openai-compatible servers) cost "n/a", never a made-up $0
    cost = None if unpriced and not priced else round(sum(priced), 6)
    rd.manifest.status = "complete" if complete else "incomplete"
    rd.manifest.status_reason = reason
    rd.manifest.ended_at = utcnow()
    rd.manifest.summary = {"planned": len(plan), "recorded": len(records), "errors": len(errored),
                           "missing": len(missing), "this_session": st.as_dict(),
                           "cost_usd": cost, "cost_unknown_samples": unpriced,
                           "cache_hits": st.cache_hits, "retries": st.retries}
    rd.write_manifest()
    _write_summary(rd, notes)
    return RunResult(run_dir=rd, records=records, stats=st, complete=complete, reason=reason, notes=notes)


def _write_summary(rd: RunDir, notes: list[str]) -> None:
    """The compact summary.json the dashboard reads. A failure here must not lose the run (the dashboard can
    rebuild the summary from the records), so it is noted, not raised."""
    from .history import write_run_summary
    try:
        write_run_summary(rd.path)
    except Exception as e:  # noqa: BLE001
        notes.append(f"summary.json not written ({type(e).__name__}: {e}); the dashboard will rebuild it")
