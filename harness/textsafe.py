"""Text made safe to write: lone surrogates replaced, and how many were, so a record can say its text changed.

A model's reply arrives through JSON, whose ``\\udXXX`` escapes can encode half of a surrogate pair (a model cut
in the middle of an emoji; a proxy that split one). Python keeps such a lone surrogate in a ``str``, but UTF-8
cannot carry it: writing the cache entry or the record would raise ``UnicodeEncodeError`` (pydantic:
``PydanticSerializationError``) and end the run. Every text from a server passes through :func:`safe_text` (or
:func:`safe_obj` for nested values) before anything is written; each lone surrogate becomes U+FFFD, the Unicode
replacement character, which is what a UTF-8 decoder puts in place of any ill-formed sequence (Unicode 15,
§3.9 "U+FFFD Substitution of Maximal Subparts").
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> tuple[str, int]:
    """``(text with every lone surrogate replaced by U+FFFD, number replaced)``.

    A well-formed surrogate *pair* cannot occur in a Python ``str`` read from JSON (the decoder joins it into one
    code point), so every surrogate code point left is lone."""
    if not text:
        return text, 0
    fixed, n = _SURROGATE.subn(REPLACEMENT, text)
    return fixed, n


def safe_obj(obj: Any) -> tuple[Any, int]:
    """:func:`safe_text` over every string (keys too) inside dicts, lists and tuples; other values unchanged."""
    if isinstance(obj, str):
        return safe_text(obj)
    if isinstance(obj, dict):
        total, out = 0, {}
        for k, v in obj.items():
            k2, a = safe_obj(k)
            v2, b = safe_obj(v)
            out[k2] = v2
            total += a + b
        return out, total
    if isinstance(obj, (list, tuple)):
        items = [safe_obj(v) for v in obj]
        return type(obj)(v for v, _ in items), sum(n for _, n in items)
    return obj, 0


def find_unsafe(text: str) -> int | None:
    """The index of the first lone surrogate in ``text``, or None (for validators that reject rather than fix)."""
    m = _SURROGATE.search(text or "")
    return m.start() if m else None
