"""Reading one review: normalised once (word-form and folded text, a word index), searched for the evidence of
every target of a compiled case, item by item (keywords, anchors, line and section references, quoted code); its
structure (sub-points, sections, the short sections that state one problem) and the polarity of its sentences
(praise, defect or change cues, generic advice, negations), each answered once per review."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from itertools import accumulate, compress

from ..items import HEADING, split_items
from ..textnorm import nfkc, word_list, words
from .compile import _Compiled, _covers, _Phrase
from .evidence import ANCHOR_REF_SPAN, C_KW, P_LINE, P_SECTION
from .lexmatch import (_DENIED_RE, _ITEM, _ITEM_W, _LEX_BY_NAME, _LEX_TABLE, _LEX_TOKENS, _LEXES, _MARK_TOKENS,
                       _NEG_AFTER, _NEG_BEFORE, _PRAISE_HEAD_EXACT, _PRAISE_HEAD_EXACT_WORDS, _PRAISE_HEAD_RE,
                       _PRAISE_START, _REMEDY_AFTER_RE, _REMEDY_BEFORE_RE, _SENT, _SENT_W, _SEVERITY_HEAD_RE,
                       _SUMMARY_HEAD_RE, _light_fold)

MAX_REVIEW_CHARS = 300_000


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
# words that stand before a section number, never a product name before its version ("the consumer in 5.2")
_BEFORE_SECTION_WORDS = frozenset(("in", "on", "at", "of", "see", "per", "and", "or", "to", "from", "under", "by",
                                   "with", "the", "its", "as", "into", "is", "are", "cf", "also", "both", "then"))
_WORDCH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_BYTES = bytes(range(128))


SHORT_SECTION = 8   # items: a heading or point with at most this many under it is read as one problem
_FIELD_RE = re.compile(r"^\s*(?:\*\*|__)?[^\s:：*_][^:：\n]{0,24}?(?:\*\*|__)?\s*[:：]")


class _Review:
    """One review, normalised once; evidence per item (only items that hold some). ``heading_kinds`` is the
    grader's memo of heading classes (see :func:`_heading_kind`); None: one of this review's own.

    The review is read in two forms: ``word_text``, its word form (the ``tokens`` joined by single spaces, padded,
    with sentence and item marks), where keywords, anchors and lexicons are searched; and ``folded``, its lightly
    folded text (:func:`_light_fold`), where literal anchors, file names and line and section references are."""

    def __init__(self, comp: _Compiled, review: str, heading_kinds: dict[str, tuple[bool, bool]] | None = None):
        self.comp = comp
        heading_kinds = {} if heading_kinds is None else heading_kinds
        items = split_items(review[:MAX_REVIEW_CHARS])
        self.items = items
        texts = [it.text for it in items]
        raw = _ITEM.join(texts)
        nfkc_text = nfkc(raw)
        # sentence marks: blank lines, ". " "! " "? ", the ideographic full stop; a single line break inside an
        # item is a soft wrap
        sent_text = nfkc_text.replace("\n\n", _SENT).replace("\n", " ")
        for p in (". ", "! ", "? ", ".\t", "!\t", "?\t"):
            if p in sent_text:
                sent_text = sent_text.replace(p, p[0] + _SENT)
        if "\u3002" in sent_text:
            sent_text = sent_text.replace("\u3002", "\u3002" + _SENT)
        # the word list is the token list of word_text (its words joined, padded): no second split
        tokens = word_list(sent_text, nfkc=False)
        word_text = " " + " ".join(tokens) + " "
        if comp.compound_keys and not comp.compound_keys.isdisjoint(tokens):
            word_text = comp.canon(word_text)
            tokens = word_text[1:-1].split(" ") if len(word_text) > 2 else []
        folded = _light_fold(nfkc_text)
        self.word_text, self.folded = word_text, folded
        n = len(items)
        self.w_bounds = _bounds(word_text, n)
        self.f_bounds = _bounds(folded, n)
        if self.w_bounds is None or self.f_bounds is None:
            # an item holds the separator word itself: normalise item by item (slow path, never in practice)
            word_text = _ITEM.join(comp.canon(words(_SENT.join(t.split("\n")))).strip() for t in texts)
            folded = _ITEM.join(_light_fold(nfkc(t)) for t in texts)
            self.word_text, self.folded = " " + word_text + " ", folded
            self.w_bounds = _bounds(self.word_text, n) or [(0, 0)] * n
            self.f_bounds = _bounds(folded, n) or [(0, 0)] * n
        self.w_starts = [a for a, _ in self.w_bounds]
        self.f_starts = [a for a, _ in self.f_bounds]
        # word index: tokens, their character offsets in word_text, positions of the words some matcher starts with
        if word_text is not self.word_text:
            word_text = self.word_text
            tokens = word_text[1:-1].split(" ") if len(word_text) > 2 else []
        self.ascii = word_text.isascii()
        self.tokens = tokens
        # the total length of the tokens before token k (in C); token k starts at word_text[cum[k] + k + 1] (k + 1
        # spaces). Offsets are needed only at the few tokens some matcher starts with.
        self.cum = list(accumulate(map(len, tokens), initial=0))
        # word index: the positions of the tokens some matcher starts with (selected in C, a quarter of them)
        pos_of: dict[str, list[int]] = {}
        get = pos_of.get
        for k in compress(range(len(tokens)), map(comp.all_keys.__contains__, tokens)):
            t = tokens[k]
            lst = get(t)
            if lst is None:
                pos_of[t] = [k]
            else:
                lst.append(k)
        self.pos_of = pos_of
        # sentence boundaries in word_text: sentence marks and item starts (a sentence id is an index into this list)
        marks = []
        word_text = self.word_text
        k = word_text.find(_SENT_W)
        while k >= 0:
            marks.append(k)
            k = word_text.find(_SENT_W, k + 1)
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
                praise, summary = _heading_kind(word_text[a:b], heading_kinds)
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
        """Sorted (start, end) spans in ``word_text`` of the phrases of lexicon ``name`` (praise, cue, flag, neg,
        defect, generic, optional; the longest phrase at a position). The Latin phrases of all seven are read in one
        pass over the word index (their first word, then the continuations matched right after it); the CJK phrases
        by one prefix-trie pattern per lexicon, only for the lexicons asked for (defect and neg seldom are)."""
        if self._lex is None:
            out: dict[str, list[tuple[int, int]]] = {lex_name: [] for lex_name, _ in _LEXES}
            lists = list(out.values())
            word_text, cum, pos_of = self.word_text, self.cum, self.pos_of
            for t in _LEX_TOKENS & pos_of.keys():
                entries = _LEX_TABLE[t]
                tlen = len(t)
                for k in pos_of[t]:
                    start = cum[k] + k + 1
                    first_end = start + tlen
                    for alone, rest, lexes in entries:
                        m = rest.match(word_text, first_end) if rest is not None else None
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
                spans.extend(m.span() for m in cjk_re.finditer(self.word_text))
            spans.sort()
        return spans

    def _neg_positions(self) -> list[int]:
        if self._neg is None:
            self._neg = [a for a, _ in self.lex_spans("neg")]
        return self._neg

    def _phrase_hit(self, ph: _Phrase, i: int, k: int, start: int, end: int) -> None:
        """Mark phrase ``ph`` read at token ``k`` (characters [start, end) of ``word_text``, in item ``i``), unless
        it is an anchor read inside one of the target's keywords, or a negated keyword with no negation near it."""
        if ph.inside and any(_covers(self.tokens, k - j, kt) for j, kt in ph.inside if k >= j):
            return
        if ph.neg:
            neg = self._neg_positions()
            j = bisect_left(neg, start - 61)
            if not (j < len(neg) and neg[j] < end + 40):
                return
        self._mark(i, ph.n, ph.bit, start, end)

    def _scan(self) -> None:
        comp, word_text, tokens = self.comp, self.word_text, self.tokens
        # Latin phrases: candidates by first word (from the word index), then the rest right after it
        cum = self.cum
        nT = len(tokens)
        for t in comp.first_keys & self.pos_of.keys():
            singles, by_next, windowed, maxwin = comp.phrases[t]
            tlen = len(t)
            for k in self.pos_of[t]:
                start = cum[k] + k + 1
                first_end = start + tlen
                cands = by_next.get(tokens[k + 1]) if by_next and k + 1 < nT else None
                if windowed:
                    after = tokens[k + 1:k + 1 + maxwin]
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
                        mm = rest.match(word_text, first_end)
                        if mm is None:
                            continue
                        if i < 0:
                            i = self._witem(start)
                        for ph in group:
                            self._phrase_hit(ph, i, k, start, mm.end())
        # Japanese phrases: a quick test of their first characters, then the pattern
        if comp.cjk and not self.ascii:
            # the review's non-ASCII characters alone (the ASCII bytes deleted from its UTF-8, in C). A pattern
            # made of Japanese parts only that matches word_text also matches this text (deleting the spaces in its gaps
            # only shortens them), so a search of this much shorter text rules most of them out
            na = word_text.encode("utf-8").translate(None, _ASCII_BYTES).decode("utf-8")
            chars = set(na)
            for req, pure, rx, owners, neg in comp.cjk:
                if not req <= chars or (pure and rx.search(na) is None):
                    continue
                for m in rx.finditer(word_text):
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
        comp, word_text, folded = self.comp, self.word_text, self.folded
        # literal anchors (punctuation kept): in folded text
        for longest, first, rx, owners, bound in comp.lits:
            if longest not in folded:
                continue
            # a match starts with the first piece: tried only where it occurs, when it is long enough to be rare
            for m in (_matches_at(rx, folded, _find_all(folded, first)) if len(first) >= 3 else rx.finditer(folded)):
                if bound and m.start() and folded[m.start() - 1] in _WORDCH:
                    continue
                i = self._fitem(m.start())
                for n, bit in owners:
                    self._mark(i, n, bit)
        # table.column written apart ("orders テーブルの total", "the total of orders")
        for tb, col, rx, n, bit in comp.prox:
            if tb in word_text and col in word_text:
                for m in rx.finditer(word_text):
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
        if self.comp.section_titles:
            self._scan_titles()

    def _file_starts(self) -> list[int]:
        """Positions in ``folded`` where a file name starts (every match of the file patterns starts there)."""
        if self._fstarts is None:
            folded = self.folded
            self._fstarts = sorted({k for name in self.comp.file_of for k in _find_all(folded, name)})
        return self._fstarts

    def _file_mentions(self) -> list[tuple[int, str]]:
        comp, folded = self.comp, self.folded
        out = []
        if comp.file_re is None:
            return out
        for m in _matches_at(comp.file_re, folded, self._file_starts()):
            a, b = m.start(), m.end()
            if (a and folded[a - 1] in _WORDCH) or (b < len(folded) and folded[b] in _WORDCH):
                continue
            out.append((a, comp.file_of[m.group(0)]))
        return out

    def _scan_lines(self) -> None:
        comp, folded = self.comp, self.folded
        has_digit = any(ch in folded for ch in "0123456789")
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
            for m in _matches_at(comp.file_line_re, folded, self._file_starts()):
                a = m.start()
                if a and folded[a - 1] in _WORDCH:
                    continue
                fp = comp.file_of.get(m.group("file"))
                if fp:
                    _add_ranges(refs, self._fitem(a), fp, m)
        for rx, key, check in ((_L_REF_RE, "l", True), (_JA_LINE_RE, "行", False)):
            if key not in folded:
                continue
            for m in (rx.finditer(folded) if check else _ja_line_refs(folded)):
                a = m.start()
                if check and a and folded[a - 1] in "abcdefghijklmnopqrstuvwxyz0123456789_./":
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
        if comp.sections and ("§" in folded or "section" in folded or "sec." in folded or "章" in folded
                              or "セクション" in folded or "第" in folded):
            # without 章 every match starts with one of the markers: tried only there
            for m in (_SECTION_RE.finditer(folded) if "章" in folded else _matches_at(_SECTION_NO_CH_RE, folded, sorted(
                    {k for mark in ("§", "sec", "セクション", "第") for k in _find_all(folded, mark)}))):
                if m.group("a") and folded[m.start()] in "s" and m.start() and folded[m.start() - 1] in _WORDCH:
                    continue
                if m.group("b") and m.start() and folded[m.start() - 1] in "0123456789.":
                    continue
                self._mark_section(self._fitem(m.start()), m.group("a") or m.group("b"))
        if comp.dotted_sections and "." in folded:
            # a bare "5.3" names the document's section 5.3 when the case has one (not a version, a decimal with
            # a unit, nor part of a longer number): "5.3「キャンセルが先に届くことはない」は成り立ちません"
            for m in _BARE_SECTION_RE.finditer(folded):
                num = m.group(1)
                if num not in comp.dotted_sections:
                    continue
                w = re.search(r"([a-z][a-z0-9]*)\s?$", folded[max(0, m.start() - 24):m.start()])
                if w and w.group(1) not in _MARK_TOKENS and w.group(1) not in _BEFORE_SECTION_WORDS:
                    continue  # ... nor the version of a named thing ("spring 5.1", "python3.11")
                self._mark_section(self._fitem(m.start()), num)

    def _scan_titles(self) -> None:
        """Sections named by their titles ("在庫引当に冪等性がない": section 5.2 在庫引当; compile._section_titles)."""
        folded = self.folded
        for title, ranges in self.comp.section_titles.items():
            at = folded.find(title)
            while at >= 0:
                end = at + len(title)
                latin_edge = (title[0].isascii() and at and folded[at - 1] in _WORDCH) or (
                    title[-1].isascii() and end < len(folded) and folded[end] in _WORDCH)
                if not latin_edge:
                    self._mark_ranges(self._fitem(at), ranges)
                at = folded.find(title, end)

    def _mark_section(self, i: int, num: str) -> None:
        """Item ``i`` names section ``num`` of the case's documents: it places every target inside that section."""
        self._mark_ranges(i, self.comp.sections.get(num, ()))

    def _mark_ranges(self, i: int, ranges) -> None:
        """Item ``i`` names the sections ``ranges`` ([(file, first line, last line)]): it places every target inside
        them (evidence.P_SECTION)."""
        for fp, a, b in ranges:
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
        """Up to 40 characters of ``word_text`` before position ``at``, within its sentence: where a denial ("no", "not
        vulnerable to") or a remedy cue ("use") of the term at ``at`` stands."""
        a, _ = self.sent_range(bisect_right(self.sbounds, at) - 1)
        return self.word_text[max(a, at - 40):at].rsplit(_SENT_W, 1)[-1]

    def trap_mentions(self, m: int, n: int) -> tuple[bool, bool]:
        """(item ``m`` mentions trap ``n`` in a sentence, one such mention is flagged as a defect). A mention
        does not count in a sentence that denies the trap's defect ("so there is no SQL injection here"); it
        flags when its sentence reports a defect or asks for a change without praise, unless the trap's code is
        named as the remedy ("use X", "X に変えて", "as X already does")."""
        key = (m, n)
        hit = self._trap.get(key)
        if hit is not None:
            return hit
        word_text = self.word_text
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
            after = word_text[end:min(b, end + 24)]
            if _REMEDY_BEFORE_RE.search(before) or _REMEDY_AFTER_RE.match(after):
                continue
            p, d = self.polarity(a, b, flag=True)
            if d and not p and not self.optional(a, b):
                ok = True
                break
        hit = self._trap[key] = (bool(mentions), ok)
        return hit

    def optional(self, a: int, b: int) -> bool:
        """True when the ``word_text`` range [a, b) asks for its change as optional hardening ("if possible",
        "可能であれば": lexicon.OPTIONAL)."""
        pos = self._positions("optional")
        j = bisect_right(pos, a - 1)
        return j < len(pos) and pos[j] < b

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
        """(start, end) in ``word_text`` of the sentence with id ``sid``."""
        sb = self.sbounds
        return sb[sid], (sb[sid + 1] if sid + 1 < len(sb) else len(self.word_text))

    def item_sids(self, i: int) -> range:
        a, b = self.w_bounds[i]
        return range(bisect_right(self.sbounds, a) - 1, bisect_right(self.sbounds, max(a, b - 1)))

    def _polarity_index(self) -> dict:
        """Praise spans and cue positions of the whole review, computed once (see :func:`_sentence_polarity`)."""
        if self._pol is not None:
            return self._pol
        word_text, sb, tokens, cum = self.word_text, self.sbounds, self.tokens, self.cum
        praise: list[tuple[int, int]] = []
        for s0, e0 in self.lex_spans("praise"):
            a = sb[bisect_right(sb, s0) - 1]
            if _NEG_BEFORE.search(word_text[max(a, s0 - 25):s0 - 1] if word_text[s0 - 1:s0] == " "
                                  else word_text[max(a, s0 - 24):s0]) \
                    or _NEG_AFTER.match(word_text[e0:e0 + 12]):
                continue
            praise.append((s0, e0))
        for t in _PRAISE_START & self.pos_of.keys():
            for k in self.pos_of[t]:
                if k == 0 or tokens[k - 1] in _MARK_TOKENS:
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
        """(praise, defect) of the ``word_text`` range [a, b): praise when a non-negated approving phrase starts in it;
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
        """True when a generic-advice cue starts in the ``word_text`` range [a, b)."""
        g = self._positions("generic")
        j = bisect_right(g, a - 1)
        return j < len(g) and g[j] < b


def _heading_kind(w: str, memo: dict[str, tuple[bool, bool]]) -> tuple[bool, bool]:
    """(praise heading, summary heading) for the word form of a heading. Memoised in ``memo`` (the grader's):
    headings ("## Summary", "### Critical") recur across reviews."""
    hit = memo.get(w)
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
    hit = (praise, bool(_SUMMARY_HEAD_RE.search(wh)) and not _SEVERITY_HEAD_RE.search(wh))
    if len(memo) > 20_000:
        memo.clear()
    memo[w] = hit
    return hit


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


def _ja_line_refs(folded: str):
    """The line references of ``_JA_LINE_RE`` in ``folded`` that are a range or say 行目. Every match ends at a "行"
    (or "行目") and, before it, holds only digits, spaces, "-" and "~": it is searched for only in that run of
    characters before each "行"."""
    end = 0
    q = folded.find("行")
    while q >= 0:
        r = q
        while r > end and (folded[r - 1].isdecimal() or folded[r - 1].isspace() or folded[r - 1] in "-~"):
            r -= 1
        m = _JA_LINE_RE.search(folded, max(r, end), q + 2)
        if m is not None and m.end() >= q + 1 and (m.group("me") or m.group("b")):
            yield m
            end = m.end()
        q = folded.find("行", q + 1)


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
