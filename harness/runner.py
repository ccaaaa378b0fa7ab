"""The runner: plan samples (cases × prompt versions × models × epochs), call the models concurrently with
retries, cache and budget, grade each review, and append one record per sample to the run directory.

Bookkeeping promises: a sample is recorded exactly once per attempt to run it (the last record of a sample id
wins on read), with one outcome (:mod:`harness.outcomes`: ok, truncated, refused, empty, error); a completion is
made safe to write (:mod:`harness.textsafe`) and put in the cache before its record is appended, so a crash
between the two costs no second request on resume; a sample without a gradable review is recorded with its
outcome and never graded; every model call goes through :mod:`harness.retry`. A record that cannot be written
stops the run before another request is sent (exit 2 naming the file); SIGTERM is handled like Ctrl-C.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from .admission import Admission, Ticket
from .aio import run_sync
from .cache import ResponseCache, cache_key
from .cases import Case, suite_fingerprint
from .config import HarnessConfig, generation_for
from .errors import ModelError, RecordError
from .interrupts import InterruptGuard, RunInterrupted
from .graders.base import SampleGrade
from .graders.registry import DEFAULT_GRADER, create_graders, is_async, needs_model
from .limiter import AdaptiveLimiter, initial_limit
from .request import render_request, request_fingerprint
from .models.base import BatchModel, Completion, GenerationConfig, Model, ModelSpec, Usage
from .models.pricing import cost_usd, estimate_cost
from .models.registry import create_model
from .prompts import PromptVersion
from .outcomes import ERROR_KIND, classify, count_outcomes, describe, outcome_of
from .records import (ModelInfo, PromptInfo, RunDir, RunLock, RunManifest, SampleError, SampleRecord, git_commit,
                      sample_id, utcnow)
from .casemeta import write_cases_json
from .textsafe import safe_obj, safe_text
from .unrecorded import Unrecorded
from . import unrecorded as unrecorded_file
from .retry import RetryPolicy, call_with_retries, with_deadline

FATAL_KINDS = {"auth", "permission", "not_found", "not_installed", "cache_miss"}


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
    outcomes: dict[str, int] = field(default_factory=dict)   # recorded this session: ok, truncated, ... error
    judge_calls: int = 0          # LLM-judge requests (retries included); their cost is inside cost_usd
    judge_retries: int = 0        # included in retries
    judge_cost_usd: float = 0.0   # included in cost_usd
    saved_usd: float = 0.0        # what answers served from the cache (or reused) cost when they were paid for
    reused: int = 0               # temperature-0 epochs answered by the run's one request for them
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
    graders: list[str] = field(default_factory=lambda: [DEFAULT_GRADER])
    judge_model: str | None = None
    progress: bool = True
    generation: GenerationConfig | None = None
    kind: str = "adhoc"    # run.json "kind": "nightly" runs make the dashboard's history (harness nightly)
    prompt_aliases: dict[str, list[str]] = field(default_factory=dict)   # label run -> identical ones dropped


@dataclass
class RunResult:
    """The outcome: the run folder, every record, counters, and whether it completed (with why not)."""

    run_dir: RunDir
    records: list[SampleRecord]
    stats: RunStats
    complete: bool
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


def grade_truncated(cfg: HarnessConfig, spec: ModelSpec) -> bool:
    """Whether a reply cut at max_tokens is graded (and flagged): ``[tool.harness] grade_truncated`` when set;
    unset, only on the embedded model, whose small ``local_generation.max_tokens`` (160) keeps the offline run
    fast and so cuts nearly every review — its scores show the harness working, not a prompt's quality."""
    return cfg.grade_truncated if cfg.grade_truncated is not None else spec.provider == "local"


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
        self._reserved: dict[str, float] = {}   # sample id -> estimated cost admitted by _budget_allows
        # temperature-0 requests of this session by cache key: every epoch of a case reuses the first one's answer
        self._shared: dict[str, asyncio.Future] = {}
        # temperature 0, resumed: the answers earlier sessions recorded, by (model, request, generation), so that
        # the epochs of a case still to run reuse them instead of paying for the same request again
        self._recorded_answers: dict[tuple[str, str, str], Completion] = {}
        # the offline graders' work, off the event loop (harness.grading_pool: a forked worker process)
        from .grading_pool import GradingPool
        # processes=False: grading on one thread. With admission released at the answer (harness.admission) the
        # forked worker no longer holds requests back, but it costs more CPU than it saves wall time on 2 cores
        # (2026-12-07, load 4.6-7): bench_runner.py --thread-ab, worker 1.30x / 1.46x the bare loop against the
        # thread's 1.61x / 1.48x, 6.5 against 6.1-6.3 ms of client CPU a sample; whole `harness run` processes
        # (3 alternating pairs, load 7) worker 19.2 against thread 17.4 ms CPU a request, 13.9 against 12.7 s.
        self._pool = GradingPool([g for g in self.graders if not hasattr(g, "agrade")], opts.cases,
                                 processes=False)
        self._requests: dict[tuple, tuple[str, str]] = {}   # (case, prompt) -> (user message, fingerprint)
        # which graders call a model, decided once (a runtime Protocol check per sample cost ~40 µs)
        self._async_graders = {id(g) for g in self.graders if is_async(g)}
        self.cache_errors = 0
        self.notes: list[str] = []
        self.disk_error: RecordError | None = None   # set when a record could not be written: the run stops
        self.crashed: list[BaseException] = []       # unexpected exceptions of sample tasks (bugs), re-raised
        self.admission: Admission | None = None      # the current model's (harness.admission), once it started
        # this session's records by sample id, as appended: the run's end reads them here, not from the file
        self.recorded: dict[str, SampleRecord] = {}
        # answers received and not recorded yet (being graded), kept if the session stops (harness.unrecorded)
        self._in_hand: dict[str, Unrecorded] = {}
        # answers an interrupted session of this run received and paid for: recorded from here, not asked again
        self._paid_before: dict[str, Unrecorded] = {}

    def max_ungraded(self, limit: int) -> int:
        """How many samples beyond twice the concurrency ``limit`` may be answered and not yet recorded
        (:class:`harness.admission.Admission`): ``[tool.harness] max_ungraded``, by default ``limit``."""
        return self.cfg.max_ungraded if self.cfg.max_ungraded is not None else limit

    def _tick(self) -> None:
        if self.on_progress:
            self.on_progress(self.stats)

    async def _grade(self, case: Case, review: str) -> dict:
        grades = {}
        for g in self.graders:
            try:
                if id(g) in self._async_graders:
                    grades[g.name] = await g.agrade(case, review)
                else:
                    # off the event loop and off its GIL: the grader's Python and regex work in a thread delayed
                    # every request of a run (harness.grading_pool says by how much)
                    grades[g.name] = await self._pool.grade(self._pool.graders.index(g), case, review)
            except Exception as exc:  # noqa: BLE001 - a grader failure is recorded, never guessed
                from .graders.base import SampleGrade
                grades[g.name] = SampleGrade(grader=g.name, error=f"{type(exc).__name__}: {exc}")
        return grades

    @property
    def run_path(self) -> Path:
        """The run directory's folder."""
        return self.rd.path

    @property
    def epochs(self) -> int:
        """Epochs of the plan (temperature-0 epochs of a case share one request when more than one)."""
        return self.opts.epochs

    def generation(self, spec: ModelSpec) -> GenerationConfig:
        """The sampling settings of this run's requests to ``spec`` (:func:`harness.config.generation_for`)."""
        return generation_for(self.cfg, spec, self.opts.generation)

    def _request_of(self, s: Sample) -> tuple[str, str]:
        """(the user message of ``s``, the request fingerprint of its system prompt and message), made once per
        case and prompt version: every epoch and model sends the same request, and rendering plus hashing it
        (~0.5 ms) per sample was work on the event loop that grew with the epochs."""
        key = (s.case.id, s.case.fingerprint, s.prompt.fingerprint)
        hit = self._requests.get(key)
        if hit is None:
            message = render_request(s.case)
            hit = self._requests[key] = (message, request_fingerprint(s.prompt.body,
                                                                      [{"role": "user", "content": message}]))
        return hit

    def new_record(self, s: Sample, spec: ModelSpec, model: Model | None, gen: GenerationConfig, system: str,
                   messages: list[dict], started: str, fingerprint: str | None = None) -> SampleRecord:
        """The record of sample ``s`` before it is sent (``started``: ISO time; ``fingerprint``: the request's, when
        already computed); :meth:`finish` completes it."""
        return SampleRecord(sample_id=s.id, case=s.case.id, case_fingerprint=s.case.fingerprint, kind=s.case.kind,
                            tags=s.case.tags, prompt_version=s.prompt.label, prompt_fingerprint=s.prompt.fingerprint,
                            model=s.model, epoch=s.epoch,
                            request_fingerprint=fingerprint or request_fingerprint(system, messages),
                            generation=gen.model_dump(mode="json"), started_at=started)

    async def _call_with_retries(self, model: Model, system: str, messages: list[dict], gen: GenerationConfig,
                                 key: str, limiter: AdaptiveLimiter,
                                 rec: SampleRecord) -> tuple[Completion | None, ModelError | None]:
        """Call the model through :func:`harness.retry.call_with_retries` (each attempt bounded by the request
        deadline, except on the embedded model and on a local OpenAI-compatible server, whose streamed answer is
        bounded by its silence instead: see models/openai_model.py); returns (completion, None) or (None, error).
        The time a sample waits for a slot of the limiter is added to ``rec.queue_s``."""
        bounded = model.spec.provider != "local" and not getattr(model, "is_local", False)
        policy = RetryPolicy.from_config(self.cfg, deadline=bounded)

        def stopped() -> ModelError | None:
            if self.stop_reason and not self.stop_reason.startswith("budget"):
                return ModelError(f"not run: the run stopped ({self.stop_reason})", kind="aborted")
            return None

        async def attempt(_n: int) -> Completion:
            if (why := stopped()) is not None:
                raise why
            rec.queue_s = round((rec.queue_s or 0.0) + await limiter.acquire(), 4)
            try:
                if (why := stopped()) is not None:
                    # a fatal answer (e.g. 401) or a failed disk arrived while this sample waited for a slot
                    raise why
                return await with_deadline(model.generate(system, messages, gen), policy.deadline_s)
            finally:
                await limiter.release()

        async def on_error(err: ModelError) -> None:
            if await limiter.on_error(err.kind):   # 429/529 and timeouts halve the concurrency
                self.stats.min_concurrency = limiter.min_seen

        def on_retry(err: ModelError) -> None:
            self.stats.retries += 1
            rec.retries += 1
            self.stats.retries_by_kind[err.kind] = self.stats.retries_by_kind.get(err.kind, 0) + 1
            self._tick()

        try:
            comp = await call_with_retries(attempt, policy, rng=self.rng, on_error=on_error, on_retry=on_retry)
        except ModelError as e:
            return None, e
        await limiter.on_success()
        comp = self.received(comp)
        self.cache_put(key, comp)
        return comp, None

    @staticmethod
    def received(comp: Completion) -> Completion:
        """``comp`` made safe to write (:mod:`harness.textsafe`): lone surrogates in its text, stop reason, model
        name and extra blocks replaced by U+FFFD; how many is kept in ``extra["text_replaced"]`` and copied to
        the record (``text_replaced``)."""
        text, a = safe_text(comp.text)
        extra, b = safe_obj(dict(comp.extra or {}))
        model, c = safe_text(comp.model or "")
        stop, d = safe_text(comp.stop_reason) if comp.stop_reason else (comp.stop_reason, 0)
        n = a + b + c + d
        if not n:
            return comp
        extra["text_replaced"] = int(extra.get("text_replaced", 0)) + n
        return dataclasses.replace(comp, text=text, extra=extra, model=model, stop_reason=stop)

    def cache_put(self, key: str, comp: Completion) -> None:
        """Store an answer; a cache that cannot be written costs a later re-request, never this run (noted)."""
        try:
            self.cache.put(key, comp)
        except OSError as e:
            self.cache_errors += 1
            if self.cache_errors == 1:
                self.notes.append(f"the response cache could not be written ({e.filename or self.cache.root}: "
                                  f"{e.strerror or e}); answers of this run are not cached")

    async def _guarded(self, s: Sample, model: Model, limiter: AdaptiveLimiter, ticket: Ticket | None = None) -> None:
        """:meth:`_run_one`, never raising into the task group: an unexpected exception (a bug of ours) stops
        the run and is kept to be re-raised once the run is marked, instead of "Task exception was never
        retrieved" and samples lost. ``ticket``: the sample's admission place (:mod:`harness.admission`), given
        back at its answer and freed here however the sample ends."""
        try:
            await self._run_one(s, model, limiter, ticket)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001
            self.crashed.append(e)
            if not self.stop_reason:
                self.stop_reason = f"internal error: {type(e).__name__}: {e}"
        finally:
            if ticket is not None:
                ticket.done()

    async def _run_one(self, s: Sample, model: Model, limiter: AdaptiveLimiter, ticket: Ticket | None = None) -> None:
        spec = model.spec
        gen = generation_for(self.cfg, spec, self.opts.generation)
        system = s.prompt.body
        message, fingerprint = self._request_of(s)
        messages = [{"role": "user", "content": message}]
        rec = self.new_record(s, spec, model, gen, system, messages, utcnow(), fingerprint)
        comp: Completion | None = None
        err: ModelError | None = None
        share = gen.temperature == 0 and self.opts.epochs > 1
        # the cache key (a sha256 of the whole request's JSON, ~0.1 ms) only when something reads it
        key = (cache_key(spec, getattr(model, "base_url", None), gen, system, messages, s.epoch)
               if share or self.cache.mode != "off" else "")
        if share and key not in self._shared and self._recorded_answers:
            # a resumed run: an epoch of this case recorded by an earlier session is the one request it made
            done = self._recorded_answers.get(_answer_key(s.model, rec.request_fingerprint, rec.generation))
            if done is not None:
                self._shared[key] = asyncio.get_running_loop().create_future()
                self._shared[key].set_result(done)
        if share and key in self._shared:
            # Temperature 0: the epochs of a case share one request per session, in every cache mode and however
            # the samples are timed (README, "Epochs at temperature 0"); this epoch reuses that answer.
            comp = await asyncio.shield(self._shared[key])
            if comp is not None:
                rec.reused = True
                self.stats.reused += 1
                if ticket is not None:
                    ticket.answered()
                await self.finish(s, rec, comp, None, spec=spec)
                return
            # the request this epoch waited for got no answer: ask on its own (and be the one shared from now)
        fut: asyncio.Future | None = None
        if share:
            fut = asyncio.get_running_loop().create_future()
            self._shared[key] = fut
        try:
            try:
                comp = self._answer_paid_before(s.id, rec)
                if comp is None:
                    comp = self.cache.get(key)
                    if comp is not None:
                        rec.cached = True
                        self.stats.cache_hits += 1
            except ModelError as e:
                err = e
            if comp is None and err is None:
                comp, err = await self._call_with_retries(model, system, messages, gen, key, limiter, rec)
        finally:
            if fut is not None and not fut.done():
                fut.set_result(comp)
        if ticket is not None:
            ticket.answered()   # its admission place goes to the next sample while this one is graded
        await self.finish(s, rec, comp, err, spec=spec)

    async def finish(self, s: Sample, rec: SampleRecord, comp: Completion | None, err: ModelError | None, *,
                     spec: ModelSpec, batch: bool = False) -> None:
        """Complete a record with its completion (graded) or its error, append it, update the counters."""
        rec.finished_at = utcnow()
        self._reserved.pop(s.id, None)      # its real cost is counted below
        if comp is None:
            assert err is not None
            msg = f"gave up after {rec.retries} retries: {err.message}" if err.retryable else err.message
            rec.error = SampleError(kind=err.kind, message=msg, status=err.status)
            self.stats.errors += 1
            self.stats.errors_by_kind[err.kind] = self.stats.errors_by_kind.get(err.kind, 0) + 1
            rec.outcome = "error"
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
            paid_here = s.id not in self._paid_before   # else counted by the session that received it
            if paid_here and not (rec.cached or rec.reused) and rec.cost_usd is None:
                self.stats.cost_unknown += 1
            if not paid_here:
                pass
            elif rec.cached or rec.reused:
                self.stats.saved_usd += rec.cost_usd or 0.0
            else:
                self.stats.input_tokens += comp.usage.input_tokens
                self.stats.output_tokens += comp.usage.output_tokens
                self.stats.cache_write_tokens += comp.usage.cache_creation_input_tokens
                self.stats.cache_read_tokens += comp.usage.cache_read_input_tokens
                self.stats.cost_usd += rec.cost_usd or 0.0
            rec.blocks = extra.get("blocks")
            rec.tool_use = extra.get("tool_use")
            rec.text_replaced = int(extra.get("text_replaced", 0))
            outcome = classify(comp.text, comp.stop_reason)
            rec.outcome = outcome
            graded = outcome == "ok" or (outcome == "truncated" and grade_truncated(self.cfg, spec))
            if not graded:
                # an answer that is not a gradable review (cut at max_tokens, a refusal, no text): an outcome to
                # see, not a review that found nothing; paid for, counted, never graded or judged
                rec.error = SampleError(kind=ERROR_KIND[outcome],
                                        message=describe(outcome, comp.stop_reason, rec.blocks))
                if outcome == "empty":
                    rec.review = None
                self.stats.errors += 1
                self.stats.errors_by_kind[rec.error.kind] = self.stats.errors_by_kind.get(rec.error.kind, 0) + 1
            else:
                # paid for and not recorded until graded: kept if the session stops meanwhile (unrecorded())
                self._in_hand[s.id] = Unrecorded(comp, cached=rec.cached, reused=rec.reused)
                rec.grades = await self._grade(s.case, comp.text)
                self._count_grading_spend(rec.grades.values())
        if self.disk_error is not None:
            return   # nothing more can be recorded: the run is stopping (the answer, if any, is in the cache)
        try:
            # as written (a wrapper of append that returns nothing: the record itself)
            self.recorded[rec.sample_id] = self.rd.append(rec) or rec
        except OSError as e:
            self._cannot_record(e)
            return
        self._in_hand.pop(s.id, None)
        self._paid_before.pop(s.id, None)
        self.stats.outcomes[rec.outcome] = self.stats.outcomes.get(rec.outcome, 0) + 1
        self.stats.done += 1
        self._tick()

    def remember_answers(self, records: Iterable[SampleRecord]) -> None:
        """Keep the gradable answers of a resumed run's records made at temperature 0, so that the epochs of
        their cases still to run reuse them (README, "Epochs at temperature 0": a resumed session asks again only
        for a case none of whose epochs it has)."""
        if self.opts.epochs < 2:
            return
        for r in records:
            if r.error is not None or r.review is None or (r.generation or {}).get("temperature") != 0:
                continue
            u = r.usage or {}
            self._recorded_answers.setdefault(
                _answer_key(r.model, r.request_fingerprint, r.generation),
                Completion(text=r.review, usage=Usage(**{f.name: int(u.get(f.name, 0))
                                                         for f in dataclasses.fields(Usage)}),
                    stop_reason=r.stop_reason, latency_s=r.latency_s or 0.0,
                    extra={k: v for k, v in (("blocks", r.blocks), ("tool_use", r.tool_use)) if v}))

    def _answer_paid_before(self, sid: str, rec: SampleRecord) -> Completion | None:
        """The answer an interrupted session of this run received for sample ``sid`` and did not record (its
        ``cached``/``reused`` marks copied to ``rec``), or None."""
        got = self._paid_before.get(sid)
        if got is None:
            return None
        rec.cached, rec.reused = got.cached, got.reused
        return got.completion

    def unrecorded(self) -> dict[str, Unrecorded]:
        """Sample id → answer received (this session, or kept from an earlier one) and not recorded: what a
        stopping session leaves in ``unrecorded.json`` (:mod:`harness.unrecorded`)."""
        return {**self._paid_before, **self._in_hand}

    def _cannot_record(self, e: OSError) -> None:
        """A record could not be written (full disk, read-only folder): stop at once. No new sample starts, a
        sample waiting for a slot is not sent, the requests in flight finish (their answers go to the cache when
        it can be written, so a resume does not pay twice) and are not recorded."""
        if self.disk_error is not None:
            return
        path = e.filename or self.rd.samples_path
        why = e.strerror or str(e)
        self.disk_error = RecordError(f"cannot record a sample: {why}; the run stopped (free space or choose "
                                      "another --run-dir, then continue with --resume)", file=path)
        self.stop_reason = f"disk: cannot write {path}: {why}"

    def _count_grading_spend(self, grades: Iterable[SampleGrade]) -> None:
        """Add what graders spent on a sample (``grades``: the judge's calls, retries and cost) to the run's
        counters: judge spend is part of the cost and of the ``--max-cost`` budget."""
        for g in grades:
            if not g.calls:
                continue
            self.stats.judge_calls += g.calls
            self.stats.judge_retries += g.retries
            self.stats.retries += g.retries
            if g.retries:   # counted under the grader's name ("judge")
                self.stats.retries_by_kind[g.grader] = self.stats.retries_by_kind.get(g.grader, 0) + g.retries
            self.stats.judge_cost_usd += g.cost_usd or 0.0
            self.stats.cost_usd += g.cost_usd or 0.0
            if g.cost_usd is None:   # an unpriced judge (an OpenAI-compatible server): n/a, never a $0 sum
                self.stats.cost_unknown += 1
            self.stats.input_tokens += g.usage.get("input_tokens", 0)
            self.stats.output_tokens += g.usage.get("output_tokens", 0)
            self.stats.cache_write_tokens += g.usage.get("cache_creation_input_tokens", 0)
            self.stats.cache_read_tokens += g.usage.get("cache_read_input_tokens", 0)

    def _budget_allows(self, s: Sample, spec: ModelSpec) -> bool:
        """True when ``--max-cost`` leaves room for sample ``s``: the cost spent, plus the estimate of every sample
        admitted and not finished yet (waiting for a slot, in flight or between retries), plus this sample's
        estimate (:func:`estimate_cost`: the prompt at ~3 characters a token plus max_tokens of output, an upper
        bound) stay within the budget. An admitted sample's estimate is reserved here and released by
        :meth:`finish`, so the run never spends more than the budget by more than one sample's estimate error."""
        if self.cfg.max_cost is None:
            return True
        gen = generation_for(self.cfg, spec, self.opts.generation)
        est = estimate_cost(self.cfg, spec, s.prompt.body, self._request_of(s)[0], gen.max_tokens)
        committed = sum(self._reserved.values())
        if self.stats.cost_usd + committed + est > self.cfg.max_cost:
            if not self.stop_reason:
                self.stop_reason = (
                    f"budget: --max-cost ${self.cfg.max_cost:.2f} reached: ${self.stats.cost_usd:.4f} spent and "
                    f"≈ ${committed:.4f} reserved for {len(self._reserved)} sample(s) under way leave "
                    f"${max(0.0, self.cfg.max_cost - self.stats.cost_usd - committed):.4f}; the next sample "
                    f"would need ≈ ${est:.4f}")
            return False
        self._reserved[s.id] = est
        return True

    async def run(self, samples: list[Sample]) -> None:
        """Run ``samples`` (already filtered for resume). Models are created per name, one instance each."""
        self.stats.total += len(samples)
        self._tick()
        if samples:
            self._pool.start()   # forked now, before any model, client or request exists in this process
        by_model: dict[str, list[Sample]] = {}
        for s in samples:
            by_model.setdefault(s.model, []).append(s)
        for name, group in by_model.items():
            model = self.model_factory(name)
            pending: set[asyncio.Task] = set()
            try:
                if self.opts.batch and isinstance(model, BatchModel):
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
                # twice the limit unanswered (the next requests ready when a slot frees), and a bounded backlog
                # of answers waiting to be graded and recorded (harness.admission: what it bounds on a full disk)
                adm = self.admission = Admission(limit * 2, self.max_ungraded(limit))
                for s in group:
                    if self.stop_reason or not self._budget_allows(s, model.spec):
                        break
                    ticket = await adm.enter()
                    if self.stop_reason:   # set while we waited (a fatal answer, a record that failed)
                        ticket.done()
                        break
                    task = asyncio.create_task(self._guarded(s, model, limiter, ticket))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                if pending:
                    await asyncio.gather(*pending)
            finally:
                await _cut(pending)     # interrupted: no sample under way may outlive its model's client
                if getattr(model, "server", None) is not None and name in self.rd.manifest.config.get("servers", {}):
                    self.rd.manifest.config["servers"][name].update(model.server.as_dict())  # type: ignore[attr-defined]  # facts learnt; only OpenAI-compatible models have .server (checked above)
                await model.aclose()
            if self.stop_reason:
                break
        self.stats.not_started = self.stats.total - self.stats.done
        for g in self.graders:
            if hasattr(g, "server_facts"):
                self.rd.manifest.config.setdefault("judge_server", {}).update(g.server_facts())
        self._pool.close()


