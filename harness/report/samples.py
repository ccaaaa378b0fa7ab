"""The sample view: what the model wrote for each case and sample, and why each finding and trap was graded so.

For one sample it gathers the review, the outcome, tokens, cost and latency, and every finding's and trap's
verdict with its reason and the *evidence span*: the characters of the review the verdict rests on, as
``[start, end)`` offsets into the review text. The span is taken, in this order, from

1. ``evidence.start`` / ``evidence.end`` when a grader records them (none does yet; the field is read if present);
2. ``evidence.item`` — the deterministic grader credits one review item (:mod:`harness.graders.items`); the same
   parser is run again on the review and the item's lines are the span (the split is deterministic, so it is the
   item the grader read);
3. ``evidence.quote`` found verbatim in the review (the LLM judge quotes the review).

A verdict whose evidence cannot be located is listed without a highlight, never attached to the wrong text.

The review is cut into segments (plain text, or text inside one or more evidence spans) that the HTML templates
render with autoescape inside ``<pre>``: no markdown is rendered, so nothing in a review can become markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from ..graders.items import split_items
from ..records import SampleRecord

# Reviews longer than this (characters) start collapsed; the whole text is always in the page.
LARGE_REVIEW = 4000
# Samples on one page before each case shows only its first few (case_views): ~1,000 reviews of ~3 KB keep the
# page near 5 MB and its build near a second.
MAX_SAMPLES = 1000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Span:
    """A highlighted part of a review: ``[start, end)`` character offsets, and the verdicts resting on it."""

    start: int
    end: int
    label: str          # e.g. "F1 f-2 found", used in the mark's title
    cls: str            # css class: found | missed | flagged
    anchor: str         # element id of the mark


def _line_starts(text: str) -> list[int]:
    """Offset of the first character of every line, with the line breaks split_items uses (\\r\\n, \\r, \\n)."""
    starts = [0]
    for m in _LINE_BREAK.finditer(text):
        starts.append(m.end())
    return starts


def item_spans(review: str) -> list[tuple[int, int] | None]:
    """``[start, end)`` of every review item (:func:`harness.graders.items.split_items` order), trailing blank
    space excluded. An item runs from its first line to the line of the next item that starts further down (its
    continuation lines and code blocks included). None for an item whose text cannot be placed (a code block
    with no item before it)."""
    if not review:
        return []
    items = split_items(review)
    starts = _line_starts(review)
    out: list[tuple[int, int] | None] = []
    for k, it in enumerate(items):
        if it.line >= len(starts) or (it.line == 0 and k > 0):   # a code block with no owner
            out.append(None)
            continue
        a = starts[it.line]
        nxt = next((o.line for o in items[k + 1:] if o.line > it.line), None)
        b = starts[nxt] if nxt is not None and nxt < len(starts) else len(review)
        while b > a and review[b - 1].isspace():
            b -= 1
        out.append((a, b) if b > a else None)
    return out


def locate(review: str, evidence: Any, spans: list[tuple[int, int] | None] | None) -> tuple[int, int] | None:
    """The ``[start, end)`` of a verdict's evidence in ``review`` (module docs for the order), or None."""
    if evidence is None or not review:
        return None
    start, end = getattr(evidence, "start", None), getattr(evidence, "end", None)
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(review):
        return start, end
    quote = (getattr(evidence, "quote", "") or "").strip()
    q = quote[:-1].rstrip() if quote.endswith("…") else quote     # the grader cuts long quotes with an ellipsis
    at = review.find(q) if q else -1
    item = getattr(evidence, "item", None)
    if isinstance(item, int) and spans is not None and 0 <= item < len(spans) and spans[item] is not None:
        a, b = spans[item]  # type: ignore[misc]  # spans[item] is not None: checked on the line above
        # an item that does not hold a verbatim quote found elsewhere is not the text the verdict rests on
        if at < 0 or a <= at < b:
            return a, b
    if at >= 0:
        return at, at + len(q)
    return None


def segments(review: str, spans: Iterable[Span]) -> list[dict]:
    """Cut ``review`` into consecutive segments ``{text, marks: [Span...]}``; a segment's marks are the spans
    covering all of it (overlapping spans nest into segments covered by both). Joined, the texts give the
    review back exactly."""
    spans = [s for s in spans if 0 <= s.start < s.end <= len(review)]
    cuts = sorted({0, len(review), *(s.start for s in spans), *(s.end for s in spans)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        if a == b:
            continue
        marks = [s for s in spans if s.start <= a and b <= s.end]
        out.append({"text": review[a:b], "marks": marks,
                    "cls": " ".join(sorted({m.cls for m in marks})),
                    "title": "; ".join(m.label for m in marks),
                    # the mark a verdict links to: the first segment of its span
                    "anchor": next((m.anchor for m in marks if m.start == a), "")})
    return out


def outcome(rec: SampleRecord) -> tuple[str, str]:
    """``(outcome, detail)`` of a sample: the record's own ``outcome`` when the runner wrote one (ok, truncated,
    refused, empty, error...), else derived: ``error`` (with the error kind), ``truncated`` (stopped at
    max_tokens), ``refused`` (stop reason refusal), ``empty`` (no review text), or ``ok``."""
    own = getattr(rec, "outcome", None)
    if own is None and rec.model_extra:
        own = rec.model_extra.get("outcome")
    err = rec.error
    detail = f"{err.kind}: {err.message}" if err is not None else (rec.stop_reason or "")
    if isinstance(own, str) and own:
        return own, detail
    if err is not None:
        return "error", detail
    if rec.stop_reason == "max_tokens":
        return "truncated", detail
    if rec.stop_reason == "refusal":
        return "refused", detail
    if not (rec.review or "").strip():
        return "empty", detail
    return "ok", detail


def _tokens(usage: dict) -> tuple[int, int]:
    inp = sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens",
                                               "cache_read_input_tokens"))
    return inp, int(usage.get("output_tokens") or 0)


