"""Deterministic rubric grader: decides, from keywords, anchors and locations, which planted findings a review
identifies and which traps it flags.

How a review is read
--------------------
1. The review is split into items (:mod:`harness.graders.items`): headings, list points with their sub-points,
   table rows, paragraphs; a code block belongs to the item around it.
2. The review is normalised once (:mod:`harness.graders.textnorm`: NFKC, case-folding, identifiers split into
   words, light stemming; Japanese compounds matched with particles in between; a single line break is a soft
   wrap, a blank line or ". " ends a sentence) and searched, with matchers compiled once per case, for evidence
   about every finding and trap; each hit is assigned to its item (and sentence):

   * concept evidence — a keyword of the finding, a generic synonym of one, or the keyword with one or two parts
     replaced by synonyms (:mod:`.lexicon`); phrases of several words allow a word or two in between ("password
     is in the ConfigMap"). Keywords are graded: *diagnostic* (names what is wrong), *remedy* (the rubric names
     it only after "asks"/"recommends": the fix, not the diagnosis), *literal* (also an anchor, or written in the
     location's own lines, or the translation of such a keyword: it names the code, not the defect). A word the
     artifacts use all the time ("order" in an order system) is no evidence; a keyword shared by a trap and a
     finding is the finding's concept;
   * place evidence — an anchor (*common* when written all over the artifacts; never when read inside one of the
     target's own keywords, "jpql" in "jpql injection"), a line reference in the location's range
     (``app.py:115``, ``L113-117``, ``lines 110-120``, ``113行目``; a bare line number is tied to the file named by
     the item, its headings or the text before it, or to the only file), a section reference into a markdown
     artifact (``§5``, ``§5.2``, ``section 5``, ``5章``), quoted code that occurs only in the location's lines (or
     that the rubric cites), or a ``table.column`` anchor written apart ("orders テーブルの total").
3. A finding is found when one *unit* holds a diagnostic or remedy keyword and a place: an item, a point with
   one of its sub-points, an item read with the points and heading above it, or a heading with its body (when
   the heading itself names the target, or the body is a short run of paragraphs). A unit is not credited when
   * it sits under a praise heading ("What's solid", "良い点") or every sentence carrying the evidence praises
     ("is safe", "適切です", "問題ありません");
   * it matches three or more findings at once while pointing at no line and quoting no code (a "shotgun"
     item: a warning is recorded);
   * its place is only a common anchor and every sentence of the evidence reads as generic advice ("make sure",
     "avoid", "適切に") — a checklist line;
   * its diagnosis belongs elsewhere: the unit names only this finding's remedy while another finding's
     diagnostic keyword is present, or, in a section headed by this finding's place, the running text pairs the
     place with another finding's diagnosis and never with this one's.
4. A trap is flagged when a unit points precisely at the trap's place (a line reference, quoted code, or an
   anchor with a diagnostic keyword), is not about another target named more precisely (by the unit, its root or
   its section heading), and a sentence mentioning the trap reports a defect or asks for a change — not praise,
   and not the trap's code named as the remedy ("use X", "like X already does", "X に変えて").

``extra_issues`` counts items that read as reported problems (a defect or change cue; not a heading, praise,
summary, generic checklist line, or a sub-point of a matched item) and match no finding or trap.

Speed: the per-case matchers are compiled once and cached by ``case.fingerprint``. A review is normalised once;
Latin phrases are found through a word index (the first word of each phrase looked up in a dict, the next word
looked up too, the rest matched right after it), CJK phrases by regular expressions behind a character test and a
search of the review's non-ASCII characters alone, and the six lexicons (praise, cues, negation...) are read in one
pass over the word index. Patterns whose every match starts with a known literal (file names, literal anchors,
section marks) are tried only where that literal occurs, and "N行目" only before each 行目. Only the items that hold
evidence are examined further; sentence polarity is answered from positions computed once per review, and the
checks asked for many units that share items are answered once per (item, target). Per-case caches hold what
reviews of a case repeat (quoted code); headings are classified once per wording. Grades are memoised by
(case fingerprint, review digest), so a review graded twice costs a dictionary lookup. Every verdict of the
corpus in tests/review_corpus.py is pinned by tests/test_rubric_regression.py.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..cases import Case
from . import lexicon
from .base import SampleGrade
from .items import HEADING, LIST, TABLE, split_items
from .textnorm import cjk_pattern, fold, has_cjk, nfkc, phrase, route_path, trie_pattern, word_list, words

__all__ = ["DeterministicGrader", "grade_review"]

# evidence bits
C_KW = 1        # a diagnostic keyword (names what is wrong)
C_LIT = 2       # a keyword that names the code itself (also an anchor, or written in the location's lines)
P_ANCHOR = 4    # a specific anchor
P_WEAK = 8      # an anchor written all over the artifacts
P_LINE = 16     # a line reference inside the location
P_CODE = 32     # quoted code that occurs in the location's lines
P_SECTION = 64  # a section reference (§n) covering the location
C_FIX = 128     # a keyword the rubric names only as the remedy
CONCEPT = C_KW | C_LIT | C_FIX
PLACE = P_ANCHOR | P_WEAK | P_LINE | P_CODE | P_SECTION
# a line reference of at most ANCHOR_REF_SPAN lines that covers a line declaring one of a target's anchors
# places that target, when the anchor occurs on at most ANCHOR_LINES_MAX lines of the case's files (a name used
# everywhere declares nothing). Chosen, not fitted: a reference to a declaration is a line or a short range.
ANCHOR_REF_SPAN = 6
ANCHOR_LINES_MAX = 2
SPECIFIC = P_LINE | P_CODE | P_SECTION

QUOTE_CHARS = 300
MAX_REVIEW_CHARS = 300_000
_SENT_W = "qqsentqq"          # sentence mark in word-form text
_SENT = " qqsentqq "
_ITEM_W = "qqitemqq"          # item separator in word-form and folded text
_ITEM = " qqitemqq "

# ------------------------------------------------------------------------------------------------ lexicon


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
_PRAISE_START = frozenset(["ok", "okay", "good", "fine", "saf", "correct"])
_MARK_TOKENS = frozenset([_SENT_W, "qqitemqq"])
_LEX_KEYS = (_LEX_PRAISE.keys | _LEX_CUE.keys | _LEX_FLAG.keys | _LEX_NEG.keys | _LEX_GENERIC.keys
             | _PRAISE_START)
# The six lexicons are read in one pass over the review's word index (see _Review.lex_spans). Per first word:
# [(the word alone is a phrase, pattern of the continuations, indices of the lexicons)]; lexicons that read the
# same continuations after a word share one match.
_LEXES = (("praise", _LEX_PRAISE), ("cue", _LEX_CUE), ("flag", _LEX_FLAG), ("neg", _LEX_NEG),
          ("defect", _LEX_DEFECT), ("generic", _LEX_GENERIC))
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

# line and section references, searched in folded text. Patterns start with a literal or a character class;
# the character before a match is checked in Python.
_LINE_WORD_RE = re.compile(
    r"(?:lines?|ll?\.)\s*(?P<a>\d{1,5})(?:\s*(?:[-~]|to)\s*(?P<b>\d{1,5}))?"
    r"(?P<more>(?:\s*(?:,|and|&)\s*\d{1,5}(?:\s*[-~]\s*\d{1,5})?)*)")
_L_NUM_RE = re.compile(
    r"l(?P<a>\d{1,5})(?:\s*[-~]\s*l?(?P<b>\d{1,5}))?(?P<more>(?:\s*,\s*l\d{1,5}(?:\s*[-~]\s*l?\d{1,5})?)*)")
# "32行目", "93-98行", "93~98 行目": a range needs no 目 (a count is not written as a range); one number does
# ("3行" may be a count of lines), except right after a file name (file_line_re)
_JA_LINE_RE = re.compile(r"(?P<a>\d{1,5})(?:\s*[-~]\s*(?P<b>\d{1,5}))?\s*行(?P<me>目)?")
# the first two in one pass ("line 5", "l. 5" or "L5"): a match of one never starts inside a match of the other
# (inside "lines 3-4, 9" no "l" is followed by a digit; inside "L3-L4" every "l" is), so the matches are those of
# the two patterns
_L_REF_RE = re.compile(_LINE_WORD_RE.pattern + "|" + _L_NUM_RE.pattern.replace("?P<a>", "?P<a2>").replace(
    "?P<b>", "?P<b2>").replace("?P<more>", "?P<more2>"))
_MORE_RE = re.compile(r"(\d{1,5})(?:\s*[-~]\s*l?(\d{1,5}))?")
_SECTION_RE = re.compile(r"(?:§\s*|section\s*|sec\.\s*|セクション\s*|第)(?P<a>\d{1,2}(?:\.\d{1,2})*)"
                         r"|(?P<b>\d{1,2})\s*章")
# the same without the "5章" form, for text without 章: it then starts with literals only (no digit), so the
# regex engine does not try every digit of the review
_SECTION_NO_CH_RE = re.compile(r"(?:§\s*|section\s*|sec\.\s*|セクション\s*|第)(?P<a>\d{1,2}(?:\.\d{1,2})*)(?P<b>)")
_CODE_SPAN_RE = re.compile(r"`([^`\n]{2,200})`")
# "5.3" alone: not inside a longer number or word ("v5.3", "5.3.1", "1.5.3"), not a quantity ("5.3 秒", "5.3%",
# "5.3gb", "5.3 ms")
_BARE_SECTION_RE = re.compile(r"(?<![0-9a-z._/-])(\d{1,2}\.\d{1,2})(?![0-9a-z.%_/-])(?!\s*(?:秒|分|時間|倍|円|件|個|回|"
                              r"ms\b|s\b|gb\b|mb\b|kb\b|%|x\b))")
_MD_HEAD_RE = re.compile(r"^(#{1,6})\s+(?:§\s*)?(\d{1,2}(?:\.\d{1,2})*)[.):]?\s", re.M)
_WORDCH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_BYTES = bytes(range(128))


# ------------------------------------------------------------------------------------------------ compiled case


@dataclass
class _Target:
    n: int
    kind: str          # "finding" | "trap"
    id: str
    file: str
    lo: int
    hi: int
    loc_text: str      # folded text of the location's lines, one line per line (with a line of margin)
    loc_flat: str      # folded text of exactly the location's lines, without whitespace
    rubric_flat: str   # folded rubric and title without whitespace (for code the rubric cites)


_CAMEL_ID = re.compile(r"\b[A-Za-z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b|\b[A-Z]{2,}[a-z]+[A-Za-z0-9]*\b")
# compounds often written both as one word and as two (Kubernetes kinds and fields, common names)
_GENERIC_COMPOUNDS = ["ConfigMap", "NetworkPolicy", "StatefulSet", "DaemonSet", "ReplicaSet", "readinessProbe",
                      "livenessProbe", "startupProbe", "securityContext", "PersistentVolumeClaim",
                      "PersistentVolume", "emptyDir", "hostPath", "nodeSelector", "ServiceAccount", "ClusterRole",
                      "RoleBinding", "PodDisruptionBudget", "HorizontalPodAutoscaler", "volumeClaimTemplates",
                      "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "imagePullPolicy",
                      "StorageClass", "CronJob", "PodSecurity", "LoadBalancer", "ClusterIP", "NodePort",
                      "JavaScript", "TypeScript", "PostgreSQL", "MySQL", "WebSocket", "OAuth", "JSONB",
                      "DynamoDB", "MongoDB", "ElasticSearch", "RabbitMQ", "GraphQL", "NoSQL"]
_COMMON_MIN = 10   # a single-word keyword the artifacts use this often (and in 1/150 of their words) names no defect


def _groups(text: str) -> tuple[tuple[str, ...], ...]:
    """A phrase as word groups: one group per whitespace-separated word of the original (an identifier such as
    ``verify_exp`` or ``ConfigMap`` is one group of several tokens)."""
    out = []
    for raw in unicodedata.normalize("NFKC", text).split():
        toks = tuple(phrase(raw).split())
        if toks:
            out.append(toks)
    return tuple(out)


def _kw_gap(gs: tuple) -> int:
    """Words allowed between the words of a keyword: none for one word, one for two ("card's number"), two for
    longer phrases ("password is in the configmap")."""
    return 0 if len(gs) < 2 else 1 if len(gs) == 2 else 2


def _rest_pattern(gs: tuple, gap: int) -> re.Pattern | None:
    """Pattern for what follows the first token of a phrase (matched right after it), or None for one token.
    Tokens of one group are adjacent; up to ``gap`` words (never a sentence mark) between groups."""
    parts = []
    for gi, g in enumerate(gs):
        toks = g[1:] if gi == 0 else g
        if gi > 0 and gap:
            parts.append(r"(?: (?!" + _SENT_W + r" )[^ ]+){0,%d}?" % gap)
        for t in toks:
            parts.append(" " + re.escape(t))
    if not parts:
        return None
    return re.compile("".join(parts) + "(?= )")


def _covers(T: list[str], k: int, kt: list[str]) -> bool:
    """True when the tokens ``kt`` of a keyword are written at token ``k`` (a CJK token may carry particles)."""
    if k + len(kt) > len(T):
        return False
    for a, b in zip(T[k:k + len(kt)], kt):
        if a != b and not (not b.isascii() and a.startswith(b)):
            return False
    return True


def _rest_tokens(rest: re.Pattern | None) -> list[str]:
    """The literal tokens of an exact (gap 0) rest pattern built by :func:`_rest_pattern`."""
    if rest is None:
        return []
    body = rest.pattern[:-len("(?= )")] if rest.pattern.endswith("(?= )") else rest.pattern
    return [re.sub(r"\\(.)", r"\1", t) for t in body.split(" ") if t]


class _Phrase:
    """A Latin phrase: the pattern of what follows its first word, its target and evidence bit; ``inside`` lists,
    for an anchor, the target's keywords that contain it ((offset, tokens)): an anchor read inside such a
    keyword ("jpql" in "jpql injection") is not evidence of the place."""

    __slots__ = ("rest", "n", "bit", "neg", "inside")

    def __init__(self, rest, n, bit, neg):
        self.rest, self.n, self.bit, self.neg = rest, n, bit, neg
        self.inside: list[tuple[int, list[str]]] = []


class _Compiled:
    """Everything about a case that does not depend on the review (built once per case fingerprint)."""

    def __init__(self, case: Case):
        self.case_id = case.id
        self.files = [p for p, _ in case.artifacts]
        self.single_file = self.files[0] if len(self.files) == 1 else None
        art_lines = {p: text.split("\n") for p, text in case.artifacts}
        all_art = "\n".join(text for _, text in case.artifacts)

        # compounds: camelCase identifiers of the case, so "configmap" and "ConfigMap" read alike
        ids = set(_CAMEL_ID.findall(all_art)) | set(_GENERIC_COMPOUNDS)
        for spec in list(case.findings) + list(case.traps):
            for s in list(spec.keywords) + list(spec.anchors):
                ids.update(_CAMEL_ID.findall(s))
        self.compounds: dict[str, str] = {}
        for ident in ids:
            sp = phrase(ident)
            joined = sp.replace(" ", "")
            if " " in sp and len(joined) >= 5 and not has_cjk(sp):
                self.compounds[joined] = sp
        self.compound_re = (re.compile(r" (" + _alternation(list(self.compounds)) + r")(?= )")
                            if self.compounds else None)
        self.compound_keys = frozenset(self.compounds)

        self.art_words = {p: self.canon(words(text)) for p, text in case.artifacts}
        all_words = "".join(self.art_words.values())
        self.all_fold_flat = "".join(re.sub(r"\s+", "", fold(text)) for _, text in case.artifacts)
        self.targets: list[_Target] = []
        specs = [("finding", f) for f in case.findings] + [("trap", t) for t in case.traps]
        for kind, spec in specs:
            loc = spec.location
            lines = art_lines.get(loc.file, [])
            lo, hi = loc.lines
            seg = lines[max(0, lo - 2):hi + 1]
            loc_text = "\n".join(re.sub(r"\s+", " ", fold(ln)).strip() for ln in seg)
            exact = "".join(re.sub(r"\s+", "", fold(ln)) for ln in lines[max(0, lo - 1):hi])
            self.targets.append(_Target(len(self.targets), kind, spec.id, loc.file, lo, hi, loc_text, exact,
                                        re.sub(r"\s+", "", fold(spec.rubric + " " + spec.title))))
        self.kinds = [t.kind for t in self.targets]
        self.descr = [(spec.title, spec.rubric) for _, spec in specs]
        # lines that define a target's anchor elsewhere than its location ("JwtTokenService.java:32", where the
        # TTL constant the finding is about is declared): a line reference resolves to the code at those lines.
        # Only distinctive anchors (on at most ANCHOR_LINES_MAX lines of all the files) place anything.
        self.anchor_lines: dict[str, list[tuple[int, int]]] = {}
        for (_, spec), t in zip(specs, self.targets):
            names = list(spec.anchors) + ([spec.location.symbol] if spec.location.symbol else [])
            for a in {x.strip() for x in names if len(x.strip()) >= 4}:
                hits = [(p, k + 1) for p, lines in art_lines.items() for k, ln in enumerate(lines) if a in ln]
                if 0 < len(hits) <= ANCHOR_LINES_MAX:
                    for p, ln in hits:
                        self.anchor_lines.setdefault(p, []).append((ln, t.n))

        # file names as written in reviews: full relative path and basename
        names: dict[str, str] = {}
        for p in self.files:
            for name in (fold(p), fold(p.rsplit("/", 1)[-1])):
                names.setdefault(name, p)
        self.file_of = names
        self.file_words = {phrase(n) for n in names}
        alt = _alternation(list(names))
        self.file_re = re.compile(alt) if names else None
        # "app.py:115", "payments-api.yaml L19", "schema.sql line 3", "checkout.ts#L98"
        self.file_line_re = re.compile(
            r"(?P<file>" + alt + r")\s*(?::|#l|\s+l(?=\d)|\s+lines?\s+|\s*\(lines?\s+|\s*の?\s*(?=\d{1,5}(?:\s*[-~]\s*\d{1,5})?\s*行))\s*(?P<a>\d{1,5})"
            r"(?:\s*[-~]\s*l?(?P<b>\d{1,5}))?(?P<more>(?:\s*,\s*l?\d{1,5}(?:\s*[-~]\s*l?\d{1,5})?)*)"
        ) if names else None

        # sections of markdown artifacts: number -> [(file, lo, hi)]
        self.sections: dict[str, list[tuple[str, int, int]]] = {}
        for p, text in case.artifacts:
            if not p.lower().endswith((".md", ".markdown", ".txt", ".rst", ".adoc")):
                continue
            heads = [(m.start(), len(m.group(1)), m.group(2)) for m in _MD_HEAD_RE.finditer(text)]
            all_heads = [(m.start(), len(m.group(1))) for m in re.finditer(r"^(#{1,6})\s", text, re.M)]
            n_lines = text.count("\n") + 1
            for pos, level, num in heads:
                start = text.count("\n", 0, pos) + 1
                end = n_lines
                for pos2, level2 in all_heads:
                    if pos2 > pos and level2 <= level:
                        end = text.count("\n", 0, pos2)
                        break
                self.sections.setdefault(num, []).append((p, start, end))

        self.dotted_sections = frozenset(k for k in self.sections if "." in k)

        # ---- terms
        phrases: dict[str, list[_Phrase]] = {}    # first token -> phrases starting with it
        cjk_terms: dict[tuple[str, bool], list[tuple[int, int]]] = {}
        lit_terms: dict[str, list[tuple[int, int]]] = {}
        prox_terms: list[tuple[str, str, int, int]] = []
        seen: set = set()
        rest_cache: dict = {}

        kw_tokens: dict[int, set[tuple[str, ...]]] = {}   # target -> Latin keyword spellings (tokens)
        rest_hint: dict[int, tuple[str, int]] = {}         # id(rest pattern) -> (next word, window it is in)

        def add_phrase(text: str, n: int, bit: int, gap: int, neg: bool = False) -> None:
            w = self.canon(" " + phrase(text) + " ").strip()
            if not w:
                return
            if has_cjk(w):
                pat = cjk_pattern(w)
                if pat:
                    owners = cjk_terms.setdefault((pat, neg), [])
                    if (n, bit) not in owners:
                        owners.append((n, bit))
                    if bit & (C_KW | C_LIT | C_FIX) and not neg:
                        kw_tokens.setdefault(n, set()).add(tuple(w.split()))
                return
            gs = _groups(text)
            gs = tuple(tuple(self.canon(" " + " ".join(g) + " ").split()) for g in gs)
            gs = tuple(g for g in gs if g)
            if not gs:
                return
            if gap:
                gap = _kw_gap(gs)
            key = (gs, gap, n, bit, neg)
            if key in seen:
                return
            seen.add(key)
            rk = (gs, gap)
            if rk not in rest_cache:
                rest_cache[rk] = _rest_pattern(gs, gap)
                if len(gs[0]) > 1:
                    rest_hint[id(rest_cache[rk])] = (gs[0][1], 1)
                elif len(gs) > 1:
                    rest_hint[id(rest_cache[rk])] = (gs[1][0], gap + 1)
            phrases.setdefault(gs[0][0], []).append(_Phrase(rest_cache[rk], n, bit, neg))
            if bit & (C_KW | C_LIT | C_FIX) and not neg:
                kw_tokens.setdefault(n, set()).add(tuple(t for g in gs for t in g))

        # keyword spellings of the findings: a trap keyword shared with a finding names the finding's concept
        finding_kw: set[str] = set()
        for kind, spec in specs:
            if kind == "finding":
                for kw in spec.keywords:
                    for v in {kw} | set(_SYN_RAW.get(phrase(kw), ())):
                        finding_kw.add(self.canon(" " + phrase(v) + " ").strip())
        counts: dict[str, int] = {}
        toks = all_words.split()
        for tok in toks:
            counts[tok] = counts.get(tok, 0) + 1
        common_min = max(_COMMON_MIN, len(toks) // 150)
        self.common_tokens = {tok for tok, c in counts.items() if c >= common_min}

        for (kind, spec), t in zip(specs, self.targets):
            n = t.n
            anchor_words = {self.canon(" " + phrase(a) + " ").strip() for a in spec.anchors}
            loc_words = self.canon(" " + " ".join(words(ln).strip() for ln in t.loc_text.split("\n")) + " ")
            diag_w, fix_w = _rubric_parts(spec.title, spec.rubric)
            diag_w, fix_w = self.canon(diag_w), self.canon(fix_w)
            kw_info = []
            for kw in spec.keywords:
                p = self.canon(" " + phrase(kw) + " ").strip()
                if not p:
                    continue
                vps = {v: self.canon(" " + phrase(v) + " ").strip() for v in _variants(kw)}
                own_literal = p in anchor_words or (" " + p + " ") in loc_words
                kw_info.append((p, vps, own_literal))
            for p, vps, own_literal in kw_info:
                # a keyword written in the location's own lines or among the anchors (or the translation of
                # such a keyword) names the code, not what is wrong with it
                literal = own_literal or (has_cjk(p) and any(
                    lit and not has_cjk(p2) and set(vps.values()) & set(vps2.values())
                    for p2, vps2, lit in kw_info))
                latin = [vp for vp in vps.values() if vp and not has_cjk(vp)]
                in_fix = any((" " + vp + " ") in fix_w for vp in latin)
                in_diag = any((" " + vp + " ") in diag_w for vp in latin)
                if literal:
                    bit = C_LIT
                elif kind == "finding" and in_fix and not in_diag:
                    bit = C_FIX  # named only in the rubric's remedy: the fix, not the diagnosis
                else:
                    bit = C_KW
                for v, vp in vps.items():
                    if not vp or (" " not in vp and vp in self.common_tokens):
                        continue  # a word the artifacts use all the time ("order") names no defect
                    vbit = C_LIT if kind == "trap" and vp in finding_kw else bit
                    add_phrase(v, n, vbit, 3)
                    core = _negated_core(v)
                    if core:
                        add_phrase(core, n, vbit, 3, neg=True)
            for a in spec.anchors:
                self._add_anchor(a, t, all_words, add_phrase, lit_terms, prox_terms)
                # a route anchor written with its method ("GET /users/{id}") is also named by its path alone
                path = route_path(a)
                if path:
                    self._add_anchor(path, t, all_words, add_phrase, lit_terms, prox_terms)
            sym = spec.location.symbol
            if sym and re.fullmatch(r"[A-Za-z_][\w.]*", sym) and ("_" in sym or "." in sym or
                                                                   re.search(r"[a-z][A-Z]", sym)):
                self._add_anchor(sym, t, all_words, add_phrase, lit_terms, prox_terms)

        for first, lst in phrases.items():
            for ph in lst:
                if not ph.bit & (P_ANCHOR | P_WEAK):
                    continue
                atoks = [first] + _rest_tokens(ph.rest)
                for kt in kw_tokens.get(ph.n, ()):
                    if len(kt) > len(atoks):
                        for j in range(len(kt) - len(atoks) + 1):
                            if list(kt[j:j + len(atoks)]) == atoks:
                                ph.inside.append((j, list(kt)))
        # phrases sharing a first word and a rest pattern are matched once: first -> [(rest, [phrase...])]
        # (the next word a phrase needs, and how far after the first word it may be, rejects most candidates
        # before the pattern is tried). Per first word: (the phrases of that one word, {next word: [(rest,
        # phrases)]} for the groups whose next word follows the first directly, [(rest, next word, window,
        # phrases)] for the others, the widest window of these)
        self.phrases: dict[str, tuple[list[_Phrase], dict[str, list[tuple[re.Pattern, list[_Phrase]]]],
                                      list[tuple[re.Pattern, str, int, list[_Phrase]]], int]] = {}
        for first, lst in phrases.items():
            groups: dict = {}
            singles: list[_Phrase] = []
            for ph in lst:
                if ph.rest is None:
                    singles.append(ph)
                    continue
                nxt, win = rest_hint[id(ph.rest)]
                groups.setdefault(id(ph.rest), (ph.rest, nxt, win, []))[3].append(ph)
            by_next: dict[str, list] = {}
            windowed = []
            for rest, nxt, win, group in groups.values():
                if win == 1:
                    by_next.setdefault(nxt, []).append((rest, group))
                else:
                    windowed.append((rest, nxt, win, group))
            self.phrases[first] = (singles, by_next, windowed, max((w for _, _, w, _ in windowed), default=0))
        self.first_keys = frozenset(self.phrases)
        self.all_keys = self.first_keys | _LEX_KEYS
        # CJK terms: (the non-ASCII characters every match contains, for a quick subset test; whether the pattern
        # is made of Japanese parts only; pattern; owners; needs negation)
        self.cjk: list[tuple[frozenset[str], bool, re.Pattern, list[tuple[int, int]], bool]] = []
        for (pat, neg), owners in cjk_terms.items():
            req = _required_chars(pat)
            self.cjk.append((frozenset(c for c in req if not c.isascii()), all(not c.isascii() for c in req),
                             re.compile(pat), owners, neg))
        # literal anchors: (longest piece, for a quick `in` test; the first piece, which every match starts with;
        # pattern; owners; needs a boundary before)
        self.lits: list[tuple[str, str, re.Pattern, list[tuple[int, int]], bool]] = []
        for k, owners in lit_terms.items():
            pieces = k.split(" ")
            body = r"\s*".join(re.escape(x) for x in pieces)
            post = ""
            if re.search(r"[a-z0-9_]$", k):
                post = r"(?![a-z0-9_/])" if re.search(r"/[a-z0-9_]+$", k) else r"(?![a-z0-9_])"
            self.lits.append((max(pieces, key=len), pieces[0], re.compile(body + post), owners,
                              re.match(r"[a-z0-9_]", k) is not None))
        self.prox = [(" " + tb + " ", " " + col, re.compile(
            " " + re.escape(tb) + r"(?: (?!" + _SENT_W + r" )[^ ]+){0,6}? " + re.escape(col) + "(?= )"), n, bit)
            for tb, col, n, bit in prox_terms]
        self.code_cache: OrderedDict[str, tuple[str, tuple[tuple[int, int], ...]]] = OrderedDict()
        self.lock = threading.Lock()

    def target_vectors(self, embedder) -> "np.ndarray":
        """Embeddings of every target's title and rubric, (targets, 384), computed once per case."""
        vec = getattr(self, "_tvec", None)
        if vec is None:
            from .semantic import target_texts
            vec = self._tvec = embedder.embed([target_texts(*self.descr[t.n]) for t in self.targets])
        return vec

    def canon(self, w: str) -> str:
        """Split known compounds of a padded word-form text ("configmap" -> "config map")."""
        if self.compound_re is None:
            return w
        return self.compound_re.sub(lambda m: " " + self.compounds[m.group(1)], w)

    def _add_anchor(self, a: str, t: _Target, all_words: str, add_phrase, lit_terms, prox_terms) -> None:
        n = t.n
        p = self.canon(" " + phrase(a) + " ").strip()
        f = fold(a)
        ident = re.fullmatch(r"[\w.\-$:]+", a) is not None
        weak = f in self.file_of or p in self.file_words
        if p and not weak:
            total = all_words.count(" " + p + " ")
            loc_words = self.canon(" " + " ".join(words(ln).strip() for ln in t.loc_text.split("\n")) + " ")
            inside = loc_words.count(" " + p + " ")
            outside = max(0, total - inside)
            weak = outside >= 2 and outside > inside
        bit = P_WEAK if weak else P_ANCHOR
        if p and (ident or " " in p):
            add_phrase(a if ident else p, n, bit, 0)
        if not ident or re.search(r"[^\w.\-]", a):
            lit_terms.setdefault(f, []).append((n, bit))
        if ident and re.fullmatch(r"[A-Za-z_]\w*\.[A-Za-z_]\w*", a):
            tb, col = (self.canon(" " + phrase(x) + " ").strip() for x in a.split(".", 1))
            if tb and col and len(col) >= 2:
                prox_terms.append((tb, col, n, bit))

    def code_hits(self, raw_span: str) -> tuple[tuple[int, int], ...]:
        """Targets whose exact location lines are the only place quoting ``raw_span`` (or whose rubric cites
        it, when it is rare in the artifacts)."""
        return self.code_entry(raw_span)[1]

    def code_entry(self, raw_span: str) -> tuple[str, tuple[tuple[int, int], ...]]:
        """(folded text of ``raw_span`` without whitespace, :meth:`code_hits`), memoised per case: reviews of a
        case quote the same code."""
        hit = self.code_cache.get(raw_span)
        if hit is not None:
            return hit
        span = fold(raw_span)
        flat = "".join(span.split())
        out: list[tuple[int, int]] = []
        if (len(flat) >= 4 and not flat.isalpha()) or len(flat) >= 12 or (len(flat) >= 6 and " " in span.strip()):
            total = -1   # occurrences in all the artifacts: counted only when a target quotes or cites it
            for t in self.targets:
                inside = t.loc_flat.count(flat)
                if inside:
                    if total < 0:
                        total = self.all_fold_flat.count(flat)
                    if inside >= total:
                        out.append((t.n, P_CODE))
                        continue
                if len(flat) >= 6 and flat in t.rubric_flat:
                    if total < 0:
                        total = self.all_fold_flat.count(flat)
                    if total and total <= 3:
                        out.append((t.n, P_CODE))
        res = (flat, tuple(out))
        with self.lock:
            self.code_cache[raw_span] = res
            if len(self.code_cache) > 20000:
                self.code_cache.popitem(last=False)
        return res


