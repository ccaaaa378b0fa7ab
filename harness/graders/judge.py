"""LLM judge grader: one call per sample applying every finding's and trap's rubric.

The judge answers through forced tool use (Anthropic) or a JSON schema (OpenAI-compatible servers: the
``json_schema`` response format where the server supports it, else ``json_object`` with the schema, as llama.cpp's
servers accept; found out on the first rejection and kept for the grader's life) with, for
each finding and trap, a verdict, a verbatim quote from the review and a one-line reason. A "found"/"flagged"
verdict whose quote does not occur in the review (after whitespace normalisation) is marked unsupported and
counts as not found. A malformed reply (no tool call, missing ids, bad JSON, refusal) is retried, then recorded
as a grader error, never guessed. Judge model, templates (jinja2, sandboxed when user-supplied) and cache are
configured apart from the agent's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ValidationError

from ..cache import DiskCache
from ..cases import Case
from ..errors import ConfigError, ModelError
from ..models.base import GenerationConfig, ModelSpec, StructuredOutput
from ..models.pricing import cost_usd
from ..retry import RetryPolicy, call_with_retries, with_deadline
from .base import Evidence, FindingVerdict, SampleGrade, TrapVerdict

if TYPE_CHECKING:
    from ..limiter import AdaptiveLimiter

TEMPLATE_VERSION = "2"
TOOL_NAME = "record_verdicts"
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _add_usage(spend: dict, usage: dict) -> None:
    for k in USAGE_KEYS:
        spend[k] = int(spend.get(k, 0)) + int(usage.get(k, 0) or 0)


class _FindingOut(BaseModel):
    id: str
    verdict: Literal["found", "missed"]
    quote: str
    reason: str


class _TrapOut(BaseModel):
    id: str
    verdict: Literal["flagged", "not_flagged"]
    quote: str
    reason: str


class JudgeReply(BaseModel):
    """The judge's structured answer (the tool's input schema)."""

    findings: list[_FindingOut]
    traps: list[_TrapOut]
    extra_issues: int


def reply_schema() -> dict:
    """JSON schema of :class:`JudgeReply`, flattened (no $defs) for tool use and strict JSON-schema mode."""
    item = lambda verdicts: {"type": "object", "additionalProperties": False,  # noqa: E731
                             "required": ["id", "verdict", "quote", "reason"],
                             "properties": {"id": {"type": "string"}, "verdict": {"type": "string", "enum": verdicts},
                                            "quote": {"type": "string"}, "reason": {"type": "string"}}}
    return {"type": "object", "additionalProperties": False, "required": ["findings", "traps", "extra_issues"],
            "properties": {"findings": {"type": "array", "items": item(["found", "missed"])},
                           "traps": {"type": "array", "items": item(["flagged", "not_flagged"])},
                           "extra_issues": {"type": "integer", "minimum": 0}}}


# What one verdict of a complete reply takes, from what the judge template asks of it: a verbatim quote of 1-3
# sentences (a written English sentence averages 15-20 words, ~100 characters) and a one-line reason (a line of
# at most ~160 characters), at ~4 characters a token for English text (OpenAI's tokenizer guide: "1 token ~= 4
# chars in English"): quote <= 300 characters ~ 75 tokens, reason <= 160 characters ~ 40 tokens, plus the id,
# the verdict and the JSON punctuation (~30 tokens). 160 tokens a verdict leaves ~10 % of room.
JUDGE_TOKENS_PER_ITEM = 160
# the reply's frame: {"findings": [...], "traps": [...], "extra_issues": n} and the whitespace a model adds
JUDGE_BASE_TOKENS = 64
# the string bounds above, enforced by llama.cpp's grammar when the schema is sent as json_object + schema
QUOTE_MAX_CHARS = 300
REASON_MAX_CHARS = 160


def judge_max_tokens(case: Case, per_item: int = JUDGE_TOKENS_PER_ITEM) -> int:
    """The judge's ``max_tokens`` for ``case``: ``JUDGE_BASE_TOKENS + per_item x (findings + traps)``.

    ``per_item`` is ``[tool.harness] judge_tokens_per_item`` (default :data:`JUDGE_TOKENS_PER_ITEM`; its
    derivation is in the comment above it). A reply that needs more is not what the template asks for (a judge
    repeating itself, quoting whole files): it is cut there and recorded as a judge error instead of being
    generated for minutes. A server with a small context lowers it further (the agent's fitting).
    """
    return JUDGE_BASE_TOKENS + per_item * (len(case.findings) + len(case.traps))


def case_schema(case: Case) -> dict:
    """The reply schema narrowed to ``case``, for servers that turn a schema into a sampling grammar (llama.cpp's
    ``json_object`` + ``schema``): one entry per finding and per trap, in the case's order (``prefixItems`` of
    ``const`` ids), quotes and reasons bounded by :data:`QUOTE_MAX_CHARS` / :data:`REASON_MAX_CHARS`. The grammar
    then cannot produce a duplicate, missing or unknown id, nor an unbounded string, so the reply fits
    :func:`judge_max_tokens`. Any reply valid under it is valid under :func:`reply_schema`."""
    def item(item_id: str, verdicts: list[str]) -> dict:
        return {"type": "object", "additionalProperties": False, "required": ["id", "verdict", "quote", "reason"],
                "properties": {"id": {"const": item_id}, "verdict": {"type": "string", "enum": verdicts},
                               "quote": {"type": "string", "maxLength": QUOTE_MAX_CHARS},
                               "reason": {"type": "string", "maxLength": REASON_MAX_CHARS}}}

    def tuple_of(items: list[dict]) -> dict:
        return {"type": "array", "prefixItems": items, "items": False, "minItems": len(items),
                "maxItems": len(items)}

    return {"type": "object", "additionalProperties": False, "required": ["findings", "traps", "extra_issues"],
            "properties": {"findings": tuple_of([item(f.id, ["found", "missed"]) for f in case.findings]),
                           "traps": tuple_of([item(t.id, ["flagged", "not_flagged"]) for t in case.traps]),
                           "extra_issues": {"type": "integer", "minimum": 0}}}


def normalise_ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def quote_supported(quote: str, review: str) -> bool:
    """True when ``quote`` (whitespace-normalised, stripped of surrounding quotes/ellipses) occurs in the review."""
    q = normalise_ws(quote).strip("\"'“”「」…. ")
    return bool(q) and q in normalise_ws(review)


class MalformedReply(Exception):
    pass


class TruncatedReply(Exception):
    """The judge's reply was cut at its ``max_tokens``: recorded as a judge error, not asked again (at
    temperature 0 the same request is cut the same way)."""


def template_env(templates_dir: str | Path | None = None) -> jinja2.Environment:
    """Built-in templates, or a user's folder in a sandboxed environment (user templates are untrusted)."""
    if templates_dir:
        return SandboxedEnvironment(loader=jinja2.FileSystemLoader(str(templates_dir)), autoescape=False,
                                    undefined=jinja2.StrictUndefined)
    return jinja2.Environment(loader=jinja2.PackageLoader("harness.graders", "templates"), autoescape=False,
                              undefined=jinja2.StrictUndefined)


