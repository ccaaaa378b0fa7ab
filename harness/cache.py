"""Content-addressed response cache: one JSON file per entry, written atomically (temp file + rename).

The key is the sha256 of provider, model, base URL, generation config, system prompt, messages, and the epoch
index when temperature > 0 (so that sampled epochs do not all replay one answer). Concurrent runs sharing a
cache folder are safe: writers never expose partial files, and two writers of one key write equal content.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

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


class ResponseCache:
    """A cache folder in one of four modes.

    ``use``: read hits, write misses. ``refresh``: ignore hits, write answers. ``off``: neither.
    ``replay-only``: read hits; a miss raises ModelError(kind="cache_miss") — for CI runs that must not call
    the API.
    """

    def __init__(self, root: str | Path, mode: CacheMode = "use"):
        self.root = Path(root)
        self.mode = mode
        self.hits = 0
        self.misses = 0
        self.corrupt = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The cached completion, or None. A corrupt entry (which atomic writes should make impossible) is
        treated as a miss and counted in ``corrupt``.

        Raises:
            ModelError: kind ``cache_miss`` in replay-only mode when the entry is absent.
        """
        if self.mode in ("off", "refresh"):
            return None
        path = self._path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("key") != key:
                raise ValueError("key mismatch")
            comp = Completion(text=data["text"], usage=Usage(**data["usage"]), stop_reason=data.get("stop_reason"),
                              latency_s=float(data.get("latency_s", 0.0)), model=data.get("model", ""),
                              extra=data.get("extra") or {})
        except FileNotFoundError:
            comp = None
        except (ValueError, KeyError, TypeError):
            self.corrupt += 1
            comp = None
        if comp is None:
            self.misses += 1
            if self.mode == "replay-only":
                raise ModelError(f"cache miss in replay-only mode (key {key[:12]}…, cache {self.root}): run once "
                                 "with --cache use to record answers, or point HARNESS_CACHE_DIR at the recorded cache",
                                 kind="cache_miss")
            return None
        self.hits += 1
        return comp

    def put(self, key: str, comp: Completion) -> None:
        """Store a completion (no-op in ``off`` and ``replay-only`` modes). Text that UTF-8 cannot carry (a lone
        surrogate) is replaced first (:func:`harness.textsafe.safe_obj`), the count added to
        ``extra["text_replaced"]``, so the entry is always written.

        Raises:
            OSError: the cache folder cannot be written (full disk, read-only).
        """
        if self.mode in ("off", "replay-only"):
            return
        entry, n = safe_obj({"key": key, "text": comp.text, "usage": comp.usage.as_dict(),
                             "stop_reason": comp.stop_reason, "latency_s": comp.latency_s,
                             "model": comp.model, "extra": comp.extra or {}})
        if n:
            entry["extra"]["text_replaced"] = int(entry["extra"].get("text_replaced", 0)) + n
        atomic_write_json(self._path(key), entry)