def _required_chars(pat: str) -> frozenset[str]:
    """Characters every match of ``pat`` (a pattern built by :func:`cjk_pattern`) contains: its literal characters
    that are not optional; character classes and their repetitions are skipped."""
    out = set()
    i = 0
    n = len(pat)
    while i < n:
        ch = pat[i]
        if ch == "[":
            j = pat.find("]", i + 1)
            i = n if j < 0 else j + 1
            if i < n and pat[i] == "{":
                k = pat.find("}", i)
                i = n if k < 0 else k + 1
            continue
        if ch == "\\" and i + 1 < n:
            lit, nxt = pat[i + 1], i + 2
        elif ch in "().^$|?*+{}":
            i += 1
            continue
        else:
            lit, nxt = ch, i + 1
        if not (nxt < n and pat[nxt] in "?*{"):
            out.add(lit)
        i = nxt
    return frozenset(out)


_ASK_RE = re.compile(r"(?<![a-z])(?:asks?|asking|recommends?|recommending|suggests?|suggesting|requests?)"
                     r"(?![a-z])")


def _rubric_parts(title: str, rubric: str) -> tuple[str, str]:
    """Word forms of (title + diagnosis part, remedy part) of a rubric, split at its first "asks"/"recommends"."""
    r = unicodedata.normalize("NFKC", rubric).casefold()
    m = _ASK_RE.search(r)
    diag, fix = (r[:m.start()], r[m.start():]) if m else (r, "")
    return words(title + " . " + diag), words(fix)