class JudgeGrader:
    """Grade reviews with an LLM judge (``anthropic/<id>`` or ``openai/<model>@<url>``).

    Args:
        model: judge model name. cfg: HarnessConfig (timeouts, retries, judge cache dir).
        max_malformed: extra attempts after a malformed reply before recording a grader error.

    Raises:
        ConfigError: the embedded local model is asked to judge (it cannot follow a schema).
    """

    name = "judge"

    def __init__(self, model: str, *, cfg=None, max_malformed: int = 2, templates_dir: str | None = None,
                 model_obj=None):
        self.spec = ModelSpec.parse(model)
        if self.spec.provider == "local":
            raise ConfigError("the embedded model cannot act as a judge; choose anthropic/<id> or "
                              "openai/<model>@<url>", field="--judge-model")
        self.cfg = cfg
        self.max_malformed = max_malformed
        self.max_retries = cfg.max_retries if cfg is not None else 4
        self.backoff = (cfg.retry_backoff_base_s, cfg.retry_backoff_max_s) if cfg is not None else (0.5, 30.0)
        tdir = templates_dir or (cfg.judge_templates_dir if cfg is not None else None)
        self.env = template_env(cfg.path(tdir) if cfg is not None and tdir else tdir)
        self._model = model_obj
        self._injected = model_obj is not None
        # the "judge" namespace of the one disk cache (harness/cache.py: keys, modes); none without a config
        self.cache = (DiskCache(cfg.resolved_cache_dir(), cfg.cache_mode, "judge",
                                folder=cfg.path(cfg.judge_cache_dir) if cfg.judge_cache_dir else None)
                      if cfg is not None else None)
        self.rng = random.Random(0)
        # set by the runner when the judge shares a local server with the agent: its requests take turns with
        # the agent's under one concurrency limit instead of queueing in the server behind them
        self.limiter: AdaptiveLimiter | None = None
        self._own_limit: dict | None = None   # what sizing the judge's own limiter found (see _size_own_limit)
        self._sizing_lock: asyncio.Lock | None = None

    async def _size_own_limit(self, model) -> None:
        """Give the judge a concurrency limit of its own when the runner gave it none (``harness grade``, or a judge
        on another server than the agent): the same sizing as the agent's (:func:`harness.limiter.initial_limit`:
        a local server's slot count, else the configured concurrency). Without it, ``harness grade`` sent
        ``concurrency`` judge requests at once to a one-slot llama.cpp server, whose queued requests timed out
        and were sent again while it still computed them (issue #21's stall, in the judge)."""
        from ..limiter import AdaptiveLimiter, initial_limit
        if self._sizing_lock is None:
            self._sizing_lock = asyncio.Lock()
        async with self._sizing_lock:
            if self._own_limit is not None or self.limiter is not None:
                return
            configured = max(1, self.cfg.concurrency if self.cfg is not None else 8)
            limit, facts = await initial_limit(model, configured)
            self._own_limit = facts
            self.limiter = AdaptiveLimiter(limit)

    def model(self):
        """The judge's model (:class:`~harness.models.base.Model`), created on first use unless injected."""
        if self._model is None:
            from ..models.registry import create_model
            cfg = self.cfg
            self._model = create_model(self.spec, timeout_s=cfg.request_timeout_s if cfg else 120.0,
                                       server_slots=cfg.server_slots if cfg else None,
                                       server_context=cfg.server_context if cfg else None)
        return self._model

    def server_facts(self) -> dict:
        """What the run's manifest records about the judge's server: its model and, for an OpenAI-compatible
        one, the structured-output mode in use and whether it was detected (a rejection of json_schema)."""
        own = {"concurrency": self._own_limit["concurrency"], "concurrency_why": self._own_limit.get("why")} \
            if self._own_limit else {}
        if self.spec.provider != "openai":
            return {"model": self.spec.name, "structured_output": "tool_use", **own}
        model = self._model
        facts = {"model": self.spec.name,
                 "structured_output": getattr(model, "structured_output", "json_schema"),
                 "structured_output_source": getattr(model, "structured_output_source", "default (accepted)")}
        server = getattr(model, "server", None)
        if server is not None:
            facts.update({k: v for k, v in server.as_dict().items() if k in ("n_ctx", "n_ctx_source", "slots")})
        return {**facts, **own}

    def render(self, case: Case, review: str) -> tuple[str, str]:
        """(system, user) texts of the judge request."""
        system = self.env.get_template("judge_system.md.j2").render()
        user = self.env.get_template("judge_user.md.j2").render(case=case.spec, artifacts=case.artifacts,
                                                                 review=review)
        return system, user

    def cache_key(self, case: Case, system: str, user: str) -> str:
        """sha256 hex of the judge's request: template version, judge model, the case's fingerprint, the rendered
        system and user texts, and the server answering when set (another base URL may be another model behind
        the same name; left out when unset so that keys made before it was added still hit)."""
        base = self.spec.base_url or (os.environ.get("ANTHROPIC_BASE_URL") if self.spec.provider == "anthropic"
                                      else None)
        parts = [TEMPLATE_VERSION, self.spec.name, case.fingerprint, system, user] + ([base] if base else [])
        raw = json.dumps(parts, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()

    def max_tokens(self, case: Case) -> int:
        """The ``max_tokens`` asked of the judge for ``case`` (:func:`judge_max_tokens` with ``[tool.harness]
        judge_tokens_per_item``); an OpenAI-compatible server with a known context may get less (fitted)."""
        per_item = getattr(self.cfg, "judge_tokens_per_item", None) or JUDGE_TOKENS_PER_ITEM
        return judge_max_tokens(case, per_item)

    @property
    def is_local(self) -> bool:
        """Whether the judge is an OpenAI-compatible server on this machine or the private network."""
        if self.spec.provider != "openai":
            return False
        from ..models.openai_model import locality
        return locality(self.spec.base_url) != "remote"

    async def _call(self, system: str, user: str, spend: dict, case: Case | None = None) -> dict:
        """One judge request; its token usage is added to ``spend`` as soon as the answer arrives (a malformed
        or cut reply is paid for too). ``max_tokens`` is :meth:`max_tokens` of ``case`` (4096 without one).

        Raises:
            ModelError: the call failed (classified; retryable or not), or the judge refused (not retryable).
            MalformedReply: the answer arrived but holds no usable verdicts.
            TruncatedReply: the answer was cut at ``max_tokens`` (stop_reason max_tokens / finish_reason length).
        """
        model = self.model()
        wanted = self.max_tokens(case) if case is not None else 4096
        # a server that compiles the schema into a sampling grammar (json_object + schema) gets it narrowed to the
        # case, so the grammar cannot repeat, miss or invent an id nor run on in a string
        output = StructuredOutput(TOOL_NAME, reply_schema(), "Record one verdict per finding and per trap.",
                                  grammar_schema=case_schema(case) if case is not None else None)
        gen = GenerationConfig(temperature=0.0, max_tokens=wanted)
        messages = [{"role": "user", "content": user}]
        if self.limiter is None:   # neither shared by the runner nor sized yet: size it (sets self.limiter)
            await self._size_own_limit(model)
        limiter = self.limiter
        assert limiter is not None   # _size_own_limit always leaves one
        await limiter.acquire()
        try:
            comp = await model.generate(system, messages, gen, output=output)
        finally:
            await limiter.release()
        _add_usage(spend, comp.usage.as_dict())
        if comp.stop_reason in ("refusal", "content_filter"):
            raise ModelError(f"the judge refused to grade (stop reason {comp.stop_reason!r})", kind="refused")
        if comp.stop_reason in ("length", "max_tokens"):
            sent = (comp.extra or {}).get("max_tokens_sent", wanted)
            fitted = f", fitted to the server's context of {comp.extra['n_ctx']} tokens" if sent < wanted and \
                (comp.extra or {}).get("n_ctx") else ""
            said = "finish_reason" if self.spec.provider == "openai" else "stop_reason"
            raise TruncatedReply(f"judge reply cut at max_tokens {sent} ({said} {comp.stop_reason!r}; "
                                 f"{self._sizing(case)}{fitted})")
        if comp.data is None:
            raise MalformedReply(f"no {TOOL_NAME} object in the reply (stop reason {comp.stop_reason!r}; it "
                                 f"begins {comp.text[:60]!r})")
        return comp.data

    def _sizing(self, case: Case | None) -> str:
        if case is None:
            return "no case to size it from"
        per_item = getattr(self.cfg, "judge_tokens_per_item", None) or JUDGE_TOKENS_PER_ITEM
        return (f"sized for {len(case.findings)} finding(s) + {len(case.traps)} trap(s): {JUDGE_BASE_TOKENS} + "
                f"{per_item} each, [tool.harness] judge_tokens_per_item")

    @staticmethod
    def parse(case: Case, review: str, data: dict) -> SampleGrade:
        """Validate a judge reply and turn it into a SampleGrade (quotes checked against the review).

        Raises:
            MalformedReply: schema violation, a finding/trap id without a verdict, two verdicts for one id
                (duplicate or contradictory), or a verdict for an id the case does not have.
        """
        try:
            reply = JudgeReply.model_validate(data)
        except ValidationError as e:
            raise MalformedReply(f"reply does not match the schema: {str(e).splitlines()[0]}") from None
        # one verdict per id, every id of the case and no other: a duplicate (even an agreeing one), a
        # contradiction or an unknown id is a malformed reply, never "the last one wins"
        for kind, got, known in (("finding", reply.findings, {f.id for f in case.findings}),
                                 ("trap", reply.traps, {t.id for t in case.traps})):
            seen: dict[str, str] = {}
            for v in got:
                if v.id not in known:
                    raise MalformedReply(f"verdict for unknown {kind} id {v.id!r}; expected one of {sorted(known)}")
                if v.id in seen:
                    what = "contradictory" if seen[v.id] != v.verdict else "duplicate"
                    raise MalformedReply(f"{what} verdicts for {kind} {v.id!r}")
                seen[v.id] = v.verdict
        fmap = {f.id: f for f in reply.findings}
        tmap = {t.id: t for t in reply.traps}
        missing = [f.id for f in case.findings if f.id not in fmap] + [t.id for t in case.traps if t.id not in tmap]
        if missing:
            raise MalformedReply(f"no verdict for {missing}")
        grade = SampleGrade(grader="judge", extra_issues=reply.extra_issues)

        def checked(item_id: str, v, positive: str) -> tuple[bool, bool, Evidence | None]:
            claimed = v.verdict == positive
            ok = quote_supported(v.quote, review) if claimed else True
            if not ok:
                grade.warnings.append(f"{item_id}: judge said {positive} but its quote is not in the review")
            return claimed and ok, ok, Evidence(quote=v.quote) if v.quote else None

        for f in case.findings:
            found, ok, ev = checked(f.id, fmap[f.id], "found")
            grade.findings.append(FindingVerdict(id=f.id, found=found, supported=ok, reason=fmap[f.id].reason,
                                                 evidence=ev))
        for t in case.traps:
            flagged, ok, ev = checked(t.id, tmap[t.id], "flagged")
            grade.traps.append(TrapVerdict(id=t.id, flagged=flagged, supported=ok, reason=tmap[t.id].reason,
                                           evidence=ev))
        return grade

    def _policy(self) -> RetryPolicy:
        if self.cfg is not None:
            return RetryPolicy.from_config(self.cfg)
        return RetryPolicy(max_retries=self.max_retries, base_s=self.backoff[0], cap_s=self.backoff[1])

    def _spent(self, grade: SampleGrade, spend: dict) -> SampleGrade:
        """``grade`` with what producing it spent: calls, retries, usage and cost (USD, price table)."""
        grade.calls, grade.retries = spend["calls"], spend["retries"]
        grade.usage = {k: int(spend.get(k, 0)) for k in USAGE_KEYS if spend.get(k)}
        if grade.calls and self.cfg is not None:
            grade.cost_usd = cost_usd(self.cfg, self.spec, grade.usage)
        elif grade.calls == 0:
            grade.cost_usd = 0.0
        return grade

    async def agrade(self, case: Case, review: str) -> SampleGrade:
        """Grade one review. Never raises for model or reply problems: they become ``SampleGrade.error``.

        Calls go through the shared retry path (:func:`harness.retry.call_with_retries`: deadline per request,
        retry-after honoured, retries counted); a malformed reply is asked again up to ``max_malformed`` times; a
        refusal is not asked again. The grade carries what it spent (``calls``, ``retries``, ``usage``,
        ``cost_usd``); a grade read from the judge cache spent nothing."""
        system, user = self.render(case, review)
        key = self.cache_key(case, system, user)
        spend: dict = {"calls": 0, "retries": 0}
        if self.cache is not None:
            try:
                entry = self.cache.read(key)
            except ModelError as e:   # replay-only: a judge that must not be called has no verdict to give
                return self._spent(SampleGrade(grader="judge", error=f"judge call failed: {e.message}"), spend)
            if entry is not None:
                try:
                    return self._spent(self.parse(case, review, entry["reply"]), spend)
                except (KeyError, TypeError, MalformedReply):
                    self.cache.hits -= 1
                    self.cache.corrupt += 1   # written by an older judge: asked again
        policy = self._policy()
        # a local server's answer is streamed and bounded by its silence (models/openai_model.py), as the agent's
        # is: a total deadline would cut a slow server's judge mid-answer and ask again from the start
        deadline = None if self.is_local else policy.deadline_s

        async def attempt(_n: int):
            spend["calls"] += 1
            try:
                return await with_deadline(self._call(system, user, spend, case), deadline)
            except (MalformedReply, TruncatedReply) as e:
                return e   # not a transport fault: handled below

        def on_retry(_err: ModelError) -> None:
            spend["retries"] += 1

        malformed = 0
        while True:
            try:
                got = await call_with_retries(attempt, policy, rng=self.rng, classify=self._classify,
                                              on_retry=on_retry)
            except ModelError as e:
                if e.kind == "refused":
                    return self._spent(SampleGrade(grader="judge", error=e.message), spend)
                return self._spent(SampleGrade(grader="judge", error=f"judge call failed: {e.message}"), spend)
            if isinstance(got, TruncatedReply):
                return self._spent(SampleGrade(grader="judge", error=f"truncated judge reply: {got}"), spend)
            try:
                if isinstance(got, MalformedReply):
                    raise got
                grade = self.parse(case, review, got)
            except MalformedReply as e:
                malformed += 1
                if malformed > self.max_malformed:
                    return self._spent(SampleGrade(grader="judge", error=f"malformed judge reply after {malformed} "
                                                   f"attempts: {e}"), spend)
                continue
            if self.cache is not None:
                try:
                    self.cache.write(key, {"reply": got})
                except OSError:
                    pass   # an unwritable judge cache costs a later re-request, never this grade
            return self._spent(grade, spend)

    def _classify(self, exc: BaseException) -> ModelError:
        if self.spec.provider == "anthropic":
            from ..models.anthropic_model import map_exception
        else:
            from ..models.openai_model import map_exception
        return map_exception(exc)

    def grade(self, case: Case, review: str) -> SampleGrade:
        """Synchronous wrapper of :meth:`agrade` (for calibration and re-grading outside an event loop).
        An async client cannot outlive its event loop, so a fresh one is made for each call (unless injected)."""
        if self._model is not None and not self._injected:
            # what the old client's server taught (json_schema rejected) outlives the client
            learnt = {a: getattr(self._model, a) for a in ("structured_output", "structured_output_source")
                      if hasattr(self._model, a)}
            self._model = None
            for attr, value in learnt.items():
                setattr(self.model(), attr, value)
        from ..aio import run_sync
        return run_sync(lambda: self.agrade(case, review))
