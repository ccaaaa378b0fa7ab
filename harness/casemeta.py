"""``cases.json``: the case metadata a run directory carries (ids, titles, findings, traps), so its reports can be
built without the suite. Written when a run starts, read by :mod:`harness.results`; kept apart from it so that
starting a run does not import pandas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import RecordError
from .textio import atomic_write_json

CASES_JSON = "cases.json"


def case_payload(case: Any) -> dict:
    """The ``cases.json`` entry of one case: ``{id, kind, tags, title, findings: [{id, title, severity, category,
    cwe, location, topics}], traps: [{id, title}]}`` (a case's also ``request_language`` and ``fingerprint``).
    Accepts a :class:`harness.cases.Case` or such a dict (an entry read back keeps the two when it has them, so a
    ``cases.json`` rewritten from its own entries is unchanged)."""
    if isinstance(case, Mapping):
        out = {"id": case["id"], "kind": case.get("kind", ""), "tags": list(case.get("tags", [])),
               "title": case.get("title", "")}
        out.update({k: case[k] for k in ("request_language", "fingerprint") if k in case})
        out.update(findings=[dict(f) for f in case.get("findings", [])], traps=[dict(t) for t in case.get("traps", [])])
        return out
    spec = case.spec
    return {
        "id": spec.id, "kind": spec.kind, "tags": list(spec.tags), "title": spec.title,
        "request_language": request_language(spec.request), "fingerprint": case.fingerprint,
        "findings": [{"id": f.id, "title": f.title, "severity": f.severity, "category": f.category, "cwe": f.cwe,
                      "location": f.location.model_dump(mode="json"), "topics": list(f.topics)}
                     for f in spec.findings],
        "traps": [{"id": t.id, "title": t.title, "location": t.location.model_dump(mode="json"),
                   "topics": list(t.topics)} for t in spec.traps],
    }


def request_language(text: str) -> str:
    """``ja`` when the text holds Japanese/Chinese characters, else ``en``."""
    from .graders.textnorm import has_cjk
    return "ja" if has_cjk(text) else "en"


def write_cases_json(run_dir: str | Path, cases: Iterable[Any]) -> Path:
    """Write ``cases.json`` (a list of :func:`case_payload`) into a run directory atomically; returns its path."""
    path = Path(run_dir) / CASES_JSON
    atomic_write_json(path, [case_payload(c) for c in cases])
    return path


def read_cases_json(run_dir: str | Path) -> dict[str, dict] | None:
    """Case metadata by id from ``cases.json``; None when the file is absent.

    Raises:
        RecordError: when the file exists but is not a JSON list of objects with an ``id``.
    """
    path = Path(run_dir) / CASES_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError("expected a JSON list of cases")
        return {str(c["id"]): case_payload(c) for c in data}
    except (ValueError, KeyError, TypeError) as e:
        raise RecordError(f"invalid {CASES_JSON}: {e}", file=path) from None