def _variants(kw: str, limit: int = 64) -> set[str]:
    """Spellings of a keyword: itself, its synonym group, and the keyword with parts that belong to a synonym group
    replaced by the other members ("hpa cannot scale" -> "hpa will never scale"; two replacements at most:
    "autoscaling disabled" -> "hpa 無効")."""
    out = _variants1(kw, limit)
    for v in list(out):
        if len(out) >= limit:
            break
        if v != kw:
            out |= _variants1(v, limit - len(out) + 1)
    return out


def _variants1(kw: str, limit: int) -> set[str]:
    out = {kw}
    p = phrase(kw)
    out |= _SYN_RAW.get(p, frozenset())
    if has_cjk(p):
        q = unicodedata.normalize("NFKC", kw).casefold()
        for member, group in _SYN_CJK:
            if member in q and member != q:
                for other in group:
                    out.add(q.replace(member, other))
                    if len(out) >= limit:
                        return out
        return out
    toks = p.split()
    for i in range(len(toks)):
        for j in range(i + 1, len(toks) + 1):
            if i == 0 and j == len(toks):
                continue
            sub = " ".join(toks[i:j])
            group = _SYN_RAW.get(sub)
            if not group:
                continue
            for other in group:
                o = phrase(other)
                if o and o != sub:
                    out.add(" ".join(toks[:i] + [o] + toks[j:]))
                    if len(out) >= limit:
                        return out
    return out


def _negated_core(p: str) -> str | None:
    """'no timeout' -> 'timeout'; 'missing index' -> 'index'; 'インデックス不足' -> 'インデックス'."""
    q = unicodedata.normalize("NFKC", p).casefold().strip()
    for pre in ("no ", "missing ", "lack of ", "without ", "not ", "lacking "):
        if q.startswith(pre) and len(q) > len(pre) + 2:
            return q[len(pre):]
    for suf in ("不足", "なし", "欠如", "漏れ", "がない", "が無い"):
        if q.endswith(suf) and len(q) > len(suf) + 1:
            return q[: -len(suf)].strip()
    return None


