"""The one disk cache of model answers, namespaced: ``agent`` (the reviews), ``judge`` (the LLM judge's verdicts).

Layout: ``<cache root>/<namespace>/<key[:2]>/<key>.json``, one JSON file per entry, written atomically (temp file
+ rename), so concurrent runs sharing a root are safe: writers never expose partial files, and two writers of one
key write equal content. The root is ``--cache-dir``, else ``HARNESS_CACHE_DIR``, else ``[tool.harness] cache_dir``,
else ``${XDG_CACHE_HOME:-~/.cache}/harness`` (:meth:`harness.config.HarnessConfig.resolved_cache_dir`);
``[tool.harness] judge_cache_dir`` moves the judge's namespace alone.
Message Batches answers are agent answers to the same requests: they go to (and are read from) ``agent``, so a
batch run and a plain run of one plan share their entries.

Keys (sha256 hex of a canonical JSON list or object) and what invalidates an entry:

* ``agent`` (:func:`cache_key`): provider, model, base URL, generation config, system prompt, messages, and the
  epoch when temperature > 0 (sampled epochs do not all replay one answer); ``FORMAT`` is in the key, so bumping
  it invalidates every agent entry. Entries written before namespacing (``<root>/<key[:2]>/<key>.json``) are
  still read.
* ``judge`` (:meth:`harness.graders.judge.JudgeGrader.cache_key`): the judge template version (``TEMPLATE_VERSION``,
  bumped when the templates or the reply schema change), the judge model, the case's fingerprint (an edited case
  misses), the rendered system and user texts, and the judge's server when set.

Modes (``--cache``, ``[tool.harness] cache_mode``), the same for every namespace: ``use`` reads hits and writes
misses; ``refresh`` ignores hits and writes answers; ``off`` neither; ``replay-only`` reads hits and a miss is an
error (ModelError kind ``cache_miss``), for CI runs that must not call a model. Nothing expires by age.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from .errors import ModelError
from .models.base import Completion, GenerationConfig, ModelSpec, Usage
from .textio import atomic_write_json
from .textsafe import safe_obj

CacheMode = Literal["use", "refresh", "off", "replay-only"]
FORMAT = 1


def cache_key(spec: ModelSpec, base_url: str | None, config: GenerationConfig, system: str, messages: list[dict],
              epoch: int) -> str:
    """sha256 hex of everything that determines a model's answer (see module docstring)."""
    payload = {"v": FORMAT, "provider": spec.provider, "model": spec.model, "base_url": base_url or "",
               "generation": config.model_dump(mode="json"), "system": system, "messages": messages,
               "epoch": epoch if config.temperature > 0 else None}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


NAMESPACES = ("agent", "judge")


class DiskCache:
    """One namespace of the cache: JSON entries by key, in one of four modes (module docstring).

    Args:
        root: the cache root; entries go under ``root/namespace`` unless ``folder`` names the namespace's folder.
        mode: ``use``, ``refresh``, ``off`` or ``replay-only``.
        namespace: one of :data:`NAMESPACES`.

    Raises:
        ValueError: an unknown namespace.
    """

    def __init__(self, root: str | Path, mode: CacheMode = "use", namespace: str = "agent", *,
                 folder: str | Path | None = None):
        if namespace not in NAMESPACES:
            raise ValueError(f"unknown cache namespace {namespace!r}; expected one of {NAMESPACES}")
        self.root = Path(root)
        self.namespace = namespace
        self.folder = Path(folder) if folder else self.root / namespace
        self.mode = mode
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    def path(self, key: str) -> Path:
        """Where the entry of ``key`` lives (whether or not it exists)."""
        return self.folder / key[:2] / f"{key}.json"

    def _candidates(self, key: str) -> list[Path]:
        # agent entries written before the cache was namespaced sit directly under the root
        legacy = [self.root / key[:2] / f"{key}.json"] if self.namespace == "agent" else []
        return [self.path(key)] + legacy

    def read(self, key: str) -> dict | None:
        """The entry of ``key`` (a JSON object holding ``"key": key``), or None: mode ``off``/``refresh``, no
        entry, or a corrupt one (counted in ``corrupt``; atomic writes should make it impossible).

        Raises:
            ModelError: kind ``cache_miss`` in replay-only mode when there is no usable entry.
        """
        if self.mode in ("off", "refresh"):
            return None
        data = None
        for path in self._candidates(key):
            try:
                got = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except ValueError:
                self.corrupt += 1
                continue
            if isinstance(got, dict) and got.get("key") == key:
                data = got
                break
            self.corrupt += 1
        if data is None:
            self.miss(key)
            return None
        self.hits += 1
        return data

    def miss(self, key: str) -> None:
        """Count a miss (also an entry found but unusable by its reader).

        Raises:
            ModelError: kind ``cache_miss`` in replay-only mode.
        """
        self.misses += 1
        if self.mode == "replay-only":
            raise ModelError(f"cache miss in replay-only mode ({self.namespace} key {key[:12]}…, cache "
                             f"{self.folder}): run once with --cache use to record answers, or point "
                             "HARNESS_CACHE_DIR at the recorded cache", kind="cache_miss")

    def write(self, key: str, entry: dict[str, Any]) -> None:
        """Store ``entry`` (JSON-serialisable; ``"key"`` is added) under ``key``; no-op in ``off`` and
        ``replay-only`` modes.

        Raises:
            OSError: the cache folder cannot be written (full disk, read-only).
        """
        if self.mode in ("off", "replay-only"):
            return
        atomic_write_json(self.path(key), {"key": key, **entry})


class ResponseCache:
    """The ``agent`` namespace: the model's answers (:class:`~harness.models.base.Completion`) by
    :func:`cache_key`, in one of four modes (module docstring). ``root`` is the cache root."""

    def __init__(self, root: str | Path, mode: CacheMode = "use"):
        self.store = DiskCache(root, mode, "agent")
        self.root = self.store.root
        self.mode = mode

    @property
    def hits(self) -> int:
        return self.store.hits

    @property
    def misses(self) -> int:
        return self.store.misses

    @property
    def corrupt(self) -> int:
        return self.store.corrupt

    def get(self, key: str) -> Completion | None:
        """The cached completion, or None. A corrupt entry is treated as a miss and counted in ``corrupt``.

        Raises:
            ModelError: kind ``cache_miss`` in replay-only mode when the entry is absent.
        """
        data = self.store.read(key)
        if data is None:
            return None
        try:
            return Completion(text=data["text"], usage=Usage(**data["usage"]), stop_reason=data.get("stop_reason"),
                              latency_s=float(data.get("latency_s", 0.0)), model=data.get("model", ""),
                              extra=data.get("extra") or {})
        except (ValueError, KeyError, TypeError):
            self.store.hits -= 1
            self.store.corrupt += 1
            self.store.miss(key)
            return None

    def put(self, key: str, comp: Completion) -> None:
        """Store a completion (no-op in ``off`` and ``replay-only`` modes). Text that UTF-8 cannot carry (a lone
        surrogate) is replaced first (:func:`harness.textsafe.safe_obj`), the count added to
        ``extra["text_replaced"]``, so the entry is always written.

        Raises:
            OSError: the cache folder cannot be written (full disk, read-only).
        """
        if self.mode in ("off", "replay-only"):
            return
        entry, n = safe_obj({"text": comp.text, "usage": comp.usage.as_dict(), "stop_reason": comp.stop_reason,
                             "latency_s": comp.latency_s, "model": comp.model, "extra": comp.extra or {}})
        if n:
            entry["extra"]["text_replaced"] = int(entry["extra"].get("text_replaced", 0)) + n
        self.store.write(key, entry)
