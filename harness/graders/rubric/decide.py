"""The deterministic grader's decisions on one review: the candidate units (an item, a point with a sub-point,
an item under its heading, a heading with its body), the rules that credit a finding or flag a trap in a unit, and
the verdicts as plain data with their reasons and quotes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..items import HEADING, LIST
from .compile import _Compiled
from .evidence import (C_FIX, C_KW, CONCEPT, P_ANCHOR, P_SECTION, PLACE, SPECIFIC, _EVIDENCE_NAMES,
                       _place_strength, _score)
from .extras import _extra_issues
from .lexmatch import _DENIED_RE
from .review import SHORT_SECTION, _Review
from .semantic_stage import _semantic_stage, _semantic_trap_check

QUOTE_CHARS = 300
# a paragraph that opens with its own bold title ("**7. Revenue cache TTL too long (`X.java:87`).** ..."): a problem
# of its own, so a short section of two such paragraphs is a group of problems, not one
_TITLED_RE = re.compile(r"\s*(?:\*\*[^*\n]{3,}?\*\*|__[^_\n]{3,}?__)")


@dataclass
class _Unit:
    root: int
    members: tuple[int, ...]
    kind: str


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


def _grade(comp: _Compiled, review: str, name: str, embedder=None, params=None, heading_kinds=None) -> dict:
    """The grade of ``review`` as plain data (SampleGrade's fields); ``heading_kinds`` is the grader's memo of
    heading classes (None: a fresh one)."""
    r = _Review(comp, review, heading_kinds)
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
    section_hits: list[tuple[int, _Unit]] = []
    shotgun_units = 0
    for u in _units(r):
        target_bits: dict[int, int] = {}
        for m in u.members:
            for n, b in bits.get(m, empty).items():
                target_bits[n] = target_bits.get(n, 0) | b
        if u.kind == "section":
            # a heading's body counts as one item only when the heading itself names this target's concept
            # or place, or the section is a short run of paragraphs
            head_bits = bits.get(u.root, empty)
            small = (len(u.members) <= 4 and sum(items[m].kind == LIST for m in u.members) <= 1
                     and sum(bool(_TITLED_RE.match(items[m].text)) for m in u.members) <= 1)
            target_bits = {n: b for n, b in target_bits.items() if (head_bits.get(n, 0) or small)}
        hits = [n for n, b in target_bits.items() if _candidate(kinds[n], b)]
        if not hits:
            continue
        fhits = [n for n in hits if kinds[n] == "finding"]
        if len(fhits) >= 3 and not any(target_bits[n] & SPECIFIC for n in fhits):
            if u.kind in ("item", "heading"):
                shotgun_units += 1
            continue
        strength = {n: _place_strength(target_bits[n]) for n in hits}
        subj = u.members[-1] if u.kind == "context" else u.root
        root_b = bits.get(subj, empty)
        root_s = {n: _place_strength(root_b.get(n, 0)) for n in hits}
        h = scope_head(u.root)
        for n in hits:
            if kinds[n] == "trap":
                # the unit is about another target: named at a more precise place, or named by the unit's
                # root (a heading or parent point) while the trap is only mentioned in the body
                s_t = strength[n]
                if any(strength[x] > s_t and target_bits[x] & C_KW for x in hits if x != n):
                    continue
                if u.kind != "item" and any(root_s[x] > root_s[n] for x in hits if x != n):
                    continue
                # ... or mentioned in a section whose heading points precisely at another target
                if h != u.root:
                    scope_head_bits = bits.get(h, empty)
                    if _place_strength(scope_head_bits.get(n, 0)) < 3 and any(
                            _place_strength(b) == 3 and b & CONCEPT for x, b in scope_head_bits.items() if x != n):
                        continue
                if not _trap_flag_ok(r, u, n):
                    continue
            else:
                # right place, wrong diagnosis: only the remedy is named while the unit's diagnosis words belong
                # to another finding or trap named at the same place
                if not target_bits[n] & C_KW and any(target_bits[x] & C_KW for x in hits if x != n):
                    continue
                # ... or, in a section whose heading names this place, the section's diagnosis is another one
                sb = scope_bits.get(h, empty)
                if not sb.get(n, 0) & C_KW and bits.get(h, empty).get(n, 0) & PLACE and _diagnosed_elsewhere(
                        bits, scope_text.get(h, ()), sb, n, kinds):
                    continue
                if not _finding_polarity_ok(r, u, n):
                    continue
                # a place named only by a common anchor, in sentences of generic advice: a checklist line
                if strength[n] == 1 and not target_bits[n] & P_SECTION and _generic_only(r, u, n):
                    continue
            score = _score(target_bits[n])
            prev = found.get(n)
            if prev is None or score > prev[0]:
                found[n] = (score, u, target_bits[n])
            if u.kind == "section":
                # a short run of paragraphs under a heading is one problem only when no paragraph of it names
                # this target by itself (then the others may raise other problems): decided below
                section_hits.append((n, u))
            elif u.kind == "context":
                matched_items.add(u.root)
            elif u.kind == "heading":
                matched_items.add(u.root)
                matched_items.update(r.section_body(u.root))
            else:
                matched_items.update(u.members)
    for n, u in section_hits:
        if found[n][1] is u:
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
    extra = _extra_issues(r, matched_items, frozenset(found) | frozenset(sem))
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


def _candidate(kind: str, b: int) -> bool:
    """Evidence enough for a finding (a diagnostic or remedy keyword and a place) or a trap (a precise place
    with its topic or an anchor, or a diagnostic keyword with an anchor)."""
    if kind == "finding":
        return bool(b & (C_KW | C_FIX)) and bool(b & PLACE)
    s = _place_strength(b)
    return (s == 3 and bool(b & (CONCEPT | P_ANCHOR))) or (bool(b & C_KW) and s >= 2)


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