_CACHE: OrderedDict[str, _Compiled] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _compiled(case: Case) -> _Compiled:
    key = case.fingerprint
    with _CACHE_LOCK:
        c = _CACHE.get(key)
        if c is not None:
            _CACHE.move_to_end(key)
            return c
    c = _Compiled(case)
    with _CACHE_LOCK:
        _CACHE[key] = c
        while len(_CACHE) > 256:
            _CACHE.popitem(last=False)
    return c


# ------------------------------------------------------------------------------------------------ per review


class _Review:
    """One review, normalised once; evidence per item (only items that hold some)."""

    def __init__(self, comp: _Compiled, review: str):
        self.comp = comp
        items = split_items(review[:MAX_REVIEW_CHARS])
        self.items = items
        texts = [it.text for it in items]
        raw = _ITEM.join(texts)
        nk = nfkc(raw)
        # sentence marks: blank lines, ". " "! " "? ", the ideographic full stop; a single line break inside an
        # item is a soft wrap
        st = nk.replace("\n\n", _SENT).replace("\n", " ")
        for p in (". ", "! ", "? ", ".\t", "!\t", "?\t"):
            if p in st:
                st = st.replace(p, p[0] + _SENT)
        if "\u3002" in st:
            st = st.replace("\u3002", "\u3002" + _SENT)
        # the word list is the token list of W (W = its words joined, padded): no second split
        T = word_list(st, nfkc=False)
        W = " " + " ".join(T) + " "
        if comp.compound_keys and not comp.compound_keys.isdisjoint(T):
            W = comp.canon(W)
            T = W[1:-1].split(" ") if len(W) > 2 else []
        F = _light_fold(nk)
        self.W, self.F = W, F
        n = len(items)
        self.w_bounds = _bounds(W, n)
        self.f_bounds = _bounds(F, n)
        if self.w_bounds is None or self.f_bounds is None:
            # an item holds the separator word itself: normalise item by item (slow path, never in practice)
            W = _ITEM.join(comp.canon(words(_SENT.join(t.split("\n")))).strip() for t in texts)
            F = _ITEM.join(_light_fold(nfkc(t)) for t in texts)
            self.W, self.F = " " + W + " ", F
            self.w_bounds = _bounds(self.W, n) or [(0, 0)] * n
            self.f_bounds = _bounds(F, n) or [(0, 0)] * n
        self.w_starts = [a for a, _ in self.w_bounds]
        self.f_starts = [a for a, _ in self.f_bounds]
        # word index: tokens, their character offsets in W, positions of the words some matcher starts with
        if W is not self.W:
            W = self.W
            T = W[1:-1].split(" ") if len(W) > 2 else []
        self.ascii = W.isascii()
        self.T = T
        # the total length of the tokens before token k (in C); token k starts at W[cum[k] + k + 1] (k + 1
        # spaces). Offsets are needed only at the few tokens some matcher starts with.
        self.cum = list(accumulate(map(len, T), initial=0))
        # word index: the positions of the tokens some matcher starts with (selected in C, a quarter of them)
        pos_of: dict[str, list[int]] = {}
        get = pos_of.get
        for k in compress(range(len(T)), map(comp.all_keys.__contains__, T)):
            t = T[k]
            lst = get(t)
            if lst is None:
                pos_of[t] = [k]
            else:
                lst.append(k)
        self.pos_of = pos_of
        # sentence boundaries in W: sentence marks and item starts (a sentence id is an index into this list)
        marks = []
        W = self.W
        k = W.find(_SENT_W)
        while k >= 0:
            marks.append(k)
            k = W.find(_SENT_W, k + 1)
        self.sbounds = sorted(set(marks) | set(self.w_starts) | {0})
        self._pol: dict | None = None
        self._neg: list[int] | None = None
        self._lex: dict[str, list[tuple[int, int]]] | None = None
        self._lex_cjk: set[str] = set()   # lexicons whose CJK phrases were added to _lex
        self._fstarts: list[int] | None = None
        self._fpol: dict[tuple[int, int], tuple[bool, bool]] = {}
        self._gen: dict[tuple[int, int], tuple[bool, bool]] = {}
        self._trap: dict[tuple[int, int], tuple[bool, bool]] = {}
        self._iflag: dict[int, bool] = {}
        self._polc: dict[tuple[int, int, bool], tuple[bool, bool]] = {}
        self._sub: dict[int, tuple[int, ...]] = {}
        self.bits: dict[int, dict[int, int]] = {}
        self.spans: dict[int, dict[int, list[tuple[int, int]]]] = {}
        self._scan()
        # praise / summary context from headings (parents precede children)
        praise_h, summary_h = set(), set()
        for it in items:
            if it.kind == HEADING:
                a, b = self.w_bounds[it.index]
                praise, summary = _heading_kind(W[a:b])
                if praise:
                    praise_h.add(it.index)
                if summary:
                    summary_h.add(it.index)
        self.praise_ctx = [False] * n
        self.summary_ctx = [False] * n
        for it in items:
            i, p = it.index, it.parent
            self.praise_ctx[i] = i in praise_h or (p is not None and self.praise_ctx[p])
            self.summary_ctx[i] = i in summary_h or (p is not None and self.summary_ctx[p])

    # ---- evidence
    def _mark(self, i: int, n: int, bit: int, at: int | None = None, end: int | None = None) -> None:
        d = self.bits.get(i)
        if d is None:
            d = self.bits[i] = {}
        d[n] = d.get(n, 0) | bit
        if at is not None:
            self.spans.setdefault(i, {}).setdefault(n, []).append((at, end if end is not None else at, bit))

    def _witem(self, pos: int) -> int:
        return bisect_right(self.w_starts, pos) - 1

    def _fitem(self, pos: int) -> int:
        return bisect_right(self.f_starts, pos) - 1

    def lex_spans(self, name: str) -> list[tuple[int, int]]:
        """Sorted (start, end) spans in W of the phrases of lexicon ``name`` (praise, cue, flag, neg, defect,
        generic; the longest phrase at a position). The Latin phrases of all six are read in one pass over the word
        index (their first word, then the continuations matched right after it); the CJK phrases by one
        prefix-trie pattern per lexicon, only for the lexicons asked for (defect and neg seldom are)."""
        if self._lex is None:
            out: dict[str, list[tuple[int, int]]] = {lex_name: [] for lex_name, _ in _LEXES}
            lists = list(out.values())
            W, cum, pos_of = self.W, self.cum, self.pos_of
            for t in _LEX_TOKENS & pos_of.keys():
                entries = _LEX_TABLE[t]
                tlen = len(t)
                for k in pos_of[t]:
                    start = cum[k] + k + 1
                    first_end = start + tlen
                    for alone, rest, lexes in entries:
                        m = rest.match(W, first_end) if rest is not None else None
                        if m is not None:
                            span = (start, m.end())
                        elif alone:
                            span = (start, first_end)
                        else:
                            continue
                        for li in lexes:
                            lists[li].append(span)
            self._lex = out
        spans = self._lex[name]
        if name not in self._lex_cjk:
            self._lex_cjk.add(name)
            cjk_re = _LEX_BY_NAME[name].cjk_re
            if cjk_re is not None and not self.ascii:
                spans.extend(m.span() for m in cjk_re.finditer(self.W))
            spans.sort()
        return spans

    def _neg_positions(self) -> list[int]:
        if self._neg is None:
            self._neg = [a for a, _ in self.lex_spans("neg")]
        return self._neg

    def _phrase_hit(self, ph: _Phrase, i: int, k: int, start: int, end: int) -> None:
        """Mark phrase ``ph`` read at token ``k`` (characters [start, end) of W, in item ``i``), unless it is an
        anchor read inside one of the target's keywords, or a negated keyword with no negation near it."""
        if ph.inside and any(_covers(self.T, k - j, kt) for j, kt in ph.inside if k >= j):
            return
        if ph.neg:
            neg = self._neg_positions()
            j = bisect_left(neg, start - 61)
            if not (j < len(neg) and neg[j] < end + 40):
                return
        self._mark(i, ph.n, ph.bit, start, end)

    def _scan(self) -> None:
        comp, W, T = self.comp, self.W, self.T
        # Latin phrases: candidates by first word (from the word index), then the rest right after it
        cum = self.cum
        nT = len(T)
        for t in comp.first_keys & self.pos_of.keys():
            singles, by_next, windowed, maxwin = comp.phrases[t]
            tlen = len(t)
            for k in self.pos_of[t]:
                start = cum[k] + k + 1
                first_end = start + tlen
                cands = by_next.get(T[k + 1]) if by_next and k + 1 < nT else None
                if windowed:
                    after = T[k + 1:k + 1 + maxwin]
                    more = [(rest, group) for rest, nxt, win, group in windowed if nxt in after[:win]]
                    if more:
                        cands = more + cands if cands else more
                i = -1
                if singles:
                    i = self._witem(start)
                    for ph in singles:
                        self._phrase_hit(ph, i, k, start, first_end)
                if cands:
                    for rest, group in cands:
                        mm = rest.match(W, first_end)
                        if mm is None:
                            continue
                        if i < 0:
                            i = self._witem(start)
                        for ph in group:
                            self._phrase_hit(ph, i, k, start, mm.end())
        # Japanese phrases: a quick test of their first characters, then the pattern
        if comp.cjk and not self.ascii:
            # the review's non-ASCII characters alone (the ASCII bytes deleted from its UTF-8, in C). A pattern
            # made of Japanese parts only that matches W also matches this text (deleting the spaces in its gaps
            # only shortens them), so a search of this much shorter text rules most of them out
            na = W.encode("utf-8").translate(None, _ASCII_BYTES).decode("utf-8")
            chars = set(na)
            for req, pure, rx, owners, neg in comp.cjk:
                if not req <= chars or (pure and rx.search(na) is None):
                    continue
                for m in rx.finditer(W):
                    if neg:
                        npos = self._neg_positions()
                        j = bisect_left(npos, m.end() - 1)
                        if not (j < len(npos) and npos[j] < m.end() + 12):
                            continue
                    i = self._witem(m.start())
                    for n, bit in owners:
                        self._mark(i, n, bit, m.start(), m.end())
        self._scan_rest()

    def _scan_rest(self) -> None:
        comp, W, F = self.comp, self.W, self.F
        # literal anchors (punctuation kept): in folded text
        for longest, first, rx, owners, bound in comp.lits:
            if longest not in F:
                continue
            # a match starts with the first piece: tried only where it occurs, when it is long enough to be rare
            for m in (_matches_at(rx, F, _find_all(F, first)) if len(first) >= 3 else rx.finditer(F)):
                if bound and m.start() and F[m.start() - 1] in _WORDCH:
                    continue
                i = self._fitem(m.start())
                for n, bit in owners:
                    self._mark(i, n, bit)
        # table.column written apart ("orders テーブルの total", "the total of orders")
        for tb, col, rx, n, bit in comp.prox:
            if tb in W and col in W:
                for m in rx.finditer(W):
                    self._mark(self._witem(m.start()), n, bit, m.start() + 1, m.end())
        # quoted code: inline spans and the lines of code blocks
        for i, it in enumerate(self.items):
            t = it.text
            if "`" in t:
                for sp in _CODE_SPAN_RE.findall(t):
                    for n, bit in comp.code_hits(sp):
                        self._mark(i, n, bit)
            if it.code:
                for ln in it.code.split("\n"):
                    if len(ln.strip()) >= 8:
                        for n, bit in comp.code_hits(ln):
                            self._mark(i, n, bit)
        self._scan_lines()

    def _file_starts(self) -> list[int]:
        """Positions in F where a file name starts (every match of the file patterns starts there)."""
        if self._fstarts is None:
            F = self.F
            self._fstarts = sorted({k for name in self.comp.file_of for k in _find_all(F, name)})
        return self._fstarts

    def _file_mentions(self) -> list[tuple[int, str]]:
        comp, F = self.comp, self.F
        out = []
        if comp.file_re is None:
            return out
        for m in _matches_at(comp.file_re, F, self._file_starts()):
            a, b = m.start(), m.end()
            if (a and F[a - 1] in _WORDCH) or (b < len(F) and F[b] in _WORDCH):
                continue
            out.append((a, comp.file_of[m.group(0)]))
        return out

    def _scan_lines(self) -> None:
        comp, F = self.comp, self.F
        has_digit = any(ch in F for ch in "0123456789")
        if not has_digit:
            return
        mentions = self._file_mentions()
        mpos = [p for p, _ in mentions]
        refs: list[tuple[int, str, int, int]] = []   # (item, file, a, b)

        def file_at(pos: int, i: int) -> str | None:
            a, b = self.f_bounds[i]
            k = bisect_right(mpos, pos) - 1
            if k >= 0 and mpos[k] >= a:
                return mentions[k][1]
            if k + 1 < len(mpos) and mpos[k + 1] < b:
                return mentions[k + 1][1]
            p = self.items[i].parent
            while p is not None:
                pa, pb = self.f_bounds[p]
                kk = bisect_right(mpos, pb) - 1
                if kk >= 0 and mpos[kk] >= pa:
                    return mentions[kk][1]
                p = self.items[p].parent
            if k >= 0:
                return mentions[k][1]
            return comp.single_file

        if comp.file_line_re is not None and mentions:
            for m in _matches_at(comp.file_line_re, F, self._file_starts()):
                a = m.start()
                if a and F[a - 1] in _WORDCH:
                    continue
                fp = comp.file_of.get(m.group("file"))
                if fp:
                    _add_ranges(refs, self._fitem(a), fp, m)
        for rx, key, check in ((_L_REF_RE, "l", True), (_JA_LINE_RE, "行", False)):
            if key not in F:
                continue
            for m in (rx.finditer(F) if check else _ja_line_refs(F)):
                a = m.start()
                if check and a and F[a - 1] in "abcdefghijklmnopqrstuvwxyz0123456789_./":
                    continue
                i = self._fitem(a)
                fp = file_at(a, i)
                if fp:
                    _add_ranges(refs, i, fp, m)
        for i, fp, a, b in refs:
            if b - a > 120:
                continue
            for t in comp.targets:
                if fp == t.file and a <= t.hi + 2 and b >= t.lo - 2:
                    self._mark(i, t.n, P_LINE)
            if b - a <= ANCHOR_REF_SPAN:
                for ln, n in comp.anchor_lines.get(fp, ()):
                    if a - 1 <= ln <= b + 1:
                        self._mark(i, n, P_LINE)
        if comp.sections and ("§" in F or "section" in F or "sec." in F or "章" in F or "セクション" in F
                              or "第" in F):
            # without 章 every match starts with one of the markers: tried only there
            for m in (_SECTION_RE.finditer(F) if "章" in F else _matches_at(_SECTION_NO_CH_RE, F, sorted(
                    {k for mark in ("§", "sec", "セクション", "第") for k in _find_all(F, mark)}))):
                if m.group("a") and F[m.start()] in "s" and m.start() and F[m.start() - 1] in _WORDCH:
                    continue
                if m.group("b") and m.start() and F[m.start() - 1] in "0123456789.":
                    continue
                self._mark_section(self._fitem(m.start()), m.group("a") or m.group("b"))
        if comp.dotted_sections and "." in F:
            # a bare "5.3" names the document's section 5.3 when the case has one (not a version, a decimal with
            # a unit, nor part of a longer number): "5.3「キャンセルが先に届くことはない」は成り立ちません"
            for m in _BARE_SECTION_RE.finditer(F):
                num = m.group(1)
                if num not in comp.dotted_sections:
                    continue
                w = re.search(r"([a-z][a-z0-9]*)\s?$", F[max(0, m.start() - 24):m.start()])
                if w and w.group(1) not in _MARK_TOKENS:
                    continue  # ... nor the version of a named thing ("spring 5.1", "python3.11")
                self._mark_section(self._fitem(m.start()), num)

    def _mark_section(self, i: int, num: str) -> None:
        """Item ``i`` names section ``num`` of the case's documents: it places every target inside that section."""
        for fp, a, b in self.comp.sections.get(num, ()):
            for t in self.comp.targets:
                if fp == t.file and a <= t.hi and b >= t.lo:
                    self._mark(i, t.n, P_SECTION)

    # ---- structure
    def subtree(self, i: int) -> tuple[int, ...]:
        """Item ``i`` and the items under it, in document order, without headings (and what is under them)."""
        hit = self._sub.get(i)
        if hit is None:
            items = self.items
            out = [i]
            stack = list(reversed(items[i].children))
            while stack:
                j = stack.pop()
                if items[j].kind == HEADING:
                    continue
                out.append(j)
                stack.extend(reversed(items[j].children))
            hit = self._sub[i] = tuple(out)
        return hit

    def section_body(self, h: int) -> tuple[int, ...]:
        """The items under heading ``h`` that are not under a sub-heading."""
        out: list[int] = []
        for c in self.items[h].children:
            if self.items[c].kind != HEADING:
                out.extend(self.subtree(c))
        return tuple(out)

    # ---- per-(item, target) parts of the unit checks (see _finding_polarity_ok and the two after it)
    def sids(self, m: int, n: int) -> set[int]:
        """Ids of the sentences of item ``m`` where target ``n``'s evidence was read (spans with a position)."""
        sb = self.sbounds
        return {bisect_right(sb, at) - 1 for at, _, _ in self.spans.get(m, {}).get(n, ())}

    def finding_polarity(self, m: int, n: int) -> tuple[bool, bool]:
        """(a sentence of item ``m`` carrying target ``n``'s evidence reports a defect, one of them praises)."""
        key = (m, n)
        hit = self._fpol.get(key)
        if hit is None:
            ok = praised = False
            for sid in self.sids(m, n):
                a, b = self.sent_range(sid)
                p, d = self.polarity(a, b)
                # a sentence that praises and only asks for something ("uses X, which is correct") is praise
                if d and (not p or self.judged(a, b)):
                    ok = True
                    break
                praised |= p
            hit = self._fpol[key] = (ok, praised)
        return hit

    def generic_sents(self, m: int, n: int) -> tuple[bool, bool]:
        """(item ``m`` has sentences carrying ``n``'s evidence, every one of them reads as generic advice)."""
        key = (m, n)
        hit = self._gen.get(key)
        if hit is None:
            sids = self.sids(m, n)
            hit = self._gen[key] = (bool(sids), all(self.generic(*self.sent_range(sid)) for sid in sids))
        return hit

    def words_before(self, at: int) -> str:
        """Up to 40 characters of W before position ``at``, within its sentence: where a denial ("no", "not
        vulnerable to") or a remedy cue ("use") of the term at ``at`` stands."""
        a, _ = self.sent_range(bisect_right(self.sbounds, at) - 1)
        return self.W[max(a, at - 40):at].rsplit(_SENT_W, 1)[-1]

    def trap_mentions(self, m: int, n: int) -> tuple[bool, bool]:
        """(item ``m`` mentions trap ``n`` in a sentence, one such mention is flagged as a defect). A mention
        does not count in a sentence that denies the trap's defect ("so there is no SQL injection here"); it
        flags when its sentence reports a defect or asks for a change without praise, unless the trap's code is
        named as the remedy ("use X", "X に変えて", "as X already does")."""
        key = (m, n)
        hit = self._trap.get(key)
        if hit is not None:
            return hit
        W = self.W
        mentions = []
        denied: set[int] = set()
        for at, end, bit in self.spans.get(m, {}).get(n, ()):
            sid = bisect_right(self.sbounds, at) - 1
            a, b = self.sent_range(sid)
            before = self.words_before(at)
            if bit & C_KW and _DENIED_RE.search(before):
                denied.add(sid)
            mentions.append((end, sid, a, b, before))
        ok = False
        for end, sid, a, b, before in mentions:
            if sid in denied:
                continue
            after = W[end:min(b, end + 24)]
            if _REMEDY_BEFORE_RE.search(before) or _REMEDY_AFTER_RE.match(after):
                continue
            p, d = self.polarity(a, b, flag=True)
            if d and not p:
                ok = True
                break
        hit = self._trap[key] = (bool(mentions), ok)
        return hit

    def item_flags(self, i: int) -> bool:
        """True when a sentence of item ``i`` finds fault (a defect or change cue, not "use X") without praise."""
        hit = self._iflag.get(i)
        if hit is None:
            hit = False
            for sid in self.item_sids(i):
                p, d = self.polarity(*self.sent_range(sid), flag=True)
                if d and not p:
                    hit = True
                    break
            self._iflag[i] = hit
        return hit

    # ---- reading
    def sent_range(self, sid: int) -> tuple[int, int]:
        """(start, end) in W of the sentence with id ``sid``."""
        sb = self.sbounds
        return sb[sid], (sb[sid + 1] if sid + 1 < len(sb) else len(self.W))

    def item_sids(self, i: int) -> range:
        a, b = self.w_bounds[i]
        return range(bisect_right(self.sbounds, a) - 1, bisect_right(self.sbounds, max(a, b - 1)))

    def _polarity_index(self) -> dict:
        """Praise spans and cue positions of the whole review, computed once (see :func:`_sentence_polarity`)."""
        if self._pol is not None:
            return self._pol
        W, sb, T, cum = self.W, self.sbounds, self.T, self.cum
        praise: list[tuple[int, int]] = []
        for s0, e0 in self.lex_spans("praise"):
            a = sb[bisect_right(sb, s0) - 1]
            if _NEG_BEFORE.search(W[max(a, s0 - 25):s0 - 1] if W[s0 - 1:s0] == " " else W[max(a, s0 - 24):s0]) \
                    or _NEG_AFTER.match(W[e0:e0 + 12]):
                continue
            praise.append((s0, e0))
        for t in _PRAISE_START & self.pos_of.keys():
            for k in self.pos_of[t]:
                if k == 0 or T[k - 1] in _MARK_TOKENS:
                    praise.append((cum[k] + k + 1, cum[k] + k + 1 + len(t)))
        praise.sort()
        self._pol = {"praise": praise, "pstart": [a for a, _ in praise],
                     "cue": [a for a, _ in self.lex_spans("cue")]}
        return self._pol

    def _positions(self, key: str) -> list[int]:
        idx = self._polarity_index()
        if key not in idx:
            idx[key] = [a for a, _ in self.lex_spans(key)]
        return idx[key]

    def judged(self, a: int, b: int) -> bool:
        """True when a defect judgement or negation (not a mere change request) starts in [a, b) outside praise."""
        d = self._positions("defect")
        idx = self._polarity_index()
        ps, praise = idx["pstart"], idx["praise"]
        j = bisect_right(d, a - 1)
        while j < len(d) and d[j] < b:
            c = d[j]
            k = bisect_right(ps, c) - 1
            if not (k >= 0 and praise[k][0] <= c < praise[k][1]):
                return True
            j += 1
        return False

    def polarity(self, a: int, b: int, flag: bool = False) -> tuple[bool, bool]:
        """(praise, defect) of the W range [a, b): praise when a non-negated approving phrase starts in it;
        defect when a defect/change cue (``flag``: one that finds fault, not "use X") starts in it outside the
        approving phrases."""
        key = (a, b, flag)
        hit = self._polc.get(key)
        if hit is None:
            hit = self._polc[key] = self._polarity(a, b, flag)
        return hit

    def _polarity(self, a: int, b: int, flag: bool) -> tuple[bool, bool]:
        idx = self._polarity_index()
        ps, praise = idx["pstart"], idx["praise"]
        k = bisect_right(ps, a - 1)
        is_praise = k < len(ps) and ps[k] < b
        cues = self._positions("flag") if flag else idx["cue"]
        j = bisect_right(cues, a - 1)
        while j < len(cues) and cues[j] < b:
            c = cues[j]
            inside = False
            kk = bisect_right(ps, c) - 1
            while kk >= 0 and ps[kk] >= a - 40:
                if praise[kk][0] <= c < praise[kk][1]:
                    inside = True
                    break
                kk -= 1
            if not inside:
                return is_praise, True
            j += 1
        return is_praise, False

    def generic(self, a: int, b: int) -> bool:
        """True when a generic-advice cue starts in the W range [a, b)."""
        g = self._positions("generic")
        j = bisect_right(g, a - 1)
        return j < len(g) and g[j] < b


