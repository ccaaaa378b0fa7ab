"""Check every model id a run will call — the agent models and the judge — before the first sample is paid for.

A mistyped, retired or deprecated model id used to cost a whole run: as the judge it failed on every sample
after every agent call had been paid for; as the agent it was retried like a transient fault. :func:`preflight`
asks each provider about each id with calls that cost no tokens:

* ``anthropic/<id>``: ``GET /v1/models/{id}`` (``client.models.retrieve``) — 404 for an unknown or retired
  model — then ``POST /v1/messages/count_tokens`` with that model (free, rate-limited separately from messages),
  which rejects a model that still exists but no longer accepts requests (400).
* ``openai/<model>@<url>``: ``GET /models`` (when the server has it); an id it does not list is then retrieved
  (``GET /models/{id}``), and a 404 there means the server does not serve it.
* ``local/...``: its GGUF and the cyllama engine are on this machine (file look-ups; nothing is downloaded or
  loaded), so a missing model is exit 2 before a run folder exists.

Only a definite answer stops the run: 404 ``not_found`` or a 400 ``bad_request`` naming the model, or an
OpenAI-compatible server that cannot be connected to at all (connection refused, unknown host: ``unreachable``,
after the SDK's one retry — a few seconds instead of a minute of the run's retries per sample) raise
:class:`~harness.errors.ConfigError` (exit 2) naming the URL and the option or ``[tool.harness]`` key the id came
from (:func:`model_sources`). Anything transient or unrelated to the id (a timeout, 5xx, 401, Anthropic's API
unreachable) is left to the run itself, which retries and reports it as usual. No preflight runs in
``replay-only`` cache mode (no network by design).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import ConfigError, ModelError
from .graders.registry import MODEL_GRADER, needs_model
from .models.base import ModelSpec

TIMEOUT_S = 15.0          # one check; a server this slow will fail the run's own requests with a clear error
DEFINITE = ("not_found", "bad_request", "unreachable", "not_installed")


@dataclass(frozen=True)
class ModelUse:
    """One model id a run calls: ``name`` (``provider/id``), ``role`` (``agent`` | ``judge``) and ``source``, the
    option or pyproject key it came from (``--model``, ``[tool.harness] judge_model``...)."""

    name: str
    role: str
    source: str


def model_sources(cfg, opts) -> list[ModelUse]:
    """The models a run will call and where each id came from.

    The CLI and pytest options override ``[tool.harness]`` without changing the config object, so an id equal to
    a configured key is named by that key, any other by its option (``--model`` / ``--judge-model``; on a resumed
    run, the run's own ``run.json``).

    Args:
        cfg: the :class:`~harness.config.HarnessConfig`; opts: the :class:`~harness.runner.RunOptions`.
    Returns:
        Agent models in order, then the judge when the ``judge`` grader is on.
    """
    out = []
    for m in opts.models:
        if cfg.model and m == cfg.model:
            src = "[tool.harness] model"
        elif not cfg.model and m == cfg.anthropic_model and os.environ.get("ANTHROPIC_API_KEY"):
            src = "[tool.harness] anthropic_model"
        elif not cfg.model and m == cfg.local_model:
            src = "[tool.harness] local_model"
        else:
            src = "--model" + (" (or the resumed run's run.json)" if opts.resume else "")
        out.append(ModelUse(m, "agent", src))
    if needs_model(opts.graders) and opts.judge_model:
        src = ("[tool.harness] judge_model" if cfg.judge_model and opts.judge_model == cfg.judge_model
               else "--judge-model")
        out.append(ModelUse(opts.judge_model, "judge", src))
    return out


def _anthropic_check(spec: ModelSpec) -> None:
    import anthropic

    from .models.anthropic_model import map_exception
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        return                    # the run says so, with advice (planning checks it for agent models)
    client = anthropic.Anthropic(api_key=key, base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
                                 max_retries=1, timeout=TIMEOUT_S)
    try:
        client.models.retrieve(spec.model)
        client.messages.count_tokens(model=spec.model, messages=[{"role": "user", "content": "ping"}])
    except Exception as exc:  # noqa: BLE001 - classified below; only a definite answer stops the run
        raise map_exception(exc) from None
    finally:
        client.close()


def _openai_check(spec: ModelSpec) -> None:
    import openai

    from .models.openai_model import map_exception
    client = openai.OpenAI(base_url=spec.base_url, api_key=os.environ.get("OPENAI_API_KEY") or "none",
                           max_retries=1, timeout=TIMEOUT_S)
    try:
        try:
            listed = [m.id for m in client.models.list()]
        except openai.NotFoundError:
            return                # no /models on this server: nothing to check without paying for a call
        if spec.model in listed:
            return
        try:
            client.models.retrieve(spec.model)
        except openai.NotFoundError:
            shown = ", ".join(listed[:10]) + (" …" if len(listed) > 10 else "")
            raise ModelError(f"the server at {spec.base_url} does not serve this model (it lists: "
                             f"{shown or 'none'})", kind="not_found", status=404) from None
    except ModelError:
        raise
    except openai.APITimeoutError as exc:
        raise map_exception(exc) from None       # slow, not absent: left to the run
    except openai.APIConnectionError:
        # Nothing listens there (connection refused, unknown host): every sample would fail the same way after a
        # minute of retries, so this answer is as definite as a 404. The SDK already retried once.
        raise ModelError(f"cannot connect to the server at {spec.base_url} (connection refused or unknown host); is "
                         "it running, and is the URL right?", kind="unreachable") from None
    except Exception as exc:  # noqa: BLE001
        raise map_exception(exc) from None
    finally:
        client.close()


def _local_check(spec: ModelSpec) -> None:
    """The embedded model's pieces are on this machine: its GGUF (never fetched here) and the cyllama engine. Both
    are file look-ups; the weights are loaded later, by the run. Raises ModelError(kind="not_installed")."""
    import importlib.util

    from .models.local_weights import gguf_path
    gguf_path(fetch=False)
    if importlib.util.find_spec("cyllama") is None:
        raise ModelError("cyllama is not installed: run `pip install cyllama`", kind="not_installed")


def check_model(use: ModelUse) -> ModelError | None:
    """Ask the provider about one model id. Returns the definite error (``not_found`` / ``bad_request``), or None
    when the id is fine or the answer was not definite (network, auth, 5xx: left to the run)."""
    spec = ModelSpec.parse(use.name)
    try:
        if spec.provider == "anthropic":
            _anthropic_check(spec)
        elif spec.provider == "openai":
            _openai_check(spec)
        elif spec.provider == "local":
            _local_check(spec)
    except ModelError as e:
        return e if e.kind in DEFINITE else None
    return None


def preflight(cfg, opts) -> None:
    """Check every model id of a run (:func:`model_sources`) before anything is created or paid for.

    Raises:
        ConfigError: a provider said an id does not exist or no longer accepts requests; the message names the id,
            its role, what the provider said, and ``field`` the option or pyproject key to fix. Exit code 2.
    """
    if cfg.cache_mode == "replay-only":
        return
    seen: set[str] = set()
    for use in model_sources(cfg, opts):
        if use.name in seen:
            continue
        seen.add(use.name)
        err = check_model(use)
        if err is not None:
            # the SDK error's advice names --model; the option to fix is use.source, so keep what the server said
            if err.kind == "not_installed":
                raise ConfigError(f"the {use.role} model {use.name!r} is not installed on this machine: "
                                  f"{err.message}; checked before the first sample, so no run folder was made",
                                  field=use.source)
            if err.kind == "unreachable":
                raise ConfigError(f"the {use.role} model {use.name!r} cannot be reached: {err.message}; checked "
                                  f"before the first sample, so nothing was sent. Start the server, or fix the URL "
                                  f"of {use.source}", field=use.source)
            said = err.message.split("server said: ", 1)[-1]
            what = "not found (retired or mistyped)" if err.kind == "not_found" else "rejected by the provider"
            raise ConfigError(f"the {use.role} model {use.name!r} is {what}; checked before the first sample, so "
                              f"nothing was sent or paid for. The server said: {said}. Choose another model for "
                              f"{use.source}", field=use.source)


def judge_failed_everywhere(records, graders, regrade_cmd: str = "harness grade RUN_DIR --grader judge --judge-model M"
                            ) -> str | None:
    """The check after the run that the preflight cannot make: a judge that failed on every sample it was asked
    to grade (its grade carries an error on each successful sample). Returns the sentence that makes the run
    incomplete (exit 3), naming the judge's first error, or None.

    Args:
        records: the run's :class:`~harness.records.SampleRecord` list; graders: the run's grader names;
        regrade_cmd: the command that re-grades this run with the same graders and judge model.
    """
    if MODEL_GRADER not in graders:
        return None
    graded = [r.grades.get(MODEL_GRADER) for r in records if r.error is None and r.review is not None]
    graded = [g for g in graded if g is not None]
    if not graded or any(g.error is None for g in graded):
        return None
    return (f"the judge failed on every sample ({len(graded)} of {len(graded)}): {graded[0].error}; the agent's "
            f"reviews are recorded, re-grade them with `{regrade_cmd}`")
