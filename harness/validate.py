"""The suite author's checks (``harness validate``) and coverage tables (``harness suite``).

:func:`validate_path` checks every case under a folder and returns every problem at once, each naming the file,
the field and what was expected. Errors are things a loader or grader cannot use (schema, unreadable artifacts,
locations or anchors that point nowhere, blank or comma-split keywords, unknown topics, duplicate ids). Warnings
are things that make a case measure badly (keywords a review gets for free by quoting the code, matched the way
the deterministic grader matches them; findings a grader cannot tell apart; a finding without topics; too few or
too many findings or traps).

A warning can be explained in the suite-level file ``<suite>/validate-allow.yaml``, a YAML list of entries::

    - case: ticket-sales-fastapi        # the case id
      id: refund-no-timeout             # the finding or trap id; the case id for a case-level warning
      code: leaky-keyword               # the warning's code, printed in [brackets]
      reason: the keyword names the missing argument itself; no better word exists

An explained warning is printed with its reason and never fails ``--strict``. An entry that explains no current
warning is itself a warning.

:func:`coverage` counts cases, findings and traps per kind, category, severity, request language and topic.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from .exitcodes import ExitCode

from .cases import (CATEGORIES, DEFAULT_MAX_FILE_BYTES, KINDS, SEVERITIES, Case, CaseSpec, Finding, Trap,
                    _pydantic_errors, discover_case_dirs, load_case, parse_case_yaml, read_artifact,
                    surrogate_fields)
from .errors import CaseError
from .graders.textnorm import cjk_pattern, has_cjk, phrase, route_path, words
from .topics import TOPICS

ALLOW_FILE = "validate-allow.yaml"
CONTROL_TAG = "control"
FINDINGS_PER_CASE = (4, 8)
MAX_TRAPS = 2
CONTROL_TRAPS = (2, 4)
LEAK_CONTEXT_LINES = 3
MIN_FINDINGS_PER_TOPIC = 2

WARNING_CODES: frozenset[str] = frozenset({
    "leaky-keyword", "indistinct-findings", "no-topics", "finding-count", "trap-count", "allow-unused"})
"""Codes of the warnings; every other code is an error."""


@dataclass(frozen=True)
class Problem:
    """One problem found by :func:`validate_path`.

    Attributes:
        severity: ``"error"`` (fails validation) or ``"warning"`` (fails only ``--strict``, unless explained).
        file: the file holding the faulty field (usually a case.yaml; the allow file; a folder).
        field: dotted field path inside ``file`` (e.g. ``findings[2].anchors[0]``); ``""`` for the whole file.
        message: what is wrong and what was expected.
        code: short stable kind of problem (e.g. ``anchor-missing``); the key used by the allow file.
        case: id of the case concerned (the folder name when the id is unreadable); ``""`` when none.
        item: id of the finding or trap concerned; the case id for case-level problems; ``""`` when none.
        explained: the allow file's reason when this warning has been explained, else None.
    """

    severity: Literal["error", "warning"]
    file: str
    field: str
    message: str
    code: str
    case: str = ""
    item: str = ""
    explained: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        label = self.severity if self.explained is None else f"{self.severity} (explained: {self.explained})"
        return f"{where}: {label}: {self.message} [{self.code}]"


def keyword_occurs(keyword: str, text: str) -> bool:
    """True when the deterministic grader would find ``keyword`` in ``text``.

    Uses the grader's normalisation (:mod:`harness.graders.textnorm`): case-insensitive whole words, with
    snake_case, kebab-case, camelCase, dotted names and spaces alike and light English stemming; a keyword holding
    Japanese is matched with :func:`~harness.graders.textnorm.cjk_pattern`. A blank keyword occurs nowhere.
    """
    return _occurs_in_words(keyword, words(text))


def _occurs_in_words(keyword: str, text_words: str) -> bool:
    pattern = cjk_pattern(keyword)
    if pattern is not None:
        return re.search(pattern, text_words) is not None
    p = phrase(keyword)
    return bool(p) and f" {p} " in text_words


# --------------------------------------------------------------------------------------------------- one case

@dataclass(frozen=True)
class _Item:
    kind: str  # "findings" | "traps"
    index: int
    model: Finding | Trap

    @property
    def field(self) -> str:
        return f"{self.kind}[{self.index}]"


@dataclass(frozen=True)
class _CaseParts:
    """What could be read of one case.yaml: the whole spec when valid, else every part that validates alone."""

    id: str | None
    tags: list[str]
    files: list[tuple[int, str]]
    items: list[_Item]
    ids: list[tuple[str, str]]  # (field, id) of every finding and trap with a string id
    n_findings: int | None
    n_traps: int | None
    request: str = ""


def _raw_mapping(case_file: Path) -> dict | None:
    try:
        data = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, LookupError, TypeError, AttributeError,
            OverflowError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _yaml_portability(case_file: Path) -> str | None:
    """Why the case file reads differently with PyYAML's pure-Python safe loader than with libyaml's (which
    parse_case_yaml uses when PyYAML was built with it), or None. libyaml accepts a few plain scalars the
    reference loader rejects (``[ANY(?), x]``: a '?' inside a flow sequence), so such a suite loads on one
    machine and fails on another whose PyYAML has no libyaml."""
    if getattr(yaml, "CSafeLoader", None) is None:
        return None
    try:
        text = case_file.read_text(encoding="utf-8")
        fast = yaml.load(text, Loader=yaml.CSafeLoader)
    except Exception:  # noqa: BLE001 - unreadable or malformed: reported by the parse itself
        return None
    try:
        pure = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return (f"PyYAML's pure-Python loader rejects this file{where} ({getattr(e, 'problem', None) or e}), "
                "though libyaml reads it: the suite fails to load where PyYAML lacks libyaml; expected a value "
                "both read alike (quote it)")
    except Exception as e:  # noqa: BLE001 - a value the pure loader builds differently (dates, numbers)
        return (f"PyYAML's pure-Python loader fails on this file ({type(e).__name__}: {e}); "
                "expected both loaders to read it")
    if pure != fast:
        return ("libyaml and PyYAML's pure-Python loader read this file differently; "
                "expected the same values (quote them)")
    return None


def _parse(case_file: Path) -> tuple[dict | None, list[tuple[str, str, str]]]:
    """(mapping to salvage parts from, schema problems as (field, message, code))."""
    try:
        return parse_case_yaml(case_file).model_dump(), []
    except CaseError as e:
        data = _raw_mapping(case_file)
        if data is None:  # unreadable, not UTF-8, malformed YAML, not a mapping: nothing to salvage
            return None, [(e.field or "", e.message, "case-yaml")]
        bad = surrogate_fields(data)
        if bad:
            return data, [(f, m, "text") for f, m in bad]
    try:
        CaseSpec.model_validate(data)
    except ValidationError as ve:
        out = []
        for err, (field, message) in zip(ve.errors(), _pydantic_errors(ve)):
            if not err["loc"]:
                continue  # the model-level duplicate-id check: _check_ids reports every duplicate instead
            out.append((field, message, "unknown-field" if err["type"] == "extra_forbidden" else "schema"))
        return data, out
    return data, []


def _salvage(data: dict) -> _CaseParts:
    def strings(value: Any) -> list[tuple[int, str]]:
        return [(i, v) for i, v in enumerate(value) if isinstance(v, str)] if isinstance(value, list) else []

    items: list[_Item] = []
    ids: list[tuple[str, str]] = []
    counts: dict[str, int | None] = {}
    for kind, model in (("findings", Finding), ("traps", Trap)):
        raw = data.get(kind, [])
        counts[kind] = len(raw) if isinstance(raw, list) else None
        for i, entry in enumerate(raw if isinstance(raw, list) else []):
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                ids.append((f"{kind}[{i}].id", entry["id"]))
            try:
                items.append(_Item(kind, i, model.model_validate(entry)))
            except ValidationError:
                pass  # already reported by the whole-spec validation
    case_id = data.get("id")
    return _CaseParts(id=case_id if isinstance(case_id, str) else None,
                      tags=[t for _, t in strings(data.get("tags", []))], files=strings(data.get("files")),
                      items=items, ids=ids, n_findings=counts["findings"], n_traps=counts["traps"],
                      request=r if isinstance(r := data.get("request"), str) else "")


def _check_case(folder: Path, max_file_bytes: int, *, warnings: bool = True) -> tuple[str | None, list[Problem]]:
    """(case id if readable, problems) for one case folder. ``warnings`` False skips the yaml-portability check,
    which only warns and parses the file a second time with PyYAML's pure-Python loader (~30 ms a case: most of
    what checking a suite cost before every run, bench/bench_tools.py, issue #16)."""
    case_file = folder / "case.yaml"
    data, schema = _parse(case_file)
    parts = _salvage(data) if data is not None else None
    case_id = parts.id if parts and parts.id else folder.name
    problems: list[Problem] = []

    def add(severity: Literal["error", "warning"], field: str, message: str, code: str, item: str = "") -> None:
        problems.append(Problem(severity, str(case_file), field, message, code, case_id, item or case_id))

    for field, message, code in schema:
        add("error", field, message, code)
    if parts is None:
        return None, problems
    portability = _yaml_portability(case_file) if warnings else None
    if portability:
        add("warning", "", portability, "yaml-portability")

    if parts.id is not None and parts.id != folder.name:
        add("error", "id", f"folder name {folder.name!r} differs from id {parts.id!r}; expected them equal",
            "id-folder")
    _check_ids(parts, add)
    texts, listed = _check_files(folder, case_file, parts, max_file_bytes, add)
    for it in parts.items:
        _check_item(it, texts, listed, add, parts.request)
    _check_distinct([it for it in parts.items if it.kind == "findings"], add)
    _check_counts(parts, add)
    return parts.id, problems


