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

__all__ = ["fold", "words", "word_list", "phrase", "route_path", "cjk_pattern", "has_cjk", "stem_text", "nfkc",
           "trie_pattern",
           "CJK_CHARS"]

CJK_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u30fc"
_HAS_CJK = re.compile(f"[{CJK_CHARS}]")

_QUOTES = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": " ", "\u2013": "-", "\u2014": "-",
           "\u2212": "-", "\u301c": "~", "\uff5e": "~", "\u00a0": " ", "\u3000": " ", "\u2192": " -> ",
           "\u21d2": " -> "}
# fold(): the quote table plus '*' (bold/italic markers) to a space; applied with guarded str.replace, which is
# much faster than str.translate on non-ASCII text
_FOLD_REPL = tuple(_QUOTES.items()) + (("*", " "),)
# underscore emphasis (__bold__, _em_) and ~~strike~~; an underscore inside an identifier is kept. Whole-text
# patterns here start with a literal or a character class so that the regex engine can skip ahead quickly.
_EMPH = re.compile(r"_{1,3}|~~")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

# camelCase / PascalCase boundaries (before case-folding): fooBar, HTTPServer, sha256Digest
# an upper-case letter that starts a word (fooBar) or ends an acronym (HTTPServer); the pattern starts with a
# character class, so only upper-case letters are tried. The empty named groups tell _camel_fix which spaces to add.
_CAMEL = re.compile(r"[A-Z](?:(?<=[a-z0-9][A-Z])(?:(?=[A-Z][a-z])(?P<both>)|(?P<before>))"
                    r"|(?=[A-Z][a-z])(?P<after>))")
# words: maximal runs of Latin letters/digits or of CJK characters (everything else separates)
_TOKEN = re.compile(rf"[a-z0-9]+|[{CJK_CHARS}\u4e00-\u9fff]+")
# text without CJK is split with bytes.translate (in C): every byte that is not an ASCII letter or digit becomes a
# space; _ASCII_BYTES are deleted to see whether the rest holds CJK
_ASCII_ALNUM = bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256))
_ASCII_BYTES = bytes(range(128))
_CONTRACT = (("can't", "can not"), ("cannot", "can not"), ("won't", "will not"), ("n't", " not"))

_AZ = frozenset("abcdefghijklmnopqrstuvwxyz")
_S_BEFORE = frozenset("abcdefghjklmnopqrtuvwxyz")  # plural -s is stripped unless it follows i or s
_DOUBLE = frozenset("bdgmnprt")


def _az(s: str) -> bool:
    for ch in s:
        if ch not in _AZ:
            return False
    return True


def _stem(w: str) -> str:
    """Light English stemmer for one lower-case token: -ies -> -y; plural -s (not after i/s); -ing/-ed; a doubled
    final consonant; a final -e. Each rule needs enough letters before the suffix, so short words are kept."""
    out = w
    if out in _NO_STEM:
        return out
    if len(out) >= 5 and out.endswith("ies") and _az(out[-5:-3]):
        out = out[:-3] + "y"
    if len(out) >= 4 and out[-1] == "s" and out[-2] in _S_BEFORE and _az(out[-4:-2]):
        out = out[:-1]
    if len(out) >= 6 and out.endswith("ing") and _az(out[-6:-3]):
        out = out[:-3]
    elif len(out) >= 5 and out.endswith("ed") and _az(out[-5:-2]):
        out = out[:-2]
    if len(out) >= 4 and out[-1] == out[-2] and out[-1] in _DOUBLE and _az(out[-4:-2]):
        out = out[:-1]
    if len(out) >= 4 and out[-1] == "e" and _az(out[-4:-1]):
        out = out[:-1]
    return out


class _StemCache(dict):
    """token -> stem, filled on first use (``map(cache.__getitem__, tokens)`` runs in C)."""

    def __missing__(self, w: str) -> str:
        if len(self) > 200_000:
            self.clear()
        v = _stem(w)
        self[w] = v
        return v


_STEMS = _StemCache()