def _answer_key(model: str, request_fp: str, generation: dict) -> tuple[str, str, str]:
    import json
    return model, request_fp, json.dumps(generation, sort_keys=True)


async def _cut(tasks: set[asyncio.Task]) -> None:
    """Cancel the sample tasks still under way and wait until they have ended. The run's own task was cancelled
    (Ctrl-C or SIGTERM: :mod:`harness.interrupts`), and ``asyncio.wait`` leaves what it waits for running: left
    alone, those samples went on after their model's client was closed, failed on it, were retried and recorded
    as connection errors (``client_error`` on OpenAI-compatible servers). A cut sample is not recorded; its
    request is asked again on resume (an answer already received is kept: :meth:`Runner.unrecorded`)."""
    live = [t for t in tasks if not t.done()]
    for t in live:
        t.cancel()
    if live:
        await asyncio.gather(*live, return_exceptions=True)


def _run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def _suite_dir(cfg: HarnessConfig, cases: list[Case]) -> str:
    """The folder the run's cases were loaded from: ``cfg``'s cases_dir when every case is under it, else (cases
    handed in by the Python API from elsewhere) the deepest folder holding them all."""
    import os
    d = cfg.path(cfg.cases_dir).resolve()
    folders = [Path(c.folder).resolve() for c in cases]
    if all(f.is_relative_to(d) for f in folders):
        return str(d)
    return os.path.commonpath([str(f.parent) for f in folders])


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
        judge_model=opts.judge_model if needs_model(opts.graders) else None,
        kind=opts.kind, prompt_aliases=dict(opts.prompt_aliases),
        config={"cache_mode": cfg.cache_mode, "concurrency": cfg.concurrency, "max_retries": cfg.max_retries,
                "max_cost": cfg.max_cost, "batch": opts.batch, "reducer": cfg.reducer,
                "cases_dir": _suite_dir(cfg, opts.cases),   # resume and `harness grade` read it
                "severity_weights": cfg.severity_weights, "min_recall": cfg.min_recall,
                "max_critical_missed": cfg.max_critical_missed})
    if RunDir.exists(path):
        if not opts.resume:
            from .errors import RecordError
            raise RecordError("a run already exists here; pass --resume to continue it", file=path)
        rd = RunDir.open(path)
        lock = rd.lock().__enter__()  # before repair(): a concurrent writer must not lose records to a rewrite
        res = rd.repair()
        notes.extend(res.damage())
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
        manifest.kind = old.kind          # a resumed nightly stays nightly, whoever resumes it
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

    The run is ``complete`` when every planned sample has a record without error and the judge (when on) graded
    at least one of them; otherwise ``incomplete`` with the reason (errors, budget, fatal error, a judge that
    failed on every sample). Raises HarnessError only for bad input before any sample runs — including a model
    id the provider does not know or no longer serves (:func:`harness.preflight.preflight`, skipped when
    ``model_factory`` injects the models).
    """
    if model_factory is None:          # injected models (tests) have no provider to ask
        from .preflight import preflight
        preflight(cfg, opts)           # a bad model id is exit 2 before anything is created or paid for
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
    except Exception as e:
        # a failure the runner did not mark (a model that cannot be built, a bad request setting): the folder
        # must not look "running" to report, dashboard and resume (fresh-user report item 6)
        if rd.manifest.status == "running":
            _mark_stopped(rd, f"failed: {type(e).__name__}: {e}; fix it, then `harness run --resume {rd.path}`")
        raise
    finally:
        lock.__exit__(None, None, None)


async def aexecute(cfg: HarnessConfig, opts: RunOptions, *,
                   on_progress: Callable[[RunStats], None] | None = None,
                   model_factory: Callable[[str], Model] | None = None) -> RunResult:
    """:func:`execute` for async code (``await aexecute(cfg, opts)`` in a notebook, an async test, a web
    handler): the run goes on a worker thread with its own event loop, so the caller's loop keeps serving its
    other tasks meanwhile. Same arguments, result and errors as :func:`execute`; SIGTERM is left to the host
    application (signals reach only the main thread)."""
    import asyncio
    return await asyncio.to_thread(execute, cfg, opts, on_progress=on_progress, model_factory=model_factory)


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
    runner.remember_answers(existing)
    kept, damage = unrecorded_file.load(rd.path)
    todo_ids = {s.id for s in todo}
    runner._paid_before = {k: v for k, v in kept.items() if k in todo_ids}
    notes.extend(damage)
    if runner._paid_before:
        notes.append(f"{len(runner._paid_before)} answer(s) received before the run was interrupted are recorded "
                     "now, without asking again")
    try:
        return _run_and_finish(cfg, opts, rd, notes, runner, plan, todo, existing)
    except BaseException:
        runner._pool.close(cancel=True)   # interrupted or failed: grades not started are not waited for
        raise


def _run_and_finish(cfg: HarnessConfig, opts: RunOptions, rd: RunDir, notes: list[str], runner: "Runner",
                    plan: list[Sample], todo: list[Sample], existing: list[SampleRecord]) -> RunResult:
    reserve_space(rd)
    try:
        return _run_session(cfg, opts, rd, notes, runner, plan, todo, existing)
    finally:
        release_space(rd)


def _run_session(cfg: HarnessConfig, opts: RunOptions, rd: RunDir, notes: list[str], runner: "Runner",
                 plan: list[Sample], todo: list[Sample], existing: list[SampleRecord]) -> RunResult:
    # Ctrl-C and SIGTERM cancel the run's task: samples under way are cut, not recorded (harness.interrupts);
    # the guard stays on while the run is marked, so a second Ctrl-C cannot cut that short
    with InterruptGuard() as guard:
        how: str | None = None
        try:
            run_sync(lambda: guard.run(lambda: runner.run(todo)))  # also from inside a running event loop
            how = guard.how
        except KeyboardInterrupt as e:   # a signal before the event loop ran the run, or after
            how = getattr(e, "how", None) or guard.how or "Ctrl-C"
        if how is not None:
            # what was recorded stays; say so in the manifest (with what this session spent), then let the
            # caller exit with the resume command
            runner._pool.close(cancel=True)   # a grade under way ends (≤ ~1 s); none not started is waited for
            _stop(rd, runner, plan, f"interrupted ({how}); continue with `harness run --resume {rd.path}`")
            raise RunInterrupted(how, rd.path)
    if runner.disk_error is not None:
        _stop(rd, runner, plan, f"stopped: {runner.disk_error}")
        raise runner.disk_error
    if runner.crashed:
        _stop(rd, runner, plan,
              f"stopped by an internal error: {type(runner.crashed[0]).__name__}: {runner.crashed[0]}")
        raise runner.crashed[0]
    notes.extend(runner.notes)
    rd.sync()
    # the records the file holds: those read when the run was opened, then this session's appends (the last record
    # of a sample id wins, as on read). Not read back from the file: re-validating every record cost ~0.25 ms a
    # sample at the end of each run (issue #16)
    final = {r.sample_id: r for r in existing}
    final.update(runner.recorded)
    a = assess([s.id for s in plan], final, opts.graders, runner.stop_reason, rd.path, opts.judge_model)
    st = runner.stats
    prev = rd.manifest.summary or {}   # an earlier session of this run (resume): its spending stays counted
    rd.manifest.status = "complete" if a.complete else "incomplete"
    rd.manifest.status_reason = a.reason
    rd.manifest.ended_at = utcnow()
    rd.manifest.summary = _session_summary(a, st, prev)
    _keep_unrecorded(rd, runner)    # answers left unrecorded (a stop on budget or a fatal error) wait for --resume
    rd.write_manifest()
    return RunResult(run_dir=rd, records=a.records, stats=st, complete=a.complete, reason=a.reason, notes=notes)


@dataclass
class Assessment:
    """Whether a run's records complete its plan, and why not.

    Attributes:
        planned: how many samples the plan has.
        records: the planned samples' records, in plan order (a record of a sample not planned is left out).
        missing: planned sample ids without a record. errored: records with an error (no gradable review).
        grade_failed: records with a review on which a grader failed (no verdict until re-graded).
        complete: no sample missing, errored or ungraded, and the judge (when on) graded at least one.
        reason: why not complete (one sentence per cause), or None.
    """

    planned: int
    records: list[SampleRecord]
    missing: list[str]
    errored: list[SampleRecord]
    grade_failed: list[SampleRecord]
    complete: bool
    reason: str | None


def regrade_command(run_path: Path, graders: list[str], judge_model: str | None) -> str:
    """The `harness grade` command that re-grades a run with its own graders (and judge model)."""
    cmd = f"harness grade {run_path}" + "".join(f" --grader {g}" for g in graders)
    if needs_model(graders):
        cmd += f" --judge-model {judge_model or 'M'}"
    return cmd


def assess(planned_ids: list[str], final: dict[str, SampleRecord], graders: list[str], stop_reason: str | None,
           run_path: Path, judge_model: str | None = None) -> Assessment:
    """Judge a run's completeness from its last record per sample id (``final``), as :func:`execute` and
    :func:`regrade` both do. ``stop_reason``: why the runner stopped early (budget, fatal error), or None.
    ``judge_model``: the judge's model, so that the re-grade command the reason gives grades with the same
    graders (without it, `harness grade RUN` re-grades with the default grader only and the judge's errors stay)."""
    records = [final[i] for i in planned_ids if i in final]
    missing = [i for i in planned_ids if i not in final]
    errored = [r for r in records if r.error is not None]
    from .preflight import judge_failed_everywhere
    regrade_cmd = regrade_command(run_path, graders, judge_model)
    judge_down = judge_failed_everywhere(records, graders, regrade_cmd)
    # a sample whose grader failed has no verdict: the run is not done until it is re-graded (harness grade)
    grade_failed = [r for r in records if r.error is None and any(g.error for g in r.grades.values())]
    complete = not missing and not errored and not grade_failed and not judge_down
    reason = None
    n = len(planned_ids)
    if not complete:
        parts = [judge_down] if judge_down else []
        if stop_reason:
            parts.append(stop_reason)
        failed = [r for r in errored if outcome_of(r) == "error"]
        if failed:
            # Name the commonest error, so a user who sees only this line knows what went wrong and what to do.
            kinds = (Counter(r.error.kind for r in failed if r.error is not None and r.error.kind != "aborted")
                     or Counter(r.error.kind for r in failed if r.error is not None))
            kind, k = kinds.most_common(1)[0]
            example = next(r.error.message for r in failed if r.error is not None and r.error.kind == kind)
            parts.append(f"{len(failed)} of {n} samples errored ({k}× {kind}: {example})")
        ungradable = [r for r in errored if outcome_of(r) != "error"]
        if ungradable:
            c = Counter(outcome_of(r) for r in ungradable)
            parts.append(f"{len(ungradable)} of {n} samples have no gradable review ("
                         + ", ".join(f"{k} {o}" for o, k in c.items()) + ")")
        if grade_failed and not judge_down:
            g = next(g for r in grade_failed for g in r.grades.values() if g.error)
            parts.append(f"{len(grade_failed)} of {n} samples could not be graded ({g.grader}: {g.error}); "
                         f"re-grade with `{regrade_cmd}`")
        if missing:
            parts.append(f"{len(missing)} of {n} samples not run")
        reason = "; ".join(parts)
    return Assessment(n, records, missing, errored, grade_failed, complete, reason)


def _record_counts(a: Assessment) -> dict:
    """The part of run.json's ``summary`` read from the records (what a re-grade changes as much as a run)."""
    records = a.records
    priced = [r.cost_usd for r in records if r.cost_usd is not None]
    unpriced = sum(1 for r in records if r.error is None and r.cost_usd is None)
    return {"planned": a.planned, "recorded": len(records), "errors": len(a.errored),
            "grading_errors": len(a.grade_failed), "missing": len(a.missing),
            # what the recorded answers cost when they were paid for (cached ones included); None when no answer
            # had a price (openai-compatible servers): "n/a", never a made-up $0
            "cost_usd": None if unpriced and not priced else round(sum(priced), 6), "cost_unknown_samples": unpriced,
            "outcomes": count_outcomes(records),
            "truncated_graded": sum(1 for r in records if r.outcome == "truncated" and r.error is None)}


def _spending(prev: dict, st: RunStats) -> dict:
    """What this run's sessions spent (agent and judge; ``prev``: run.json's summary of the earlier sessions),
    what the cache and temperature-0 reuse saved, and the judge's part of the spending; USD."""
    def add(key: str, now: float) -> float:
        return round(float(prev.get(key, 0.0) or 0.0) + now, 6)
    return {"spent_usd": add("spent_usd", st.cost_usd), "saved_usd": add("saved_usd", st.saved_usd),
            "judge_cost_usd": add("judge_cost_usd", st.judge_cost_usd)}


def planned_ids(manifest: RunManifest) -> list[str]:
    """The sample ids a run planned, from its ``run.json`` alone (cases × prompt versions × models × epochs, as
    :func:`plan_samples` makes them)."""
    return [sample_id(c, p.fingerprint, m.name, e) for m in manifest.models for p in manifest.prompts
            for e in range(manifest.epochs) for c in manifest.cases]


def regrade(cfg: HarnessConfig, path: str | Path, graders: list[str], *, cases: list[Case],
            judge_model: str | None = None) -> RunResult:
    """Re-grade a run's samples with ``graders`` and record the grades, as :func:`execute` grades a new run.

    Every sample with a gradable review (no error) is graded again by each of ``graders`` (its other graders'
    verdicts are kept) through :meth:`Runner._grade`, the runner's own grading step: a grader that fails is a
    grade with an error, the judge's spend is counted (run.json ``summary.spent_usd`` and ``judge_cost_usd``).
    Judge calls run ``[tool.harness] concurrency`` at a time. A sample whose case is not in ``cases`` with the
    fingerprint it was run with (edited or removed since) keeps its grades, and a note says so. Then, holding
    the run's lock, ``samples.jsonl`` is rewritten atomically and run.json updated: ``graders`` (the new ones
    appended), status and reason (:func:`assess`, as at the end of a run), the record counts of its summary
    and ``summary.regraded`` (when, which graders, how many samples).

    Args:
        cfg: settings (cache, retries, concurrency, the judge's). path: the run directory.
        graders: grader names (:mod:`harness.graders.registry`). cases: the suite's cases.
        judge_model: the judge's model, when ``judge`` is among ``graders`` (else ``[tool.harness] judge_model``).
    Returns:
        The run's :class:`RunResult`: its planned samples' records, the re-grade's counters (``done``: samples
        re-graded; judge calls, retries and cost), completeness and notes.
    Raises:
        RecordError: not a run directory; another process holds the run. ConfigError: unknown grader, no judge
        model. OSError: the run cannot be rewritten (nothing is half-written: the old records stay).
    """
    rd = RunDir.open(path)
    with rd.lock():
        read = rd.read_samples()
        notes: list[str] = read.damage()
        by_id = {c.id: c for c in cases}
        todo: list[tuple[SampleRecord, Case]] = []
        changed: set[str] = set()
        for r in read.records:
            if r.error is not None or r.review is None:
                continue            # no gradable review: never graded, in a run as here
            case = by_id.get(r.case)
            if case is None or case.fingerprint != r.case_fingerprint:
                changed.add(r.case)
                continue
            todo.append((r, case))
        if changed:
            notes.append(f"not re-graded: {len(changed)} case(s) changed or gone since the run (their samples keep "
                         f"their grades): {', '.join(sorted(changed))}")
        opts = RunOptions(cases=sorted({c.fingerprint: c for _, c in todo}.values(), key=lambda c: c.id),
                          prompts=[], models=[], graders=list(graders), judge_model=judge_model, progress=False)
        runner = Runner(cfg, opts, rd)
        runner.stats.total = len(todo)

        async def one(slots: asyncio.Semaphore, rec: SampleRecord, case: Case) -> None:
            async with slots:
                grades = await runner._grade(case, rec.review or "")
            rec.grades.update(grades)
            runner._count_grading_spend(grades.values())
            runner.stats.done += 1

        async def grade_all() -> None:
            slots = asyncio.Semaphore(max(1, cfg.concurrency))    # made on the loop that runs the grades
            await asyncio.gather(*(one(slots, r, c) for r, c in todo))

        try:
            run_sync(grade_all)
        finally:
            runner._pool.close(cancel=True)
        rd.rewrite(read.records)
        m = rd.manifest
        for g in runner.graders:
            if hasattr(g, "server_facts"):
                m.config.setdefault("judge_server", {}).update(g.server_facts())
        m.graders = list(m.graders) + [g for g in graders if g not in m.graders]
        if needs_model(graders) and (judge_model or cfg.judge_model):
            # the judge whose grades the records now hold (a resume keeps it)
            m.judge_model = judge_model or cfg.judge_model
        a = assess(planned_ids(m), {r.sample_id: r for r in read.records}, m.graders, None, rd.path,
                   m.judge_model)
        m.status = "complete" if a.complete else "incomplete"
        m.status_reason = a.reason
        prev = m.summary or {}
        st = runner.stats
        m.summary = {**prev, **_record_counts(a), **_spending(prev, st),
                     "regraded": {"at": utcnow(), "graders": list(graders), "samples": st.done,
                                  "not_regraded_cases": sorted(changed)}}
        rd.write_manifest()
    return RunResult(run_dir=rd, records=a.records, stats=st, complete=a.complete, reason=a.reason, notes=notes)


# bytes kept in the run directory while a session runs (``.ballast``), given back when it stops so that run.json
# can still say why on a disk that filled up (it was left "running", a fresh user's report, 2026-12-08). run.json and
# unrecorded.json of a session are a few kB; 256 KiB leaves room for both and for the temp file of an atomic write.
BALLAST = ".ballast"
BALLAST_BYTES = 256 * 1024


def reserve_space(rd: RunDir) -> None:
    """Write the run directory's ballast (:data:`BALLAST_BYTES` bytes); a disk already too full for it is no
    reason not to run (the session then stops as it would have)."""
    try:
        with open(rd.path / BALLAST, "wb") as f:
            f.write(bytes(BALLAST_BYTES))
    except OSError:
        release_space(rd)


def release_space(rd: RunDir) -> None:
    """Remove the ballast (:func:`reserve_space`): at the end of every session, first when it stops early."""
    try:
        (rd.path / BALLAST).unlink(missing_ok=True)
    except OSError:
        pass


def _stop(rd: RunDir, runner: "Runner", plan: list[Sample], reason: str) -> None:
    """A session that stops early (interrupted, a disk that cannot be written, an internal error): run.json gets
    ``incomplete`` with ``reason`` and a summary as at the end of a run — the record counts and what this session
    spent, added to the earlier sessions' (an answer received and not recorded was paid for: counted here, and
    kept in ``unrecorded.json`` for the resume to record without paying again). The ballast is given back first,
    so that on a full disk these writes still fit."""
    release_space(rd)
    try:
        _keep_unrecorded(rd, runner)
    except OSError:
        pass      # a full disk: the summary (what was spent) and the status are still worth trying
    try:
        final = {r.sample_id: r for r in rd.read_samples().records}
        a = assess([s.id for s in plan], final, runner.opts.graders, runner.stop_reason, rd.path,
                   runner.opts.judge_model)
        st = runner.stats
        prev = rd.manifest.summary or {}
        rd.manifest.summary = {**_session_summary(a, st, prev), "unrecorded_answers": len(runner.unrecorded())}
    except OSError:
        pass
    _mark_stopped(rd, reason)


def _session_summary(a: Assessment, st: RunStats, prev: dict) -> dict:
    """run.json ``summary`` at the end of a session, finished or stopped early: the record counts of ``a``, this
    session's stats, and the spending added to the earlier sessions' (``prev``, the summary they left)."""
    return {**_record_counts(a), "this_session": st.as_dict(), **_spending(prev, st), "cache_hits": st.cache_hits,
            "retries": st.retries}


def _keep_unrecorded(rd: RunDir, runner: "Runner") -> None:
    """Write the session's answers not recorded to ``unrecorded.json`` (:mod:`harness.unrecorded`), or remove
    the file when every one was recorded."""
    unrecorded_file.save(rd.path, runner.unrecorded())


def _mark_stopped(rd: RunDir, reason: str) -> None:
    """run.json: ``incomplete`` with ``reason``. On a full disk even that may fail: the records say the rest."""
    rd.manifest.status = "incomplete"
    rd.manifest.status_reason = reason
    rd.manifest.ended_at = utcnow()
    try:
        rd.write_manifest()
    except OSError:
        pass