_HEAD_KINDS: dict[str, tuple[bool, bool]] = {}


def _heading_kind(w: str) -> tuple[bool, bool]:
    """(praise heading, summary heading) for the word form of a heading. Memoised: headings ("## Summary",
    "### Critical") recur across reviews."""
    hit = _HEAD_KINDS.get(w)
    if hit is not None:
        return hit
    wh = " " + w.replace(_SENT_W, " ").strip() + " "
    toks = [t for t in wh.split() if not t.isdigit()]
    praise = len(toks) <= _PRAISE_HEAD_EXACT_WORDS and " ".join(toks) in _PRAISE_HEAD_EXACT
    if not praise:
        for m in _PRAISE_HEAD_RE.finditer(wh):
            if not (_NEG_BEFORE.search(wh[max(0, m.start() - 24):m.start()])
                    or _NEG_AFTER.match(wh[m.end():m.end() + 12])):
                praise = True
                break
    hit = (praise, _SUMMARY_HEAD_RE.search(wh))
    if len(_HEAD_KINDS) > 20_000:
        _HEAD_KINDS.clear()
    _HEAD_KINDS[w] = hit
    return hit


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


def _bounds(s: str, n: int) -> list[tuple[int, int]] | None:
    """(start, end) of the ``n`` items of a text joined with the item separator, or None when the count differs."""
    out = []
    pos = 0
    while True:
        k = s.find(_ITEM_W, pos)
        if k < 0:
            out.append((pos, len(s)))
            break
        out.append((pos, k))
        pos = k + len(_ITEM_W)
    return out if len(out) == n else (None if n else [])