# a short word with two or more capitals and a lower-case letter is an acronym, not a camelCase compound: SQLi,
# ReDoS, DoS, IDORs, JWTs, MySQL are read whole ("sqli", "redos"), never split ("sq li", "re do s")
_SHORT_MIXED = re.compile(r"\b(?=[A-Za-z]{3,6}\b)(?:[A-Z]{2,}[a-z]{1,2}|[A-Z]+[a-z]+[A-Z][A-Za-z]*|"
                          r"[a-z]+[A-Z][a-z]*[A-Z][A-Za-z]*)\b")
# acronyms that end in "s" but are no plurals ("redos" must not become "redo")
_NO_STEM = frozenset({"redos", "ddos"})


def _lower(m: re.Match) -> str:
    return m.group(0).lower()


def _camel_fix(m: re.Match) -> str:
    # which of the empty groups took part: a space before the letter (fooBar), after it (HTTPServer), or both
    # (aHTTPServer); the lookarounds of the pattern are ASCII-only, like the words they split
    k = m.lastgroup
    ch = m.group()
    return (" " + ch + " ") if k == "both" else (" " + ch) if k == "before" else (ch + " ")


def _emph_fix(m: re.Match) -> str:
    g = m.group(0)
    if g == "~~":
        return " "
    s, a, b = m.string, m.start(), m.end()
    before = s[a - 1] if a else ""
    after = s[b] if b < len(s) else ""
    if before not in _ALNUM or after not in _ALNUM or not before or not after:
        return " "
    return g


# characters NFKC may change: Latin-1 symbols, general punctuation, letter-like and number forms, enclosed
# alphanumerics, ideographic space, CJK compatibility, presentation forms, half-/full-width forms
_COMPAT = re.compile("[\u00a0-\u00bf\u2000-\u206f\u2100-\u218f\u2460-\u24ff\u3000\u3200-\u33ff\uf900-\ufaff"
                     "\ufb00-\ufb4f\ufe10-\ufe6f\uff00-\uffef]+")


def _nfkc_run(m: re.Match) -> str:
    return unicodedata.normalize("NFKC", m.group(0))


