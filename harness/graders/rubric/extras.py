"""``extra_issues``: the problems a review raises that match no finding or trap of the case."""

from __future__ import annotations

from ..items import HEADING, TABLE
from .review import (_CODE_SPAN_RE, _JA_LINE_RE, _L_NUM_RE, _LINE_WORD_RE, _SECTION_RE, _Review,
                     _short_section_head)


def _refers_to_code(r: _Review, i: int) -> bool:
    """True when item ``i`` points into the artifacts: a file name, a line reference, or quoted code that occurs
    in them."""
    it = r.items[i]
    a, b = r.f_bounds[i]
    folded = r.folded
    comp = r.comp
    if comp.file_re is not None and comp.file_re.search(folded, a, b):
        return True
    if _L_NUM_RE.search(folded, a, b) or _LINE_WORD_RE.search(folded, a, b) or _JA_LINE_RE.search(folded, a, b):
        return True
    if comp.sections and _SECTION_RE.search(folded, a, b):
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


def _context_refers_to_code(r: _Review, i: int) -> bool:
    """True when item ``i`` or a point or heading above it points into the artifacts (:func:`_refers_to_code`)."""
    p: int | None = i
    while p is not None:
        if _refers_to_code(r, p):
            return True
        p = r.items[p].parent
    return False