def _check_ids(parts: _CaseParts, add) -> None:
    first: dict[str, str] = {}
    for field, item_id in parts.ids:
        if item_id in first:
            add("error", field, f"duplicate id {item_id!r} (also {first[item_id]}); expected finding and trap ids "
                "unique within a case", "duplicate-id", item_id)
        else:
            first[item_id] = field


def _check_files(folder: Path, case_file: Path, parts: _CaseParts, max_file_bytes: int,
                 add) -> tuple[dict[str, str], set[str]]:
    """Read every listed artifact; returns (texts of the readable ones, every listed path)."""
    texts: dict[str, str] = {}
    listed: set[str] = set()
    for i, rel in parts.files:
        if rel in listed:
            add("error", f"files[{i}]", f"{rel!r} is listed twice; expected each file once", "duplicate-file")
            continue
        listed.add(rel)
        try:
            texts[rel] = read_artifact(folder, rel, case_file=case_file, field=f"files[{i}]",
                                       max_bytes=max_file_bytes)
        except CaseError as e:
            add("error", f"files[{i}]", e.message, "bad-file")
    return texts, listed


def _anchor_occurs(anchor: str, haystack: str) -> bool:
    """True when the anchor, or the path of a route anchor written with its method ("GET /users/{id}"), occurs
    (case-insensitive) in ``haystack`` (already case-folded)."""
    a = anchor.strip().casefold()
    if a in haystack:
        return True
    path = route_path(anchor)
    return bool(path and path.casefold() in haystack)