def _find_all(text: str, needle: str) -> list[int]:
    """The start of every occurrence of ``needle`` in ``text``, overlapping ones included."""
    out = []
    k = text.find(needle)
    while k >= 0:
        out.append(k)
        k = text.find(needle, k + 1)
    return out


def _matches_at(rx: re.Pattern, text: str, starts: list[int]):
    """What ``rx.finditer(text)`` yields, for a pattern (matching no empty string, with no lookbehind) whose
    every match starts at one of the sorted positions ``starts``: the pattern is tried only there, left to right,
    skipping positions inside the last match, instead of at every character of the text."""
    end = 0
    for p in starts:
        if p >= end:
            m = rx.match(text, p)
            if m is not None:
                yield m
                end = m.end()


def _ja_line_refs(F: str):
    """The line references of ``_JA_LINE_RE`` in ``F`` that are a range or say 行目. Every match ends at a "行"
    (or "行目") and, before it, holds only digits, spaces, "-" and "~": it is searched for only in that run of
    characters before each "行"."""
    end = 0
    q = F.find("行")
    while q >= 0:
        r = q
        while r > end and (F[r - 1].isdecimal() or F[r - 1].isspace() or F[r - 1] in "-~"):
            r -= 1
        m = _JA_LINE_RE.search(F, max(r, end), q + 2)
        if m is not None and m.end() >= q + 1 and (m.group("me") or m.group("b")):
            yield m
            end = m.end()
        q = F.find("行", q + 1)


def _add_ranges(refs: list, i: int, fp: str, m: re.Match) -> None:
    g = m.groupdict()
    if g["a"] is None:  # the "L5" alternative of _L_REF_RE
        g = {"a": g["a2"], "b": g["b2"], "more": g["more2"]}
    a = int(g["a"])
    b = int(g["b"]) if g["b"] else a
    if b < a:
        a, b = b, a
    refs.append((i, fp, a, b))
    more = g.get("more")
    if more:
        for mm in _MORE_RE.finditer(more):
            x = int(mm.group(1))
            y = int(mm.group(2)) if mm.group(2) else x
            refs.append((i, fp, min(x, y), max(x, y)))


# ------------------------------------------------------------------------------------------------ decisions


@dataclass
class _Unit:
    root: int
    members: tuple[int, ...]
    kind: str


def grade_review(case: Case, review: str) -> SampleGrade:
    """Grade one review against one case with the deterministic rubric (see the module docstring).

    Args:
        case: a loaded case.
        review: the review text (any string; bytes are decoded as UTF-8, anything else converted with ``str``).
    Returns:
        a SampleGrade with one verdict per finding and per trap, ``extra_issues`` and any warnings.
    Raises:
        nothing for any review text; a case the grader cannot compile surfaces as ``SampleGrade.error``.
    """
    return DeterministicGrader().grade(case, review)


_MEMO: OrderedDict[tuple[str, bytes], dict] = OrderedDict()   # (fingerprint, digest) -> _grade's plain data
_MEMO_LOCK = threading.Lock()
_MEMO_MAX = 4096


class DeterministicGrader:
    """Rule-based grader (``name = "deterministic"``): see the module docstring for the rules.

    Args:
        semantic: run the semantic stage (graders/semantic.py) for findings the lexical stage misses. When the
            embedding model is not installed the stage is off and every grade carries a warning saying so.
        params: thresholds of the semantic stage (default :data:`~harness.graders.semantic.DEFAULT_PARAMS`).
        warn_off: with ``semantic=False``, still warn on every grade that it is degraded (the user turned the
            stage off in the configuration; tests of the lexical stage do not want the warning).

    Grades are memoised by (case fingerprint, review digest, stage settings); every call returns a new
    SampleGrade.
    """

    name = "deterministic"

    def __init__(self, semantic: bool = True, params=None, *, warn_off: bool = False):
        self.semantic = semantic
        self.params = params
        self._embedder = None
        self._unavailable: str | None = None
        if semantic:
            from .semantic import UNAVAILABLE_WARNING, get_embedder
            emb = get_embedder()
            if emb.available:
                self._embedder = emb
            else:
                self._unavailable = UNAVAILABLE_WARNING + f" ({emb.reason})"
        if not semantic and warn_off:
            from .semantic import OFF_WARNING
            self._unavailable = OFF_WARNING
        self._mode = (b"sem" + repr(params).encode()) if self._embedder is not None else b"lex"

    @property
    def degraded(self) -> str | None:
        """Why the semantic stage is off although it was asked for (None when it runs or was not asked for)."""
        return self._unavailable

    def grade(self, case: Case, review: str) -> SampleGrade:
        """Grade ``review`` against ``case``; never raises on any review text."""
        if not isinstance(review, str):
            try:
                review = review.decode("utf-8", "replace") if isinstance(review, (bytes, bytearray)) else str(review)
            except Exception:
                review = ""
        try:
            data = review.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: replace them
            data = review.encode("utf-8", "replace")
            review = data.decode("utf-8")
        try:
            key = (case.fingerprint, hashlib.blake2b(data, digest_size=16).digest(), self._mode)
        except Exception:
            key = None
        if key is not None:
            with _MEMO_LOCK:
                hit = _MEMO.get(key)
                if hit is not None:
                    _MEMO.move_to_end(key)
            if hit is not None:
                return self._finish(SampleGrade.model_validate(hit))
        try:
            comp = _compiled(case)
        except Exception as e:  # a case the compiler cannot handle: report, do not raise
            return SampleGrade(grader=self.name, error=f"cannot compile case {case.id}: {type(e).__name__}: {e}")
        try:
            data = _grade(comp, review, self.name, self._embedder, self.params)
            sg = SampleGrade.model_validate(data)
        except Exception as e:  # pragma: no cover - last resort; the rules above are meant not to raise
            return SampleGrade(grader=self.name, error=f"grading failed: {type(e).__name__}: {e}")
        if key is not None:
            with _MEMO_LOCK:
                _MEMO[key] = data
                while len(_MEMO) > _MEMO_MAX:
                    _MEMO.popitem(last=False)
        return self._finish(sg)

    def _finish(self, sg: SampleGrade) -> SampleGrade:
        if self._unavailable and self._unavailable not in sg.warnings:
            sg.warnings.append(self._unavailable)
        return sg


def _units(r: _Review) -> list[_Unit]:
    """Candidate units around the items that hold evidence. A unit of several items is built only when two or
    more of its items hold evidence (otherwise it reads the same as a unit of one)."""
    items = r.items
    bits = r.bits
    subtree = r.subtree
    ev_items = sorted(bits)
    units: list[_Unit] = []
    seen: set = set()

    def add(root: int, members: tuple[int, ...], kind: str) -> None:
        if len(members) > 1:
            n = 0
            for m in members:
                if m in bits:
                    n += 1
                    if n == 2:
                        break
            else:
                return
        key = (kind, root, members)
        if key not in seen:
            seen.add(key)
            units.append(_Unit(root, members, kind))

    headings: set[int] = set()
    for i in ev_items:
        it = items[i]
        if it.kind == HEADING:
            headings.add(i)
            add(i, (i,), "heading")
            continue
        add(i, (i,), "item")
        # the item with one of its sub-points, for every point above it
        child, p = i, it.parent
        while p is not None and items[p].kind != HEADING:
            if p in bits:
                add(p, (p,) + subtree(child), "pair")
            child, p = p, items[p].parent
        if p is not None:
            headings.add(p)
        for c in it.children:
            if items[c].kind != HEADING:
                add(i, (i,) + subtree(c), "pair")
        # the item read with the points and the heading above it
        chain = []
        p = it.parent
        while p is not None:
            chain.append(p)
            if items[p].kind == HEADING:
                break
            p = items[p].parent
        if chain:
            add(i, (i, *chain), "context")
    for h in sorted(headings):
        add(h, (h,) + r.section_body(h), "section")
    return units


