"""Text normalisation shared by the deterministic grader (English and Japanese).

Two forms of a text are used:

* :func:`fold` — Unicode NFKC (so full-width ``ａｐｐ．ｐｙ：１１５`` reads ``app.py:115``), case-folding, quotes
  unified, markdown backticks and emphasis removed, whitespace collapsed. Punctuation is kept, so literal code
  (``origin: true``, ``for (;;)``, ``app.py:115``) can be matched in it.
* :func:`words` — the folded text reduced to words: ``snake_case``, ``kebab-case``, ``camelCase``, dotted names
  and spaced words all become the same space-separated words, English words are lightly stemmed (plurals,
  ``-ing``, ``-ed``, final ``-e``) and CJK runs are kept and separated from Latin words by spaces. The result is
  padded with one space on each side so that ``" " + phrase + " "`` is a whole-word search.

Japanese keywords become regular expressions (:func:`cjk_pattern`) that tolerate particles and okurigana
between the parts of a compound (``署名検証`` matches ``署名を検証``) and an optional long-vowel mark in katakana
(``コンシューマラグ`` matches ``コンシューマーラグ``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "words", "phrase", "cjk_pattern", "has_cjk", "stem_text", "CJK_CHARS"]

CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u30fc"
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": " ", "\u2013": "-",
                         "\u2014": "-", "\u2212": "-", "\u301c": "~", "\uff5e": "~", "\u00a0": " ",
                         "\u3000": " ", "\u2192": " -> ", "\u21d2": " -> "})
# **bold**, __bold__, *em*; a lone '*' or '_' inside an identifier is kept by the word form anyway.
_EMPH = re.compile(r"\*{1,3}|(?<![A-Za-z0-9])_{1,3}|_{1,3}(?![A-Za-z0-9])|~~")
_WS = re.compile(r"\s+")

# camelCase / PascalCase boundaries (before case-folding): fooBar, HTTPServer, sha256Digest
_CAMEL1 = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CAMEL2 = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")
# everything that is not a letter/digit (Latin or CJK) becomes a space
_NONWORD = re.compile(rf"[^a-z0-9{CJK_CHARS}\u4e00-\u9fff]+")
# a Latin word next to a CJK character: insert a space between them
_LAT_CJK = re.compile(rf"(?<=[a-z0-9])(?=[{CJK_CHARS}])|(?<=[{CJK_CHARS}])(?=[a-z0-9])")

# light English stemming, applied identically to texts and phrases (order matters)
_STEM_STEPS = [
    (re.compile(r"(?<=[a-z]{2})ies\b"), "y"),
    (re.compile(r"(?<=[a-z]{2}[a-hj-rt-z])s\b"), ""),      # plural -s (not -ss, -us, -is)
    (re.compile(r"(?<=[a-z]{3})(?:ing|ed)\b"), ""),
    (re.compile(r"(?<=[a-z]{2})([bdgmnprt])\1\b"), r"\1"),  # runn -> run, stopp -> stop
    (re.compile(r"(?<=[a-z]{3})e\b"), ""),
]


def has_cjk(text: str) -> bool:
    """True when ``text`` holds at least one Japanese/Chinese character."""
    return _HAS_CJK.search(text) is not None


def fold(text: str) -> str:
    """NFKC + case-fold + unified quotes/dashes, markdown emphasis and backticks removed, whitespace collapsed.

    Args:
        text: any string.
    Returns:
        the folded string (punctuation kept).
    """
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    t = _EMPH.sub(" ", t)
    return _WS.sub(" ", t).strip().casefold()


def stem_text(t: str) -> str:
    """Apply the light English stemmer to every Latin word of an already lower-cased, space-separated text."""
    for rx, rep in _STEM_STEPS:
        t = rx.sub(rep, t)
    return t


def words(text: str, *, folded: bool = False) -> str:
    """Word form of ``text``: see the module docstring. Padded with one space on each side.

    Args:
        text: raw text (or already :func:`fold`-ed text when ``folded`` is True — camelCase is then lost, so
            pass raw text whenever identifiers matter).
    """
    t = text if folded else unicodedata.normalize("NFKC", text).translate(_QUOTES)
    if not folded:
        t = _CAMEL2.sub(" ", _CAMEL1.sub(" ", t)).casefold()
    t = _NONWORD.sub(" ", t)
    t = _LAT_CJK.sub(" ", t)
    t = stem_text(t)
    return " " + _WS.sub(" ", t).strip() + " "


def phrase(text: str) -> str:
    """Word form of a keyword or anchor without the padding ('' when nothing is left)."""
    return words(text).strip()


_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005"
_SEG = re.compile(rf"[{_KANJI}]+|[\u30a0-\u30ff]+|[a-z0-9]+|[\u3040-\u309f]+")
_GAP = r"[\u3040-\u309f\u30fb性的化 ]{0,4}"


def _kata(seg: str) -> str:
    return "".join("\u30fc?" if ch == "\u30fc" else re.escape(ch) for ch in seg)


def cjk_pattern(keyword: str) -> str | None:
    """Regular expression (over :func:`words` text) for a keyword holding Japanese, or None when it has none.

    The keyword is split into kanji, katakana and Latin runs; hiragana runs (particles, okurigana) and the gaps
    between runs accept up to four hiragana or ``・性的化`` characters; a kanji run of four or more characters is
    split in pairs (``署名検証`` -> ``署名`` ``検証``); a trailing ``性``/``化``/``的`` is optional; the katakana
    long-vowel mark is optional.
    """
    w = phrase(keyword)
    if not has_cjk(w):
        return None
    parts: list[str] = []
    for m in _SEG.finditer(w):
        seg = m.group(0)
        if "\u3040" <= seg[0] <= "\u309f":
            continue  # hiragana: becomes a gap
        if "\u30a0" <= seg[0] <= "\u30ff":
            parts.append(_kata(seg))
        elif seg[0].isascii():
            parts.append(re.escape(seg))
        else:
            if len(seg) >= 3 and seg[-1] in "性化的":
                seg = seg[:-1]
            if len(seg) >= 4:
                chunks = [seg[i:i + 2] for i in range(0, len(seg), 2)]
                if len(chunks[-1]) == 1:
                    chunks[-2] += chunks.pop()
                parts.extend(re.escape(c) for c in chunks)
            else:
                parts.append(re.escape(seg))
    if not parts:
        return None
    return _GAP.join(parts)