def sample_view(rec: SampleRecord, grader: str, case: dict | None, *, prefix: str = "s") -> dict:
    """Everything the page shows of one sample.

    Returns a dict: sample_id, anchor (element id), case, variant, epoch, outcome, outcome_detail, input_tokens,
    output_tokens, cost_usd (USD or None), latency_s (seconds or None), cached, retries, review (text or ''),
    n_chars, large (starts collapsed), segments (:func:`segments`), findings and traps (``{id, title, severity,
    verdict, reason, quote, anchor, located}``: ``verdict`` is found/missed, flagged/not flagged, or n/a when the
    grader has no verdict), grade_error, warnings, grader.
    """
    from ..results import variant_label
    case = case or {}
    review = rec.review or ""
    grade = rec.grades.get(grader)
    spans_by_item = item_spans(review) if grade is not None and review else []
    base = f"{prefix}-{rec.sample_id}"
    marks: list[Span] = []

    def verdicts(kind: str, meta: list[dict], got: list) -> list[dict]:
        by_id = {v.id: v for v in got}
        ids = [m["id"] for m in meta] + [v.id for v in got if v.id not in {m["id"] for m in meta}]
        titles = {m["id"]: m for m in meta}
        rows = []
        for k, vid in enumerate(ids):
            v = by_id.get(vid)
            m = titles.get(vid, {})
            hit = (v.found if kind == "finding" else v.flagged) if v is not None else None
            word = ("found" if hit else "missed") if kind == "finding" else ("flagged" if hit else "not flagged")
            span = locate(review, v.evidence, spans_by_item) if v is not None and hit else None
            anchor = f"{base}-{kind[0]}{k}"
            if span is not None:
                cls = "found" if kind == "finding" else "flagged"
                marks.append(Span(span[0], span[1], f"{kind} {vid}: {word}", cls, anchor))
            rows.append({"id": vid, "title": m.get("title", ""), "severity": m.get("severity", ""),
                         "verdict": word if v is not None else "n/a", "hit": bool(hit),
                         "reason": v.reason if v is not None else "",
                         "quote": (v.evidence.quote if v is not None and v.evidence is not None else ""),
                         "supported": v.supported if v is not None else True,
                         "anchor": anchor if span is not None else "", "located": span is not None})
        return rows

    findings = verdicts("finding", case.get("findings", []), grade.findings if grade else [])
    traps = verdicts("trap", case.get("traps", []), grade.traps if grade else [])
    out_kind, detail = outcome(rec)
    inp, outp = _tokens(rec.usage or {})
    return {
        "sample_id": rec.sample_id, "anchor": base, "case": rec.case,
        "variant": variant_label(rec.prompt_version, rec.model), "epoch": rec.epoch,
        "outcome": out_kind, "outcome_detail": detail, "input_tokens": inp, "output_tokens": outp,
        "cost_usd": rec.cost_usd, "latency_s": rec.latency_s, "cached": rec.cached, "retries": rec.retries,
        "review": review, "n_chars": len(review), "large": len(review) > LARGE_REVIEW,
        "segments": segments(review, marks) if review else [],
        "findings": findings, "traps": traps, "grader": grader,
        "grade_error": grade.error if grade is not None else None,
        "warnings": list(grade.warnings) if grade is not None else [],
        "n_found": sum(f["hit"] for f in findings), "n_flagged": sum(t["hit"] for t in traps),
    }


def case_views(res: Any, *, variants: Iterable[str] | None = None, prefix: str = "s",
               cases: Iterable[str] | None = None, limit: int | None = MAX_SAMPLES) -> list[dict]:
    """The run's samples grouped by case, in the run's case order: ``[{case, title, kind, n_samples, samples:
    [sample_view ... by variant then epoch]}]``. ``res`` is a :class:`harness.results.ResultsTable`.

    Args:
        variants: only these variants (``v1 · model`` labels).
        prefix: element-id prefix of the samples (two runs on one page need two).
        cases: only these case ids (all their samples, whatever ``limit``).
        limit: at most about this many samples on the page (a 10,000-sample run would make a 50 MB page): each
            case then shows its first ``max(1, limit // cases)`` samples, the ones that did not end ``ok``
            first, and ``n_samples`` says how many it has. None: every sample.
    """
    from ..results import variant_label
    wanted = set(variants) if variants is not None else None
    only = set(cases) if cases is not None else None
    by_case: dict[str, list[SampleRecord]] = {}
    for r in res.records:
        if wanted is not None and variant_label(r.prompt_version, r.model) not in wanted:
            continue
        if only is not None and r.case not in only:
            continue
        by_case.setdefault(r.case, []).append(r)
    known = set(res.manifest.cases)
    order = [c for c in res.manifest.cases if c in by_case] + sorted(c for c in by_case if c not in known)
    total = sum(len(v) for v in by_case.values())
    quota = None if only is not None or limit is None or total <= limit else max(1, limit // max(1, len(order)))
    out = []
    for cid in order:
        meta = res.cases.get(cid, {})
        recs = sorted(by_case[cid], key=lambda r: (r.prompt_version, r.model, r.epoch))
        if quota is not None and len(recs) > quota:
            keep = {id(r) for r in sorted(recs, key=lambda r: outcome(r)[0] == "ok")[:quota]}
            recs = [r for r in recs if id(r) in keep]
        out.append({"case": cid, "title": meta.get("title", ""), "kind": meta.get("kind", ""),
                    "n_samples": len(by_case[cid]),
                    "samples": [sample_view(r, res.grader, meta, prefix=prefix) for r in recs]})
    return out
