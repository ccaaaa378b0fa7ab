"""``extra_issues``: the problems a review raises that match no finding or trap of the case."""

from __future__ import annotations

import re
from bisect import bisect_right

from .. import lexicon
from ..items import HEADING, PARA, TABLE
from ..textnorm import phrase
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


# a paragraph that opens by announcing a further problem (word-form text: lexicon.ANOTHER_PROBLEM as phrase()
# spells it, "there is also" -> "ther is also")
_ANOTHER_RE = re.compile(r" ?(?:" + "|".join(re.escape(phrase(p)) for p in lexicon.ANOTHER_PROBLEM)
                         + r")(?: |(?<=[^ -~]))")


def _extra_issues(r: _Review, matched: set[int], credited: frozenset[int] = frozenset()) -> int:
    """Problems the review raises that match no finding or trap: points, paragraphs and table rows (not headings)
    that read as a reported problem (a defect or change cue, and not only praise), are not under a praise or
    summary heading, are not sub-points of a matched item, and — when they read as generic advice ("make sure",
    "avoid", "適切に") — point into the code (a file, a line reference, or code that occurs in the artifacts).
    The labelled fields of one problem record ("**Location:** …", "**Problem:** …", "**Fix:** …") count once,
    and the record points into the code when any of its fields does; the sub-sections of a matched problem heading
    ("### Cause", "### Fix") are that problem; a long paragraph of prose counts each problem it raises
    (:func:`_paragraph_problems`), a matched one those besides its finding. ``credited``: the targets the grade
    credits (found findings, flagged traps)."""
    count = 0
    items = r.items
    seen_heads: set[int] = set()
    # a problem record (a heading or point over a short run of labelled fields: location / problem / impact /
    # fix) is one reported problem, pointing into the code when any of its fields does: the location field holds
    # the reference, the problem field the defect cue
    record_refers: dict[int, bool] = {}

    def record_refers_to_code(h: int) -> bool:
        if h not in record_refers:
            record_refers[h] = _refers_to_code(r, h) or any(
                _refers_to_code(r, c) for c in items[h].children if items[c].kind != HEADING)
        return record_refers[h]

    # a matched heading whose sub-headings are not matched themselves (the labels of one problem's parts, not
    # further problems, nor the title of a review whose every section is a problem)
    problem_heads: dict[int, bool] = {}

    def problem_heading(h: int) -> bool:
        if h not in problem_heads:
            stack = [c for c in items[h].children if items[c].kind == HEADING]
            ok = True
            while stack and ok:
                c = stack.pop()
                ok = c not in matched
                stack.extend(x for x in items[c].children if items[x].kind == HEADING)
            problem_heads[h] = ok
        return problem_heads[h]

    # a problem heading: a heading that itself reports one problem at a place of the artifacts ("## 1. The OAuth
    # `state` is checked for presence, not for equality"): the paragraphs of its section are that problem's
    # mechanism, exploit, impact and fix, not further problems, unless one opens as another ("There is also …")
    problem_section: dict[int, bool] = {}

    def under_problem_heading(i: int) -> int | None:
        h = items[i].parent
        if h is None or items[h].kind != HEADING or items[i].kind != PARA:
            return None
        if h not in problem_section:
            a, b = r.w_bounds[h]
            problem_section[h] = (not (r.praise_ctx[h] or r.summary_ctx[h]) and r.polarity(a, b)[1]
                                  and _refers_to_code(r, h)
                                  and not any(items[c].kind == HEADING for c in items[h].children))
        return h if problem_section[h] else None

    for it in items:
        i = it.index
        ph = under_problem_heading(i)
        if ph is not None and i not in matched and not _ANOTHER_RE.match(r.word_text, r.w_bounds[i][0]):
            if ph in matched or any(c in matched for c in r.section_body(ph)) or ph in seen_heads:
                continue
            a, b = r.w_bounds[i]
            if b - a >= 12 and r.polarity(a, b)[1] and not (r.praise_ctx[i] or r.summary_ctx[i]):
                seen_heads.add(ph)
                count += 1
            continue
        if i in matched and it.kind == PARA:
            # a long paragraph of prose credited with a finding may go on to raise other problems
            count += _paragraph_problems(r, i, credited) - 1
            continue
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
        h = _short_section_head(r, i)
        if h is not None and h in matched:
            continue
        rec_code = h is not None and record_refers_to_code(h)
        if r.generic(a, b) and not (rec_code or _refers_to_code(r, i)):
            continue
        # a line that points at nothing in the artifacts, nor does the point or heading it sits under, is a
        # checklist line, not a reported problem (CASE_FORMAT.md: a generic line does not count)
        if not (rec_code or _context_refers_to_code(r, i)):
            continue
        # an item introducing matched points ("These are the problems to fix:") is part of them
        if any(c in matched for c in it.children):
            continue
        # sub-points of a matched item belong to it
        par = it.parent
        inside = False
        below_heading = False
        while par is not None:
            # ... and so do the sub-sections of a matched heading: a write-up's "## 2. Mass assignment in
            # PATCH /users/me" with "### Cause", "### Reproduction", "### Fix" under it reports one problem
            if par in matched and (items[par].kind != HEADING or (below_heading and problem_heading(par))):
                inside = True
                break
            below_heading |= items[par].kind == HEADING
            par = items[par].parent
        if not inside:
            # the points of a short section under its own heading (location / problem / impact / fix) are one
            # reported problem, not four
            if h is not None:
                if h in seen_heads:
                    continue
                seen_heads.add(h)
            count += _paragraph_problems(r, i, credited) if it.kind == PARA else 1
    return count


# word-form characters of prose read as one problem (about two sentences): 120-320 tried on the tune split of
# labelled/split.yaml, extra_issues MAE flat at 150-180
PROBLEM_CHARS = 180


def _paragraph_problems(r: _Review, i: int, credited: frozenset[int]) -> int:
    """Problems one paragraph raises (at least 1): a long paragraph of prose cut into runs of whole sentences
    of about PROBLEM_CHARS word-form characters each; a run counts when it reports a defect, is not generic
    advice and names none of the credited targets' evidence."""
    a, b = r.w_bounds[i]
    if b - a <= 2 * PROBLEM_CHARS:
        return 1
    sb = r.sbounds
    cuts = [a] + [x for x in sb[bisect_right(sb, a):] if x < b]
    runs: list[tuple[int, int]] = []
    start = a
    for x in cuts[1:] + [b]:
        if x - start >= PROBLEM_CHARS or x == b:
            runs.append((start, x))
            start = x
    spans = [(at, end) for n, sp in r.spans.get(i, {}).items() if n in credited for at, end, _ in sp]
    n = n_credited = 0
    for ra, rb in runs:
        if any(ra <= at < rb for at, _ in spans):
            n_credited += 1
            continue
        if r.polarity(ra, rb)[1] and not r.generic(ra, rb):
            n += 1
    return max(n + (n_credited > 0), 1)


def _context_refers_to_code(r: _Review, i: int) -> bool:
    """True when item ``i`` or a point or heading above it points into the artifacts (:func:`_refers_to_code`)."""
    p: int | None = i
    while p is not None:
        if _refers_to_code(r, p):
            return True
        p = r.items[p].parent
    return False
