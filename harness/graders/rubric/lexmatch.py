"""The lexicon matchers of the deterministic grader, built once from :mod:`harness.graders.lexicon`: the word
sets, the synonym groups, the seven lexicons read in one pass over a review's word index (praise, cue, flag,
negation, defect, generic advice, optional hardening), and the regular expressions for remedies, denials, negated
praise and praise or summary headings; the light folding of a review's text. Also the marks that separate
sentences and items in a review's word-form text."""

from __future__ import annotations

import re
import unicodedata

from .. import lexicon
from ..textnorm import has_cjk, phrase, trie_pattern


_SENT_W = "qqsentqq"          # sentence mark in word-form text
_SENT = " qqsentqq "
_ITEM_W = "qqitemqq"          # item separator in word-form and folded text
_ITEM = " qqitemqq "


def _wordset(phrases: list[str]) -> list[str]:
    out = []
    for p in phrases:
        w = phrase(p)
        if w and w not in out:
            out.append(w)
    return out


def _alternation(ps) -> str:
    """Alternation of literal strings, as a prefix trie (fast for the regex engine)."""
    return trie_pattern(ps)


# word form of a phrase -> the raw spellings of its synonym group(s)
_SYN_RAW: dict[str, frozenset[str]] = {}
for _group in lexicon.SYNONYM_GROUPS:
    for _p in _group:
        _w = phrase(_p)
        if _w:
            _SYN_RAW[_w] = _SYN_RAW.get(_w, frozenset()) | frozenset(_group)
# CJK members of synonym groups, longest first, for substitution inside Japanese keywords
_SYN_CJK: list[tuple[str, frozenset[str]]] = sorted(
    ((unicodedata.normalize("NFKC", p).casefold(), frozenset(unicodedata.normalize("NFKC", x).casefold()
                                                              for x in g))
     for g in lexicon.SYNONYM_GROUPS for p in g if has_cjk(p)), key=lambda x: -len(x[0]))


class _Bounded:
    """Whole-word phrases searched in (padded) word-form text: Latin phrases with their leading space (so the
    pattern starts with a literal: fast scanning), CJK phrases anywhere. The two are separate patterns: a
    Latin match and a CJK match never overlap, and only whether some match exists is asked."""

    def __init__(self, ps: list[str]):
        lat = [p for p in ps if not has_cjk(p)]
        cjk = [p for p in ps if has_cjk(p)]
        self.latin = re.compile(r" (?:" + _alternation(lat) + r")(?= )") if lat else None
        self.cjk = re.compile("(?:" + _alternation(cjk) + ")") if cjk else None

    def finditer(self, s: str):
        """Every match: the Latin ones, then (in text holding non-ASCII characters) the CJK ones."""
        if self.latin is not None:
            yield from self.latin.finditer(s)
        if self.cjk is not None and not s.isascii():
            yield from self.cjk.finditer(s)

    def search(self, s: str) -> bool:
        return ((self.latin is not None and self.latin.search(s) is not None)
                or (self.cjk is not None and not s.isascii() and self.cjk.search(s) is not None))


class _Lex:
    """A set of word-form phrases (a lexicon), read by :meth:`_Review.lex_spans`: Latin phrases by their first word
    (looked up in the review's word index) and the rest by one prefix-trie pattern matched right after it; CJK
    phrases by one prefix-trie regular expression over the text."""

    def __init__(self, ws: list[str]):
        rests: dict[str, list[str]] = {}
        alone: set[str] = set()
        cjk = []
        for w in ws:
            if has_cjk(w):
                cjk.append(w)
                continue
            toks = w.split()
            if len(toks) == 1:
                alone.add(toks[0])
            else:
                rests.setdefault(toks[0], []).append("".join(" " + t for t in toks[1:]))
        self.alone = frozenset(alone)
        self.rest = {t: re.compile("(?:" + trie_pattern(rs) + ")(?= )") for t, rs in rests.items()}
        self.cjk_re = re.compile(trie_pattern(cjk)) if cjk else None
        self.keys = frozenset(alone) | frozenset(rests)


_LEX_PRAISE = _Lex([f"{c} {a}" for c in _wordset(lexicon.COPULA) for a in _wordset(lexicon.APPROVING)]
                   + _wordset(lexicon.PRAISE))
_LEX_CUE = _Lex(_wordset(lexicon.DEFECT) + _wordset(lexicon.ACTION))
_LEX_FLAG = _Lex(_wordset(lexicon.DEFECT) + [w for w in _wordset(lexicon.ACTION)
                                              if w not in set(_wordset(lexicon.RECOMMEND))])
_LEX_NEG = _Lex(_wordset(lexicon.NEGATION))
_LEX_DEFECT = _Lex(_wordset(lexicon.DEFECT))
_LEX_GENERIC = _Lex(_wordset(lexicon.GENERIC))
_LEX_OPTIONAL = _Lex(_wordset(lexicon.OPTIONAL))
_PRAISE_START = frozenset(["ok", "okay", "good", "fine", "saf", "correct"])
_MARK_TOKENS = frozenset([_SENT_W, "qqitemqq"])
_LEX_KEYS = (_LEX_PRAISE.keys | _LEX_CUE.keys | _LEX_FLAG.keys | _LEX_NEG.keys | _LEX_GENERIC.keys
             | _LEX_OPTIONAL.keys | _PRAISE_START)