def nfkc(text: str) -> str:
    """Unicode NFKC of ``text``, fast for typical text: ASCII and already-normalised text are returned as is;
    otherwise only runs of compatibility characters (full-width forms...) are normalised, and the whole text
    only when that was not enough (decomposed sequences)."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    t = _COMPAT.sub(_nfkc_run, text)
    return t if unicodedata.is_normalized("NFKC", t) else unicodedata.normalize("NFKC", t)


def trie_pattern(ws) -> str:
    """A regular expression (no groups) matching exactly the strings ``ws``, with common prefixes factored
    ("ab|ac" -> "a(?:b|c)") so that the regex engine tries few branches at each position; longer alternatives
    are tried first."""
    trie: dict = {}
    for w in set(ws):
        if not w:
            continue
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:
        end = "" in node
        alts = []
        singles = []
        for ch in sorted(k for k in node if k):
            sub = build(node[ch])
            if sub == "":
                singles.append(ch)
            else:
                alts.append(re.escape(ch) + sub)
        if len(singles) == 1:
            alts.append(re.escape(singles[0]))
        elif singles:
            alts.append("[" + "".join(re.escape(c) for c in singles) + "]")
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and not end else "(?:" + "|".join(alts) + ")"
        if end:
            body += "?" if body.startswith("(?:") or len(alts[0]) == 1 and len(alts) == 1 else ""
            if not body.endswith("?"):
                body = "(?:" + body + ")?"
        return body

    return build(trie)


def has_cjk(text: str) -> bool:
    """True when ``text`` holds at least one Japanese/Chinese character."""
    return not text.isascii() and _HAS_CJK.search(text) is not None


def fold(text: str, *, nfkc: bool = True) -> str:
    """NFKC + case-fold + unified quotes/dashes, markdown emphasis and backticks removed, whitespace collapsed.

    Args:
        text: any string.
        nfkc: False when the caller has already applied NFKC.
    Returns:
        the folded string (punctuation kept).
    """
    t = globals()["nfkc"](text) if nfkc else text
    for ch, rep in _FOLD_REPL:
        if ch in t:
            t = t.replace(ch, rep)
    if "_" in t or "~~" in t:
        t = _EMPH.sub(_emph_fix, t)
    return " ".join(t.split()).casefold()


def stem_text(t: str) -> str:
    """Apply the light English stemmer to every word of an already lower-cased, space-separated text."""
    return " ".join(map(_STEMS.__getitem__, t.split()))


def word_list(text: str, *, nfkc: bool = True) -> list[str]:
    """The words of ``text`` (see :func:`words`) as a list."""
    t = globals()["nfkc"](text) if nfkc else text
    t = _CAMEL.sub(_camel_fix, _SHORT_MIXED.sub(_lower, t)).casefold()
    if "\u2019" in t:
        t = t.replace("\u2019", "'")
    if "'" in t or "cannot" in t:
        for contracted, expanded in _CONTRACT:
            if contracted in t:
                t = t.replace(contracted, expanded)
    # every ASCII byte that is not a letter or digit becomes a space (bytes.translate, in C); the text is decoded
    # once and split, rather than token by token
    if t.isascii():
        return list(map(_STEMS.__getitem__, t.encode("ascii").translate(_ASCII_ALNUM).decode("ascii").split()))
    b = t.encode("utf-8")
    # CJK test on the non-ASCII bytes only (a few for English text with a dash or an arrow): deleting the ASCII
    # bytes of UTF-8 leaves whole multi-byte sequences, so the rest decodes
    if not _HAS_CJK.search(b.translate(None, _ASCII_BYTES).decode("utf-8")):
        # no CJK: every non-ASCII character separates words too, so each of its bytes becomes a space
        return list(map(_STEMS.__getitem__, b.translate(_ASCII_ALNUM).decode("ascii").split()))
    return list(map(_STEMS.__getitem__, _TOKEN.findall(t)))


def words(text: str, *, folded: bool = False, nfkc: bool = True) -> str:
    """Word form of ``text``: see the module docstring. Padded with one space on each side.

    Args:
        text: raw text (or already :func:`fold`-ed text when ``folded`` is True).
        nfkc: False when the caller has already applied NFKC.
    """
    return " " + " ".join(word_list(text, nfkc=nfkc)) + " "


_ROUTE = re.compile(r"(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(/\S*)", re.I)


def route_path(anchor: str) -> str | None:
    """The path of a route written with its HTTP method ("GET /users/{id}" -> "/users/{id}"), else None: people
    name a route with or without its method."""
    m = _ROUTE.fullmatch(anchor.strip())
    return m.group(1) if m else None


def phrase(text: str) -> str:
    """Word form of a keyword or anchor without the padding ('' when nothing is left)."""
    return words(text).strip()


_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005"
_SEG = re.compile(rf"[{_KANJI}]+|[\u30a0-\u30ff]+|[a-z0-9]+|[\u3040-\u309f]+")
# between the parts of a Japanese keyword: up to four kana/kanji particles or okurigana, or spaces -- written as a
# negated class (no ASCII punctuation or letters, no katakana, no ideographic punctuation), which compiles fast
_GAP = r"[^\x00-\x1f!-~\u3001\u3002\u300c-\u300f\u30a0-\u30fa\u30fc-\u30ff\uff00-\uffef]{0,4}"


def _kata(seg: str) -> str:
    """Katakana with every long-vowel mark optional, and an optional one after each other character
    ("コンシューマ" matches "コンシューマー", "サーバー" matches "サーバ")."""
    out = []
    for i, ch in enumerate(seg):
        if ch == "\u30fc":
            out.append("\u30fc?")
        else:
            out.append(re.escape(ch))
            if i + 1 >= len(seg) or seg[i + 1] != "\u30fc":
                out.append("\u30fc?")
    return "".join(out)


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