def _check_item(it: _Item, texts: dict[str, str], listed: set[str], add, request: str = "") -> None:
    m = it.model
    loc = m.location
    for j, topic in enumerate(m.topics):
        if topic not in TOPICS:
            close = difflib.get_close_matches(topic, list(TOPICS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ";"
            add("error", f"{it.field}.topics[{j}]", f"unknown topic {topic!r}{hint} Expected one of: "
                f"{', '.join(sorted(TOPICS))}", "unknown-topic", m.id)
    if it.kind == "findings" and not m.topics:
        add("warning", f"{it.field}.topics", "no topics; expected 1-3 topics from harness.topics.TOPICS so that "
            "`harness suite` counts this finding's coverage", "no-topics", m.id)
    for name, values in (("keywords", m.keywords), ("anchors", m.anchors)):
        for j, v in enumerate(values):
            if not phrase(v):
                add("error", f"{it.field}.{name}[{j}]", f"blank {name[:-1]} {v!r} would match every review; "
                    "expected a word or phrase", "blank-evidence", m.id)
        for j, (v, w) in enumerate(zip(values, values[1:])):
            if any(v.count(o) > v.count(c) and w.count(c) > w.count(o) for o, c in ("()", "[]", "{}")):
                add("error", f"{it.field}.{name}[{j}]", f"{v!r} and the next {name[:-1]} {w!r} read as one phrase "
                    "split at its comma (an unquoted item of a YAML flow list [a, b]); expected the whole phrase as "
                    f"one quoted item: \"{v}, {w}\"", "split-evidence", m.id)

    if loc.file not in listed:
        add("error", f"{it.field}.location.file", f"{loc.file!r} is not one of the case's files; expected one of "
            f"{sorted(listed)}", "location-file", m.id)
        return
    text = texts.get(loc.file)
    if text is None:
        return  # unreadable artifact: already reported under files[i]
    lines = text.splitlines()
    start, end = loc.lines
    if end > len(lines):
        add("error", f"{it.field}.location.lines", f"lines [{start}, {end}] run past the end of {loc.file} "
            f"({len(lines)} lines); expected 1 <= start <= end <= {len(lines)}", "location-lines", m.id)
    elif loc.symbol is not None and loc.symbol not in "\n".join(lines[start - 1:end]):
        add("error", f"{it.field}.location.symbol", f"symbol {loc.symbol!r} does not occur in {loc.file} lines "
            f"{start}-{end}; expected it literally within location.lines", "location-symbol", m.id)
    # people point at a defect by names from any file of the case (a route defined in one file and handled in
    # another, a config key, table.column) or from the request: an anchor must occur in one of them
    folded = "\n".join([request, *texts.values()]).casefold()
    for j, anchor in enumerate(m.anchors):
        if anchor.strip() and not _anchor_occurs(anchor, folded):
            add("error", f"{it.field}.anchors[{j}]", f"anchor {anchor!r} does not occur in any file of the case "
                f"({', '.join(sorted(texts))}) nor in its request; expected every anchor literally "
                "(case-insensitive; a route may carry its method) in one of them", "anchor-missing", m.id)
    if it.kind == "findings" and start <= len(lines):
        lo, hi = max(1, start - LEAK_CONTEXT_LINES), min(len(lines), end + LEAK_CONTEXT_LINES)
        window = words("\n".join(lines[lo - 1:hi]))
        for j, kw in enumerate(m.keywords):
            if _occurs_in_words(kw, window):
                add("warning", f"{it.field}.keywords[{j}]", f"keyword {kw!r} already occurs in {loc.file} lines "
                    f"{lo}-{hi} (the location ±{LEAK_CONTEXT_LINES}), so a review quoting the code matches it for "
                    "free; expected keywords naming the defect that the code there does not contain",
                    "leaky-keyword", m.id)


def _check_distinct(findings: list[_Item], add) -> None:
    def norm(values: list[str]) -> set[str]:
        return {phrase(v) for v in values} - {""}

    for b_pos, b in enumerate(findings):
        for a in findings[:b_pos]:
            anchors = [v for v in b.model.anchors if phrase(v) in norm(a.model.anchors)]
            keywords = [v for v in b.model.keywords if phrase(v) in norm(a.model.keywords)]
            if anchors and keywords:
                add("warning", b.field, f"shares anchors {anchors} and keywords {keywords} with "
                    f"{a.field} ({a.model.id!r}), so a grader cannot tell them apart; expected the two findings to "
                    "differ in their anchors or in their keywords", "indistinct-findings", b.model.id)


def _check_counts(parts: _CaseParts, add) -> None:
    control = CONTROL_TAG in parts.tags
    n, traps = parts.n_findings, parts.n_traps
    lo, hi = FINDINGS_PER_CASE
    if n is not None:
        if n == 0 and not control:
            add("error", "findings", f"the case has no findings but is not tagged {CONTROL_TAG!r}; expected {lo}-{hi} "
                f"findings, or tags: [{CONTROL_TAG}] for a clean control case", "control-untagged")
        elif n > 0 and control:
            add("error", "tags", f"the case is tagged {CONTROL_TAG!r} but has {n} findings; expected a control case "
                f"to have 0 findings (or drop the {CONTROL_TAG!r} tag)", "control-with-findings")
        elif not control and not lo <= n <= hi:
            add("warning", "findings", f"{n} findings; expected {lo}-{hi} per case", "finding-count")
    if traps is not None:
        if control and not CONTROL_TRAPS[0] <= traps <= CONTROL_TRAPS[1]:
            add("warning", "traps", f"{traps} traps in a control case; expected {CONTROL_TRAPS[0]}-{CONTROL_TRAPS[1]}",
                "trap-count")
        elif not control and traps > MAX_TRAPS:
            add("warning", "traps", f"{traps} traps; expected at most {MAX_TRAPS} per case", "trap-count")


# ------------------------------------------------------------------------------------------------ the suite

def _stray_folders(root: Path) -> list[Problem]:
    """Folders under a suite root that hold files but belong to no case (e.g. a case.yml typo, a forgotten yaml)."""
    problems = []
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        if "case.yaml" in filenames:
            dirnames[:] = []  # a case folder: its subfolders are its own
            continue
        files = sorted(f for f in filenames if not f.startswith("."))
        if d != root and files:
            shown = ", ".join(files[:3]) + (", ..." if len(files) > 3 else "")
            problems.append(Problem("error", str(d), "", f"folder holds files ({shown}) but no case.yaml; expected "
                                    "every case folder to hold a case.yaml (named exactly so)", "no-case-yaml"))
            dirnames[:] = []  # one report per stray folder, not one per subfolder
    return problems


@dataclass(frozen=True)
class _Allowance:
    index: int
    case: str
    id: str
    code: str
    reason: str


def _find_allow_file(root: Path) -> Path | None:
    """The nearest validate-allow.yaml at or above ``root``, not looking above the project folder."""
    for d in (root, *root.parents):
        if (d / ALLOW_FILE).is_file():
            return d / ALLOW_FILE
        if (d / "pyproject.toml").is_file() or (d / ".git").exists():
            return None
    return None


def _load_allow(path: Path) -> tuple[list[_Allowance], list[Problem]]:
    def err(field: str, message: str) -> Problem:
        return Problem("error", str(path), field, message, "allow-file")

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, LookupError, TypeError, AttributeError,
            OverflowError, RecursionError) as e:
        return [], [err("", f"cannot read: {e}; expected a YAML list of {{case, id, code, reason}} entries")]
    if data is None:
        return [], []
    if not isinstance(data, list):
        return [], [err("", f"expected a YAML list of {{case, id, code, reason}} entries, got "
                        f"{type(data).__name__}")]
    keys = ("case", "id", "code", "reason")
    out, problems = [], []
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            problems.append(err(f"[{i}]", f"expected a mapping with keys {', '.join(keys)}, got {entry!r}"))
            continue
        bad = [err(f"[{i}].{k}", f"unknown key {k!r}; expected only {', '.join(keys)}") for k in entry if k not in keys]
        bad += [err(f"[{i}].{k}", f"expected a non-empty string, got {entry.get(k)!r}") for k in keys
                if not isinstance(entry.get(k), str) or not entry[k].strip()]
        problems += bad
        if not bad:
            out.append(_Allowance(i, entry["case"], entry["id"], entry["code"], entry["reason"].strip()))
    return out, problems


def _apply_allow(problems: list[Problem], root: Path, case_ids: set[str]) -> list[Problem]:
    allow_file = _find_allow_file(root.resolve())
    if allow_file is None:
        return problems
    allowances, out = _load_allow(allow_file)
    used: set[int] = set()
    for p in problems:
        if p.severity == "warning":
            hit = next((a for a in allowances if (a.case, a.id, a.code) == (p.case, p.item, p.code)), None)
            if hit is not None:
                used.add(hit.index)
                p = replace(p, explained=hit.reason)
        out.append(p)
    whole_suite = allow_file.parent == root.resolve()
    for a in allowances:
        if a.index in used or (a.case not in case_ids and not whole_suite):
            continue  # explains a case outside the validated folder: not judged here
        if a.case not in case_ids:
            why = f"there is no case {a.case!r} in the suite"
        elif a.code not in WARNING_CODES:
            why = f"{a.code!r} is not a warning code (warnings: {', '.join(sorted(WARNING_CODES - {'allow-unused'}))})"
        else:
            why = f"case {a.case!r} has no {a.code!r} warning on {a.id!r}"
        out.append(Problem("warning", str(allow_file), f"[{a.index}]", f"entry explains no current warning: {why}; "
                           "expected it removed or corrected", "allow-unused", a.case, a.id))
    return out


def _validate(path: str | Path, max_file_bytes: int) -> tuple[list[Problem], int]:
    root = Path(path)
    if root.name == "case.yaml" and root.is_file():
        root = root.parent
    dirs = discover_case_dirs(root)
    problems: list[Problem] = []
    if not (root / "case.yaml").is_file():
        problems += _stray_folders(root)
        if not dirs:
            problems.append(Problem("error", str(root), "", "no case.yaml found under this folder; expected a suite "
                                    "root or a case folder", "no-cases"))
    first: dict[str, Path] = {}
    for d in dirs:
        case_id, found = _check_case(d, max_file_bytes)
        problems += found
        if case_id is None:
            continue
        if case_id in first:
            problems.append(Problem("error", str(d / "case.yaml"), "id", f"case id {case_id!r} is also used by "
                                    f"{first[case_id] / 'case.yaml'}; expected ids unique across the suite",
                                    "duplicate-case-id", case_id, case_id))
        else:
            first[case_id] = d
    return _apply_allow(problems, root, set(first)), len(dirs)


def validate_path(path: str | Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Problem]:
    """Check every case under ``path`` (a suite root, a case folder, or a case.yaml) and return every problem.

    Order: errors of the allow file; folders holding files but no case.yaml; then each case in path order (schema,
    files, findings and traps, counts; a duplicate case id right after its case); last, allow entries that explain
    nothing. Warnings explained by ``validate-allow.yaml`` (the nearest one at or above ``path``, not above the
    project folder) come back with ``explained`` set.

    Returns:
        every :class:`Problem`; an empty list means the suite is clean.

    Raises:
        CaseError: when ``path`` does not exist.
    """
    return _validate(path, max_file_bytes)[0]


def case_errors(folder: str | Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Problem]:
    """The errors (not warnings) ``harness validate`` reports for one case folder: what ``harness run`` refuses to
    run (a finding at lines past the end of its file, an anchor that occurs nowhere...)."""
    return [p for p in _check_case(Path(folder), max_file_bytes, warnings=False)[1] if p.severity == "error"]


# --------------------------------------------------------------------------------------------------- coverage

def coverage(cases: Iterable[Case | CaseSpec]) -> dict[str, Any]:
    """Coverage numbers of a suite (what ``harness suite`` prints).

    Args:
        cases: loaded cases (or bare case specs).

    Returns:
        ``{"totals": {...}, "by_kind": ..., "by_category": ..., "by_severity": ..., "by_language": ...,
        "by_topic": ..., "unknown_topics": [...]}`` where

        - ``totals``: ``cases, findings, traps, control_cases, japanese_cases, japanese_share`` (0..1, 0.0 for
          an empty suite), ``topic_gaps`` (topics with fewer than 2 findings);
        - ``by_kind`` (every kind of the format) and ``by_language`` (``"ja"``, ``"en"``; a request with any
          Hiragana, Katakana or CJK character is Japanese): ``{key: {"cases", "findings", "traps"}}``;
        - ``by_category`` and ``by_severity`` (every value of the format): ``{key: {"cases", "findings"}}``,
          ``cases`` counting the cases with at least one such finding;
        - ``by_topic`` (every topic of harness.topics.TOPICS, in its order): ``{topic: {"cases", "findings",
          "traps", "gap"}}``, ``gap`` True when fewer than 2 findings cover it;
        - ``unknown_topics``: sorted topics used by findings or traps but absent from TOPICS (validation errors).
    """
    specs = [getattr(c, "spec", c) for c in cases]

    def rows(keys: Iterable[str], traps: bool = True) -> dict[str, dict[str, int]]:
        return {k: {"cases": 0, "findings": 0, **({"traps": 0} if traps else {})} for k in keys}

    by_kind, by_language = rows(KINDS), rows(("ja", "en"))
    by_category, by_severity = rows(CATEGORIES, traps=False), rows(SEVERITIES, traps=False)
    by_topic: dict[str, dict[str, Any]] = rows(TOPICS)
    unknown: set[str] = set()
    for s in specs:
        for row in (by_kind[s.kind], by_language["ja" if has_cjk(s.request) else "en"]):  # type: ignore[union-attr]  # specs are CaseSpecs here (the loaded cases' specs)
            row["cases"] += 1
            row["findings"] += len(s.findings)
            row["traps"] += len(s.traps)
        for table, attr in ((by_category, "category"), (by_severity, "severity")):
            for key in {getattr(f, attr) for f in s.findings}:
                table[key]["cases"] += 1
            for f in s.findings:
                table[getattr(f, attr)]["findings"] += 1
        case_topics: set[str] = set()
        for kind, items in (("findings", s.findings), ("traps", s.traps)):
            for it in items:
                for t in set(it.topics):
                    if t in by_topic:
                        by_topic[t][kind] += 1
                        case_topics.add(t)
                    else:
                        unknown.add(t)
        for t in case_topics:
            by_topic[t]["cases"] += 1
    for row in by_topic.values():
        row["gap"] = row["findings"] < MIN_FINDINGS_PER_TOPIC
    n = len(specs)
    ja = by_language["ja"]["cases"]
    totals = {"cases": n, "findings": sum(len(s.findings) for s in specs), "traps": sum(len(s.traps) for s in specs),
              "control_cases": sum(CONTROL_TAG in s.tags for s in specs), "japanese_cases": ja,
              "japanese_share": ja / n if n else 0.0, "topic_gaps": sum(r["gap"] for r in by_topic.values())}
    return {"totals": totals, "by_kind": by_kind, "by_category": by_category, "by_severity": by_severity,
            "by_language": by_language, "by_topic": by_topic, "unknown_topics": sorted(unknown)}


# -------------------------------------------------------------------------------------------------------- CLI

def _suite_path(args) -> tuple[Path, int]:
    from .config import load_config

    cfg = load_config(getattr(args, "root", None))
    given = getattr(args, "path", None) or getattr(args, "cases_dir", None)
    return (Path(given) if given else cfg.path(cfg.cases_dir)), cfg.max_file_bytes


def _shown(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def cli(args) -> int:
    """``harness validate [PATH] [--strict]``: print every problem and a summary line.

    Args:
        args: argparse namespace with ``path`` (None: the configured suite) and ``strict``.

    Returns:
        0 when there is no error (and, with ``strict``, no unexplained warning); 1 otherwise.

    Raises:
        CaseError: when PATH does not exist. ConfigError: invalid ``[tool.harness]``.
    """
    path, max_file_bytes = _suite_path(args)
    problems, n_cases = _validate(path, max_file_bytes)
    if getattr(args, "strict", False):
        problems = problems + parse_problems(path, max_file_bytes)
    for p in problems:
        print(replace(p, file=_shown(p.file)))
    errors = sum(p.severity == "error" for p in problems)
    explained = sum(p.explained is not None for p in problems)
    open_warnings = sum(p.severity == "warning" and p.explained is None for p in problems)
    failed = errors > 0 or (bool(getattr(args, "strict", False)) and open_warnings > 0)
    print(f"validate: {n_cases} case(s) in {_shown(str(path))}: {errors} error(s), {open_warnings} warning(s), "
          f"{explained} explained warning(s) -> {'FAIL' if failed else 'ok'}"
          + (" (--strict: warnings fail)" if getattr(args, "strict", False) else ""))
    if open_warnings:
        print(f"  explain a deliberate warning with a {{case, id, code, reason}} entry in {ALLOW_FILE} at the "
              "suite root")
    return ExitCode.FAILED if failed else ExitCode.OK


def parse_problems(path: str | Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Problem]:
    """``--strict``: every artifact of every loadable case under ``path`` that its format's parser rejects
    (:mod:`harness.artifacts_check`), as an error naming the artifact file (code ``artifact-parse``)."""
    import logging

    from .artifacts_check import parse_errors
    from .cases import load_case
    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "unsupported syntax, parsed as a command" is no error
    root = Path(path)
    out: list[Problem] = []
    folders = [root] if (root / "case.yaml").is_file() else sorted(p.parent for p in root.rglob("case.yaml"))
    for folder in folders:
        try:
            case = load_case(folder, max_file_bytes=max_file_bytes)
        except Exception:  # already reported by the schema checks
            continue
        for rel, msg in parse_errors(dict(case.artifacts), case.spec.tags):
            out.append(Problem("error", str(folder / rel), "", msg, "artifact-parse", case.id, case.id))
    return out


def cli_suite(args) -> int:
    """``harness suite [PATH]``: print coverage tables (rich) of the suite at PATH (default: the configured one).

    Cases that fail to load are listed and left out of the tables.

    Returns:
        0 when every case loaded; 1 when some case was left out.

    Raises:
        CaseError: when PATH does not exist or holds no case.yaml. ConfigError: invalid ``[tool.harness]``.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    path, max_file_bytes = _suite_path(args)
    cases, broken = [], []
    for d in discover_case_dirs(path):
        try:
            cases.append(load_case(d, max_file_bytes=max_file_bytes))
        except CaseError as e:
            broken.append(e)
    if not cases and not broken:
        raise CaseError("no case.yaml found under this folder; expected a suite root or a case folder", file=path)
    cov = coverage(cases)
    console = Console(highlight=False)

    def table(title: str, rows: dict[str, dict[str, Any]], columns: tuple[str, ...], label: str) -> Table:
        t = Table(title=title, title_justify="left")
        t.add_column(label)
        for c in columns:
            t.add_column(c, justify="right")
        for key, row in rows.items():
            t.add_row(key, *(str(row[c]) for c in columns))
        return t

    console.print(table("Per kind", cov["by_kind"], ("cases", "findings", "traps"), "kind"))
    console.print(table("Per category", cov["by_category"], ("cases", "findings"), "category"))
    console.print(table("Per severity", cov["by_severity"], ("cases", "findings"), "severity"))
    console.print(table("Per request language", cov["by_language"], ("cases", "findings", "traps"), "language"))
    topics = Table(title=f"Per topic (gap: fewer than {MIN_FINDINGS_PER_TOPIC} findings)", title_justify="left")
    for c, justify in (("topic", "left"), ("findings", "right"), ("traps", "right"), ("cases", "right"),
                       ("status", "left")):
        topics.add_column(c, justify=justify)  # type: ignore[arg-type]  # one of rich's justify values
    for topic, row in cov["by_topic"].items():
        topics.add_row(topic, str(row["findings"]), str(row["traps"]), str(row["cases"]),
                       "[red]GAP[/red]" if row["gap"] else "ok")
    console.print(topics)
    tot = cov["totals"]
    totals = Table(title="Totals", title_justify="left", show_header=False)
    totals.add_column("what")
    totals.add_column("value", justify="right")
    for label, value in (("cases", tot["cases"]), ("findings", tot["findings"]), ("traps", tot["traps"]),
                         ("control cases", tot["control_cases"]),
                         ("Japanese requests", f"{tot['japanese_cases']} ({tot['japanese_share']:.0%})"),
                         ("topic gaps", f"{tot['topic_gaps']} of {len(TOPICS)}")):
        totals.add_row(label, str(value))
    console.print(totals)
    if cov["unknown_topics"]:
        console.print(f"[yellow]unknown topics (not counted): {escape(', '.join(cov['unknown_topics']))}[/yellow]")
    for b in broken:
        console.print(f"[red]left out (does not load):[/red] {escape(str(b))}")
    return ExitCode.FAILED if broken else ExitCode.OK