# The seven lexicons are read in one pass over the review's word index (see _Review.lex_spans). Per first word:
# [(the word alone is a phrase, pattern of the continuations, indices of the lexicons)]; lexicons that read the
# same continuations after a word share one match.
_LEXES = (("praise", _LEX_PRAISE), ("cue", _LEX_CUE), ("flag", _LEX_FLAG), ("neg", _LEX_NEG),
          ("defect", _LEX_DEFECT), ("generic", _LEX_GENERIC), ("optional", _LEX_OPTIONAL))
_LEX_TABLE: dict[str, list[tuple[bool, re.Pattern | None, list[int]]]] = {}
for _li, (_, _lx) in enumerate(_LEXES):
    for _t in _lx.keys:
        _rest = _lx.rest.get(_t)
        _alone = _t in _lx.alone
        for _entry in _LEX_TABLE.setdefault(_t, []):
            if _entry[0] == _alone and getattr(_entry[1], "pattern", None) == getattr(_rest, "pattern", None):
                _entry[2].append(_li)
                break
        else:
            _LEX_TABLE[_t].append((_alone, _rest, [_li]))
_LEX_TOKENS = frozenset(_LEX_TABLE)
_LEX_BY_NAME = dict(_LEXES)

_REMEDY_BEFORE_RE = re.compile(r"(?<![a-z0-9])(?:" + _alternation(_wordset(lexicon.REMEDY_BEFORE)) +
                               r")(?: [a-z0-9]+){0,2} ?$")
_REMEDY_AFTER_RE = re.compile(r"^(?: [a-z0-9]+)? ?(?:" + _alternation(_wordset(lexicon.REMEDY_AFTER)) + ")")
# a negation right before a defect word denies the defect ("no SQL injection", "not a race", "without any leak")
_DENIED_RE = re.compile(r"(?<![a-z0-9])(?:no|not|never|without|nor|zero|free of)(?: (?:a|an|the|any|real|risk|"
                        r"of|to|vulnerable|susceptible|possible|exposed|open))* ?$")
# a praise phrase is itself negated: "not safe", "isn't correct", "安全ではない", "適切ではありません", "不適切"
_NEG_BEFORE = re.compile(r"(?:(?<![a-z0-9])(?:not|never|no longer|hardly)(?: (?:really|quite|very|entirely|fully|"
                         r"always|necessarily|so|that|too))? ?|不)$")
_NEG_AFTER = re.compile(r"^\s?(?:では|で|じゃ|とは|とも)?(?:ない|なく|ありません|ありませ|言えません|いえません)")
_PRAISE_HEAD_RE = _Bounded(_wordset([
    "looks fine", "look fine", "looks ok", "looks correct", "looks right", "no issues", "no problems",
    "not problems", "not issues", "false alarms", "false positives", "not bugs", "by design", "intentional",
    "done well", "what's solid", "whats solid", "what is solid", "what works", "strengths", "positives",
    "good points", "the good", "what's good", "what is good", "looks good", "things done right", "done right",
    "no change needed", "no changes needed", "not a problem", "non-issues", "non issues", "fine as is", "ok as is",
    "keep as is", "what's fine", "no issues found", "no action needed", "praise", "nice work", "good practices",
    "well done", "already good", "correct as is", "what you got right", "good decisions", "sound choices",
    "良い点", "よい点", "良かった点", "よくできている", "良くできている", "評価できる点", "問題ない", "問題なし",
    "問題ないと判断", "そのままで", "このままで", "優れている点", "良いところ", "変更不要", "対応不要", "修正不要",
    "適切な点", "適切です", "妥当な点", "正しい点",
    # "checked and fine" sections (v2.md's output format asks for one: 確認したが問題がなかった領域)
    "and fine", "and ok", "verified ok", "checked ok", "問題がなかった", "問題のなかった", "問題なかった", "問題がない",
    "問題のない",
]))
# a heading made only of one of these words ("## Good", "### Strengths", "## 良い点") is a praise heading too
_PRAISE_HEAD_EXACT = frozenset(_wordset(["good", "ok", "okay", "fine", "positives", "positive", "strengths", "kudos",
                                         "the good", "good parts", "good stuff", "what is good", "良い点", "長所"]))
_PRAISE_HEAD_EXACT_WORDS = max(len(p.split()) for p in _PRAISE_HEAD_EXACT)
_SUMMARY_HEAD_RE = _Bounded(_wordset([
    "summary", "overview", "verdict", "conclusion", "tl;dr", "tldr", "short version", "priorities", "priority",
    "before launch", "next steps", "fix order", "test", "tests", "testing", "scope",
    "まとめ", "総評", "結論", "概要", "優先順位", "テスト", "対応順", "リリースまで",
]))
# a heading naming a severity group ("## Lower priority", "### Medium priority") lists problems, even when it also
# holds a summary word ("priority"); English only: a Japanese summary heading often names an order
# ("まとめ（重大度の高い順）")
_SEVERITY_HEAD_RE = _Bounded(_wordset([
    "low", "lower", "medium", "high", "higher", "critical", "minor", "major", "blocker", "blockers", "nit", "nits",
]))


def _light_fold(t: str) -> str:
    """Folded text for literal anchors, file names and line references: like :func:`fold` (NFKC already applied)
    but whitespace and underscore emphasis are kept (the patterns allow any spacing)."""
    for ch, rep in _LIGHT_REPL:
        if ch in t:
            t = t.replace(ch, rep)
    return t.casefold()


_LIGHT_REPL = (("`", " "), ("*", " "), ("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"'),
               ("\u2013", "-"), ("\u2014", "-"), ("\u2212", "-"), ("\u301c", "~"), ("\uff5e", "~"),
               ("\u00a0", " "), ("\u3000", " "))