def _grade(comp: _Compiled, review: str, name: str, embedder=None, params=None) -> dict:
    r = _Review(comp, review)
    items = r.items
    kinds = comp.kinds
    bits = r.bits
    warnings: list[str] = []
    empty: dict[int, int] = {}

    # the scope of an item: the section of its nearest heading (heading + direct body), or else the subtree of
    # its top-level point; scope_head is that heading (or top-level point)
    def scope_head(i: int) -> int:
        p = i
        while items[p].kind != HEADING and items[p].parent is not None:
            p = items[p].parent
        return p

    scope_bits: dict[int, dict[int, int]] = {}
    scope_text: dict[int, list[int]] = {}  # evidence items of its running text (points under a heading apart)
    for i, d in bits.items():
        h = scope_head(i)
        sb = scope_bits.setdefault(h, {})
        for n, b in d.items():
            sb[n] = sb.get(n, 0) | b
        if not (items[i].kind == LIST and items[h].kind == HEADING):
            scope_text.setdefault(h, []).append(i)

    found: dict[int, tuple[int, _Unit, int]] = {}
    matched_items: set[int] = set()
    shotgun_units = 0
    for u in _units(r):
        per_t: dict[int, int] = {}
        for m in u.members:
            for n, b in bits.get(m, empty).items():
                per_t[n] = per_t.get(n, 0) | b
        if u.kind == "section":
            # a heading's body counts as one item only when the heading itself names this target's concept
            # or place, or the section is a short run of paragraphs
            hb = bits.get(u.root, empty)
            small = len(u.members) <= 4 and sum(items[m].kind == LIST for m in u.members) <= 1
            per_t = {n: b for n, b in per_t.items() if (hb.get(n, 0) or small)}
        hits = [n for n, b in per_t.items() if _candidate(kinds[n], b)]
        if not hits:
            continue
        fhits = [n for n in hits if kinds[n] == "finding"]
        if len(fhits) >= 3 and not any(per_t[n] & SPECIFIC for n in fhits):
            if u.kind in ("item", "heading"):
                shotgun_units += 1
            continue
        strength = {n: _place_strength(per_t[n]) for n in hits}
        subj = u.members[-1] if u.kind == "context" else u.root
        root_b = bits.get(subj, empty)
        root_s = {n: _place_strength(root_b.get(n, 0)) for n in hits}
        h = scope_head(u.root)
        for n in hits:
            if kinds[n] == "trap":
                # the unit is about another target: named at a more precise place, or named by the unit's
                # root (a heading or parent point) while the trap is only mentioned in the body
                s_t = strength[n]
                if any(strength[x] > s_t and per_t[x] & C_KW for x in hits if x != n):
                    continue
                if u.kind != "item" and any(root_s[x] > root_s[n] for x in hits if x != n):
                    continue
                # ... or mentioned in a section whose heading points precisely at another target
                if h != u.root:
                    hb = bits.get(h, empty)
                    if _place_strength(hb.get(n, 0)) < 3 and any(
                            _place_strength(b) == 3 and b & CONCEPT for x, b in hb.items() if x != n):
                        continue
                if not _trap_flag_ok(r, u, n):
                    continue
            else:
                # right place, wrong diagnosis: only the remedy is named while the unit's diagnosis words belong
                # to another finding or trap named at the same place
                if not per_t[n] & C_KW and any(per_t[x] & C_KW for x in hits if x != n):
                    continue
                # ... or, in a section whose heading names this place, the section's diagnosis is another one
                sb = scope_bits.get(h, empty)
                if not sb.get(n, 0) & C_KW and bits.get(h, empty).get(n, 0) & PLACE and _diagnosed_elsewhere(
                        bits, scope_text.get(h, ()), sb, n, kinds):
                    continue
                if not _finding_polarity_ok(r, u, n):
                    continue
                # a place named only by a common anchor, in sentences of generic advice: a checklist line
                if strength[n] == 1 and not per_t[n] & P_SECTION and _generic_only(r, u, n):
                    continue
            score = _score(per_t[n])
            prev = found.get(n)
            if prev is None or score > prev[0]:
                found[n] = (score, u, per_t[n])
            if u.kind == "context":
                matched_items.add(u.root)
            elif u.kind == "heading":
                matched_items.add(u.root)
                matched_items.update(r.section_body(u.root))
            else:
                matched_items.update(u.members)
    sem: dict = {}
    if embedder is not None:
        sem = _semantic_stage(r, comp, found, matched_items, params, embedder)
        _semantic_trap_check(r, comp, found, embedder)

    if shotgun_units:
        warnings.append(f"{shotgun_units} item(s) name the concept and place of three or more findings at once "
                        "without a line number or quoted code (shotgun); not credited")

    # the grade as plain data: SampleGrade.model_validate builds the models from it (in pydantic-core, faster
    # than constructing each verdict), and the memo keeps it as it is (validation copies it)
    fverdicts = []
    tverdicts = []
    for t in comp.targets:
        hit = found.get(t.n)
        evd = None
        if hit:
            root = hit[1].root
            evd = {"item": root, "quote": _quote(items[root].text)}
        if t.kind == "finding":
            if hit is None and t.n in sem:
                i, why = sem[t.n]
                fverdicts.append({"id": t.id, "found": True, "evidence": {"item": i, "quote": _quote(items[i].text)},
                                  "reason": why})
                continue
            fverdicts.append({"id": t.id, "found": hit is not None, "evidence": evd,
                              "reason": _reason(hit, "found") if hit else "no item names both the defect and its "
                              "place"})
        else:
            tverdicts.append({"id": t.id, "flagged": hit is not None, "evidence": evd,
                              "reason": _reason(hit, "flagged") if hit else "not reported as a defect"})
    extra = _extra_issues(r, matched_items)
    return {"grader": name, "findings": fverdicts, "traps": tverdicts, "extra_issues": extra, "warnings": warnings}


def _diagnosed_elsewhere(bits: dict, scope_items, scope_b: dict[int, int], n: int, kinds: list[str]) -> bool:
    """True when an item of the scope's running text names this target (place or code) together with another
    finding's diagnostic keyword, that finding also being placed in the scope."""
    for m in scope_items:
        d = bits.get(m, {})
        if not d.get(n, 0):
            continue
        for x, b in d.items():
            if x != n and kinds[x] == "finding" and b & C_KW and scope_b.get(x, 0) & PLACE:
                return True
    return False


def _place_strength(b: int) -> int:
    return 3 if b & (P_LINE | P_CODE) else 2 if b & P_ANCHOR else 1 if b & (P_SECTION | P_WEAK) else 0


def _candidate(kind: str, b: int) -> bool:
    """Evidence enough for a finding (a diagnostic or remedy keyword and a place) or a trap (a precise place
    with its topic or an anchor, or a diagnostic keyword with an anchor)."""
    if kind == "finding":
        return bool(b & (C_KW | C_FIX)) and bool(b & PLACE)
    s = _place_strength(b)
    return (s == 3 and bool(b & (CONCEPT | P_ANCHOR))) or (bool(b & C_KW) and s >= 2)


def _score(b: int) -> int:
    s = 0
    for bit, w in ((C_KW, 4), (C_LIT, 1), (P_ANCHOR, 2), (P_LINE, 3), (P_CODE, 3), (P_SECTION, 1), (P_WEAK, 1)):
        if b & bit:
            s += w
    return s


# The three checks below are asked for many units that share items (an item, its pair with a sub-point, its
# context, its section). A sentence never spans two items (item starts are sentence boundaries), so each check
# decomposes exactly into a per-(item, target) part, computed once per review and combined per unit.


def _finding_polarity_ok(r: _Review, u: _Unit, n: int) -> bool:
    """False when the unit sits under a praise heading or every sentence carrying its evidence praises."""
    if r.praise_ctx[u.root]:
        return False
    pure_praise = False
    for m in u.members:
        ok, praised = r.finding_polarity(m, n)
        if ok:
            return True
        pure_praise |= praised
    return not pure_praise


def _generic_only(r: _Review, u: _Unit, n: int) -> bool:
    """True when every sentence carrying the target's evidence reads as generic advice."""
    seen = False
    for m in u.members:
        any_sent, all_generic = r.generic_sents(m, n)
        if not all_generic:
            return False
        seen |= any_sent
    return seen


def _trap_flag_ok(r: _Review, u: _Unit, n: int) -> bool:
    """True when a sentence about the trap reports a defect or asks for a change, without praising it, without
    naming the trap's code only as the remedy ("use X", "X に変えて", "as X already does") and without denying the
    defect ("so there is no SQL injection here")."""
    if r.praise_ctx[u.root]:
        return False
    mentioned = False
    for m in u.members:
        has, ok = r.trap_mentions(m, n)
        if ok:
            return True
        mentioned |= has
    if not mentioned:
        # no sentence names the trap itself (its evidence is a line reference or code): read the root item
        return r.item_flags(u.root)
    return _heading_reports_trap(r, u.root, n)


def _heading_reports_trap(r: _Review, h: int, n: int) -> bool:
    """A heading that names the trap's diagnosis at its place ("## 1. Unauthenticated endpoint: `/app/config`
    (lines 16-34)") reports it as a problem, the way a heading that names a finding's diagnosis at its place
    reports that finding, unless the heading or the short body under it praises it or denies the defect. The
    heading's own words need no fault cue: a problem list's headings are the problems."""
    if r.items[h].kind != HEADING or r.praise_ctx[h]:
        return False
    b = r.bits.get(h, {}).get(n, 0)
    if not (b & C_KW and b & PLACE):
        return False
    if any(bit & C_KW and _DENIED_RE.search(r.words_before(at)) for at, _end, bit in r.spans.get(h, {}).get(n, ())):
        return False
    body = r.section_body(h)
    if len(body) > SHORT_SECTION:
        return False
    for m in (h, *body):
        a, e = r.w_bounds[m]
        if r.polarity(a, e)[0]:
            return False
    return True


_EVIDENCE_NAMES = ((C_KW, "diagnostic keyword"), (C_FIX, "remedy keyword"), (C_LIT, "keyword naming the code"),
                   (P_LINE, "line reference"), (P_CODE, "quoted code"), (P_ANCHOR, "anchor"),
                   (P_SECTION, "section reference"), (P_WEAK, "common anchor"))
_UNIT_NAMES = {"item": "item", "pair": "point with its sub-point", "context": "item under its heading/point",
               "heading": "heading", "section": "heading with its body"}


def _reason(hit, verb: str) -> str:
    """Human-readable account of the unit and the kinds of evidence a verdict rests on."""
    _, u, b = hit
    kinds = ", ".join(name for bit, name in _EVIDENCE_NAMES if b & bit)
    return f"{verb} in {_UNIT_NAMES.get(u.kind, u.kind)} {u.root}: {kinds}"


def _quote(text: str) -> str:
    """The item's text, whitespace collapsed, cut to QUOTE_CHARS with an ellipsis."""
    if len(text) > 2 * QUOTE_CHARS:
        # a long item: collapse only its head. The head's last word may be cut, but when the words before it
        # already fill the quote, the whole text collapses to the same first characters and is longer
        words = text[:2 * QUOTE_CHARS].split()
        head = " ".join(words[:-1])
        if len(head) >= QUOTE_CHARS:
            return head[:QUOTE_CHARS - 1].rstrip() + "…"
    t = " ".join(text.split())
    return t if len(t) <= QUOTE_CHARS else t[:QUOTE_CHARS - 1].rstrip() + "…"


def _refers_to_code(r: _Review, i: int) -> bool:
    """True when item ``i`` points into the artifacts: a file name, a line reference, or quoted code that occurs
    in them."""
    it = r.items[i]
    a, b = r.f_bounds[i]
    F = r.F
    comp = r.comp
    if comp.file_re is not None and comp.file_re.search(F, a, b):
        return True
    if _L_NUM_RE.search(F, a, b) or _LINE_WORD_RE.search(F, a, b) or _JA_LINE_RE.search(F, a, b):
        return True
    if comp.sections and _SECTION_RE.search(F, a, b):
        return True
    if "`" in it.text:
        for sp in _CODE_SPAN_RE.findall(it.text):
            flat = comp.code_entry(sp)[0]
            if len(flat) >= 3 and flat in comp.all_fold_flat:
                return True
    return False


