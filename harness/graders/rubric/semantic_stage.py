"""The semantic stage of the deterministic grader (sentence embeddings, :mod:`harness.graders.semantic`): the
findings the lexical stage missed that an item identifies in other words, and the check that drops a trap flag
whose item reads closer to a finding."""

from __future__ import annotations

import re
from bisect import bisect_right

import numpy as np

from .. import lexicon
from ..items import HEADING
from ..textnorm import has_cjk
from .compile import _Compiled
from .evidence import CONCEPT, PLACE, SPECIFIC, _place_strength
from .review import SHORT_SECTION, _Review, _short_section_head


MAX_EMBEDDED_ITEMS = 24
MAX_WINDOWS = 24          # sentence windows of long placed items embedded per review (the same cost bound)
MAX_UNPLACED_ITEMS = 16   # items naming no place embedded per review (the same cost bound)
_CHECKBOXES = ("[ ]", "[x]", "[X]", "☐", "□")


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
    from ..semantic import DEFAULT_PARAMS, item_text
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
        if not speaks(m) or items[m].text.lstrip().startswith(_CHECKBOXES):
            continue
        if any(x & PLACE for x in bits.get(m, {}).values()) or _reads_as_advice(items[m].text):
            continue
        # ... and it must find fault in a sentence that is not generic ("stored in plaintext", "has no
        # timeout"): advice alone ("Support idempotency keys on POST requests.", "Make sure every call has a
        # timeout") reads the same for any codebase. Sentence by sentence: a paragraph of prose holds an "every"
        # or "all" somewhere, and its other sentences may still state one defect of this code
        if not _faults_specifically(r, *r.w_bounds[m]):
            continue
        unplaced.append(m)
    if len(unplaced) > MAX_UNPLACED_ITEMS:
        # the points a problem is stated in come first: headings and top-level items, then in review order
        unplaced = sorted(sorted(unplaced, key=lambda m: (items[m].kind != HEADING and items[m].parent is not None,
                                                          m))[:MAX_UNPLACED_ITEMS])
    # (an item of a placed unit may state one more finding by description: a paragraph of a memo whose title
    # section is read whole; it is embedded once)
    rows = ok_items + [m for m in unplaced if m not in embedded]
    if not rows:
        return {}
    texts = [item_text(items[m].text) for m in rows]
    rows_of: dict[int, list[int]] = {m: [k] for k, m in enumerate(rows)}
    # a placed item longer than what is embedded (a paragraph of prose discussing two or three problems) is
    # also read in windows of whole sentences, so that a problem stated after its first MAX_ITEM_CHARS is read
    # at all, and each window is matched to the one target it reads most like
    n_windows = 0
    for m in ok_items:
        for w in _windows(items[m].text)[1:]:
            if n_windows >= MAX_WINDOWS:
                break
            rows_of[m].append(len(texts))
            texts.append(w)
            n_windows += 1
    sims = embedder.embed(texts) @ comp.target_vectors(embedder).T
    top = sims.max(axis=1)
    # for each finding, the best item over every unit that names its place (ties: the earlier item), so the
    # verdict and its evidence do not depend on the order evidence was found in
    best: dict[int, tuple[float, int, bool, int]] = {}
    for key in sorted(units):
        for n in units[key]:
            for m in key:
                if m not in embedded or m not in rows_of:
                    continue
                for row in rows_of[m]:
                    s_n = float(sims[row, n])
                    if s_n >= params.min_sim and s_n >= top[row] - params.tol:
                        cur = best.get(n)
                        if cur is None or (s_n, -m) > (cur[0], -cur[1]):
                            best[n] = (s_n, m, True, row)
    # a finding no placed unit credits may be credited by an unplaced item (the best one)
    by_description: dict[int, tuple[float, int, bool, int]] = {}
    for m in unplaced:
        row = rows_of[m][0]
        n = int(np.argmax(sims[row]))
        s_n = float(sims[row, n])
        if n in missing and n not in best and s_n >= params.min_sim_unplaced:
            cur = by_description.get(n)
            if cur is None or (s_n, -m) > (cur[0], -cur[1]):
                by_description[n] = (s_n, m, False, row)
    best.update(by_description)
    out: dict[int, tuple[int, str]] = {}
    for n in sorted(best):
        best_s, best_m, placed, best_row = best[n]
        where = "in a unit that names its place" if placed else "and says where by itself (no place named)"
        out[n] = (best_m, f"found semantically: item {best_m} reads closest to this finding (cosine "
                          f"{best_s:.3f}, best target {top[best_row]:.3f}) {where}")
        # the item, what is under it, and the problem record it is a field of: not the whole unit, whose other
        # points may report other problems
        matched.add(best_m)
        matched.update(r.section_body(best_m) if items[best_m].kind == HEADING else r.subtree(best_m))
        head = _short_section_head(r, best_m)
        if head is not None:
            matched.add(head)
            matched.update(c for c in items[head].children if items[c].kind != HEADING)
    return out


def _faults_specifically(r: _Review, a: int, b: int) -> bool:
    """True when a sentence of the ``word_text`` range [a, b) finds fault (a defect cue that is not "use X") and
    holds no generic-advice marker."""
    sb = r.sbounds
    k = bisect_right(sb, a) - 1
    while k < len(sb) and sb[k] < b:
        sa = max(a, sb[k])
        se = min(b, sb[k + 1]) if k + 1 < len(sb) else b
        if se > sa and r.polarity(sa, se, flag=True)[1] and not r.generic(sa, se):
            return True
        k += 1
    return False


def _windows(text: str) -> list[str]:
    """The item's text as embedded (graders/semantic.py ``item_text``) cut into runs of whole sentences of at
    most MAX_ITEM_CHARS each, in order; the first starts where the item does. A text that fits is one window.
    A sentence longer than that is cut."""
    from ..semantic import MAX_ITEM_CHARS, flat_text
    flat = flat_text(text)
    if len(flat) <= MAX_ITEM_CHARS:
        return [flat]
    out: list[str] = []
    cur = ""
    for sent in _SENT_END_RE.split(flat):
        sent = sent.strip()
        if not sent:
            continue
        if cur and len(cur) + 1 + len(sent) > MAX_ITEM_CHARS:
            out.append(cur)
            cur = ""
        cur = f"{cur} {sent}".strip() if cur else sent
        while len(cur) > MAX_ITEM_CHARS:
            out.append(cur[:MAX_ITEM_CHARS])
            cur = cur[MAX_ITEM_CHARS:].lstrip()
    if cur:
        out.append(cur)
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
    from ..semantic import item_text
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