def _extra_issues(r: _Review, matched: set[int]) -> int:
    """Problems the review raises that match no finding or trap: points, paragraphs and table rows (not headings)
    that read as a reported problem (a defect or change cue, and not only praise), are not under a praise or
    summary heading, are not sub-points of a matched item, and — when they read as generic advice ("make sure",
    "avoid", "適切に") — point into the code (a file, a line reference, or code that occurs in the artifacts)."""
    count = 0
    items = r.items
    seen_heads: set[int] = set()
    for it in items:
        i = it.index
        if it.kind == HEADING or i in matched or (it.kind == TABLE and it.header_row):
            continue
        if r.praise_ctx[i] or r.summary_ctx[i]:
            continue
        a, b = r.w_bounds[i]
        if b - a < 12:
            continue
        p, d = r.polarity(a, b)
        if not d:
            continue
        if r.generic(a, b) and not _refers_to_code(r, i):
            continue
        # a line that points at nothing in the artifacts, nor does the point or heading it sits under, is a
        # checklist line, not a reported problem (CASE_FORMAT.md: a generic line does not count)
        if not _context_refers_to_code(r, i):
            continue
        # an item introducing matched points ("These are the problems to fix:") is part of them
        if any(c in matched for c in it.children):
            continue
        # sub-points of a matched item belong to it
        par = it.parent
        inside = False
        while par is not None:
            if par in matched and items[par].kind != HEADING:
                inside = True
                break
            par = items[par].parent
        if not inside:
            # the points of a short section under its own heading (location / problem / impact / fix) are one
            # reported problem, not four
            h = _short_section_head(r, i)
            if h is not None:
                if h in matched or h in seen_heads:
                    continue
                seen_heads.add(h)
            count += 1
    return count


SHORT_SECTION = 8   # items: a heading or point with at most this many under it is read as one problem
MAX_EMBEDDED_ITEMS = 24
MAX_UNPLACED_ITEMS = 16   # items naming no place embedded per review (the same cost bound)
_CHECKBOXES = ("[ ]", "[x]", "[X]", "☐", "□")
_FIELD_RE = re.compile(r"^\s*(?:\*\*|__)?[^\s:：*_][^:：\n]{0,24}?(?:\*\*|__)?\s*[:：]")


def _context_refers_to_code(r: _Review, i: int) -> bool:
    """True when item ``i`` or a point or heading above it points into the artifacts (:func:`_refers_to_code`)."""
    p: int | None = i
    while p is not None:
        if _refers_to_code(r, p):
            return True
        p = r.items[p].parent
    return False


def _short_section_head(r: _Review, i: int) -> int | None:
    """The heading (or point) above item ``i`` when item ``i`` is a field of one problem record: a short run of
    points under it, most of them labelled fields ("**Location:** …", "Impact: …", "**問題:** …"). None
    otherwise (a list of separate problems under one heading stays a list of problems)."""
    items = r.items
    p = items[i].parent
    if p is None:
        return None
    kids = [c for c in items[p].children if items[c].kind != HEADING]
    if not 2 <= len(kids) <= SHORT_SECTION or i not in kids:
        return None
    fields = sum(1 for c in kids if _FIELD_RE.match(items[c].text))
    return p if fields * 2 >= len(kids) else None


def _semantic_stage(r: _Review, comp: _Compiled, found: dict, matched: set[int], params, embedder) -> dict:
    """Findings the lexical stage missed that a unit identifies in other words (see graders/semantic.py).

    The place is read from the whole unit (an item with the points and heading above it and the points under
    it; a short section read whole), the meaning from each of its items: a unit credits finding n when it
    carries n's place and one of its items, not praising, is at least ``min_sim`` similar to n's description
    and within ``tol`` of its most similar target. An item that names no place of the case, is not generic
    advice nor a checklist box, credits n when n is its most similar target at ``min_sim_unplaced`` or more.
    At most MAX_EMBEDDED_ITEMS placed and MAX_UNPLACED_ITEMS unplaced items are embedded per review.

    Returns {target n: (item index, reason)}; adds the credited items to ``matched``.
    """
    from .semantic import DEFAULT_PARAMS, item_text
    params = params or DEFAULT_PARAMS
    items, bits, kinds = r.items, r.bits, comp.kinds
    missing = {t.n for t in comp.targets if t.kind == "finding" and t.n not in found}
    if not missing:
        return {}
    units: dict[tuple[int, ...], set[int]] = {}
    for i, d in bits.items():
        ns = {n for n, b in d.items() if n in missing and b & PLACE}
        if not ns:
            continue
        # a "shotgun" item (the places of three or more findings, no line or code) identifies none of them
        placed = [n for n, b in d.items() if kinds[n] == "finding" and b & PLACE]
        if len(placed) >= 3 and not any(d[n] & SPECIFIC for n in placed):
            continue
        members = [i]
        p = items[i].parent
        while p is not None:
            members.append(p)
            if items[p].kind == HEADING:
                break
            p = items[p].parent
        head = members[-1]
        # the meaning is read from the item, the heading and points above it, and the points of a short section
        # (one problem: heading, then location / problem / impact / fix) or under the item
        if items[head].kind == HEADING:
            body = r.section_body(head)
            if len(body) <= SHORT_SECTION:
                members.extend(body)
        members.extend((r.subtree(i)[1:] if items[i].kind != HEADING else r.section_body(i))[:SHORT_SECTION])
        key = tuple(sorted(set(members)))
        units.setdefault(key, set()).update(ns)
    # items that may carry the meaning: not praise, not under a praise heading
    def speaks(m: int) -> bool:
        if r.praise_ctx[m] or len(items[m].text.strip()) < 8:
            return False
        a, b = r.w_bounds[m]
        praise, _ = r.polarity(a, b)
        return not praise or r.judged(a, b)

    ok_items = [m for m in sorted({m for k in units for m in k}) if speaks(m)]
    if len(ok_items) > MAX_EMBEDDED_ITEMS:
        # bound the cost per review (the model spends ~1 ms per token): keep the items that carry evidence of a
        # missing finding themselves, then headings (a problem's title), then the rest in review order
        def priority(m: int) -> tuple:
            d = bits.get(m, {})
            return (-max((_place_strength(d.get(n, 0)) + bool(d.get(n, 0) & CONCEPT) for n in missing), default=0),
                    items[m].kind != HEADING, m)
        ok_items = sorted(sorted(ok_items, key=priority)[:MAX_EMBEDDED_ITEMS])
    # items that name no place of the case may identify a finding by what they say alone (a hurried "Session
    # tokens stored in plaintext; store a hash."), at a higher similarity: not generic advice, not a checklist
    # box, and not pointing at another target's place (then they are about that place)
    embedded = set(ok_items)
    unplaced = []
    for m in range(len(items)):
        if m in embedded or not speaks(m) or items[m].text.lstrip().startswith(_CHECKBOXES):
            continue
        a, b = r.w_bounds[m]
        if r.generic(a, b) or any(x & PLACE for x in bits.get(m, {}).values()):
            continue
        # ... and it must find fault ("stored in plaintext", "has no timeout"): advice alone ("Support
        # idempotency keys on POST requests.") reads the same for any codebase
        if not r.polarity(a, b, flag=True)[1] or _reads_as_advice(items[m].text):
            continue
        unplaced.append(m)
    if len(unplaced) > MAX_UNPLACED_ITEMS:
        # the points a problem is stated in come first: headings and top-level items, then in review order
        unplaced = sorted(sorted(unplaced, key=lambda m: (items[m].kind != HEADING and items[m].parent is not None,
                                                          m))[:MAX_UNPLACED_ITEMS])
    rows = ok_items + unplaced
    if not rows:
        return {}
    sims = embedder.embed([item_text(items[m].text) for m in rows]) @ comp.target_vectors(embedder).T
    row_of = {m: k for k, m in enumerate(rows)}
    top = sims.max(axis=1)
    # for each finding, the best item over every unit that names its place (ties: the earlier item), so the
    # verdict and its evidence do not depend on the order evidence was found in
    best: dict[int, tuple[float, int, bool]] = {}
    for key in sorted(units):
        for n in units[key]:
            for m in key:
                row = row_of.get(m)
                if row is None or m not in embedded:
                    continue
                s_n = float(sims[row, n])
                if s_n >= params.min_sim and s_n >= top[row] - params.tol:
                    cur = best.get(n)
                    if cur is None or (s_n, -m) > (cur[0], -cur[1]):
                        best[n] = (s_n, m, True)
    # a finding no placed unit credits may be credited by an unplaced item (the best one)
    by_description: dict[int, tuple[float, int, bool]] = {}
    for m in unplaced:
        row = row_of[m]
        n = int(np.argmax(sims[row]))
        s_n = float(sims[row, n])
        if n in missing and n not in best and s_n >= params.min_sim_unplaced:
            cur = by_description.get(n)
            if cur is None or (s_n, -m) > (cur[0], -cur[1]):
                by_description[n] = (s_n, m, False)
    best.update(by_description)
    out: dict[int, tuple[int, str]] = {}
    for n in sorted(best):
        best_s, best_m, placed = best[n]
        where = "in a unit that names its place" if placed else "and says where by itself (no place named)"
        out[n] = (best_m, f"found semantically: item {best_m} reads closest to this finding (cosine "
                          f"{best_s:.3f}, best target {top[row_of[best_m]]:.3f}) {where}")
        # the item, what is under it, and the problem record it is a field of: not the whole unit, whose other
        # points may report other problems
        matched.add(best_m)
        matched.update(r.section_body(best_m) if items[best_m].kind == HEADING else r.subtree(best_m))
        head = _short_section_head(r, best_m)
        if head is not None:
            matched.add(head)
            matched.update(c for c in items[head].children if items[c].kind != HEADING)
    return out


_BOLD_LEAD_RE = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+)?(?:\*\*|__)(.+?)(?:\*\*|__)\s*[:：.。]?\s*")
_SENT_END_RE = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
_ADVICE_START = frozenset(lexicon.ADVICE_EN_START)


def _reads_as_advice(text: str) -> bool:
    """True when the item's first statement is advice, not a finding: it opens with an imperative or a rule
    ("Don't expose internal error details", "Retry calls with backoff", "List endpoints should be paginated"),
    or, in Japanese, ends as a request or a rule ("…してください", "…すべき"). A short bold topic label ("**Error
    handling.**") is skipped first; a bold lead that says something ("**No volume for Postgres.**") is the
    statement."""
    t = text.strip()
    m = _BOLD_LEAD_RE.match(t)
    if m and len(m.group(1).split()) <= 3 and not has_cjk(m.group(1)):
        t = t[m.end():]
    t = re.sub(r"[*_`]", "", t).strip()
    first = _SENT_END_RE.split(t, maxsplit=1)[0].strip()
    if not first:
        return False
    if has_cjk(first):
        core = first.rstrip("。．.!！ ")
        return any(core.endswith(e) for e in lexicon.ADVICE_JA_END)
    low = first.lower()
    head = re.match(r"[a-z][a-z'-]*", low)
    if head and head.group(0) in _ADVICE_START:
        return True
    return any(re.search(r"\b" + re.escape(w) + r"\b", low) for w in lexicon.ADVICE_EN_MODAL)


def _semantic_trap_check(r: _Review, comp: _Compiled, found: dict, embedder) -> None:
    """Drop a trap flag whose flagging item reads closer to a finding than to the trap: the item is about that
    finding and only mentions the trap's code on the way (a fix that names it, a comparison). Edits ``found``."""
    from .semantic import item_text
    flagged = [(n, hit) for n, hit in found.items() if comp.kinds[n] == "trap"]
    if not flagged:
        return
    roots = sorted({hit[1].root for _, hit in flagged})
    sims = embedder.embed([item_text(r.items[i].text) for i in roots]) @ comp.target_vectors(embedder).T
    best = {i: int(np.argmax(sims[k])) for k, i in enumerate(roots)}
    for n, hit in flagged:
        b = best[hit[1].root]
        if b != n and comp.kinds[b] == "finding" and any(r.bits.get(m, {}).get(b, 0) & PLACE
                                                          for m in hit[1].members):
            del found[n]
