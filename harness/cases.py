"""Cases: the suite's pydantic models and loaders (format: shared/calibration/CASE_FORMAT.md, v1).

A case is a folder ``<id>/`` holding ``case.yaml`` and the artifact files it names. Loading checks the schema
and reads every artifact (UTF-8 text, inside the case folder, under a size limit); the deeper checks a suite
author wants (anchors present, lines in range, leaky keywords...) live in :mod:`harness.validate`.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import CaseError

Severity = Literal["critical", "high", "medium", "low"]
Category = Literal["security", "data-integrity", "reliability", "performance", "scalability", "api-design",
                   "observability"]
Kind = Literal["api", "schema", "openapi", "infra", "design"]

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
CATEGORIES: tuple[str, ...] = ("security", "data-integrity", "reliability", "performance", "scalability",
                               "api-design", "observability")
KINDS: tuple[str, ...] = ("api", "schema", "openapi", "infra", "design")
KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DEFAULT_MAX_FILE_BYTES = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Strict):
    """Where a finding or trap lives: ``file`` (relative to the case folder), inclusive 1-based ``lines``."""

    file: str
    lines: tuple[int, int]
    symbol: str | None = None

    @field_validator("lines", mode="before")
    @classmethod
    def _pair(cls, v: object) -> object:
        # `lines: [26]` would otherwise read "lines[1]: required field is missing"
        if isinstance(v, (list, tuple)) and len(v) != 2:
            raise ValueError(f"expected [first, last] line numbers (one line: [{v[0]}, {v[0]}]), got {list(v)}"
                             if len(v) == 1 else f"expected [first, last] line numbers, got {list(v)}")
        return v

    @field_validator("lines")
    @classmethod
    def _ordered(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 1 or v[1] < v[0]:
            raise ValueError(f"expected [start, end] with 1 <= start <= end, got {list(v)}")
        return v


class _Item(_Strict):
    """What findings and traps share: a kebab-case id, a place, evidence for graders and a rubric for judges."""

    id: str
    title: str
    location: Location
    keywords: list[str] = Field(min_length=1)
    anchors: list[str] = Field(min_length=1)
    rubric: str
    topics: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _kebab(cls, v: str) -> str:
        if not KEBAB.match(v):
            raise ValueError(f"expected a kebab-case id, got {v!r}")
        return v


class Finding(_Item):
    """A planted defect that a good review reports."""

    severity: Severity
    category: Category
    cwe: str | None = None

    @field_validator("cwe")
    @classmethod
    def _cwe(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^CWE-\d+$", v):
            raise ValueError(f"expected CWE-<number>, got {v!r}")
        return v


class Trap(_Item):
    """Sound code that a careful reviewer must not report as a defect."""


class CaseSpec(_Strict):
    """The contents of ``case.yaml`` (schema only; artifacts are read by :func:`load_case`)."""

    id: str
    title: str
    kind: Kind
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    request: str
    files: list[str] = Field(min_length=1)
    findings: list[Finding] = Field(default_factory=list)
    traps: list[Trap] = Field(default_factory=list)

    _kebab = field_validator("id")(_Item._kebab.__func__)  # type: ignore[attr-defined]  # the classmethod's function, reused as this model's validator

    @model_validator(mode="after")
    def _unique_ids(self) -> "CaseSpec":
        seen: set[str] = set()
        for kind, items in (("findings", self.findings), ("traps", self.traps)):
            for i, item in enumerate(items):
                if item.id in seen:
                    raise ValueError(f"{kind}[{i}].id: duplicate id {item.id!r} (finding and trap ids must be "
                                     "unique within a case)")
                seen.add(item.id)
        return self


@dataclass(frozen=True)
class Case:
    """A loaded case: its spec, folder, and artifact texts in ``files`` order.

    Attributes:
        spec: the validated case.yaml.
        folder: the case folder.
        artifacts: ``(relative path, text)`` pairs, in the order of ``spec.files``.
        fingerprint: sha256 hex over case.yaml bytes and every artifact's bytes.
    """

    spec: CaseSpec
    folder: Path
    artifacts: tuple[tuple[str, str], ...]
    fingerprint: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def tags(self) -> list[str]:
        return list(self.spec.tags)

    @property
    def findings(self) -> list[Finding]:
        return list(self.spec.findings)

    @property
    def traps(self) -> list[Trap]:
        return list(self.spec.traps)

    def artifact(self, path: str) -> str:
        """Text of the artifact named ``path``. Raises KeyError when the case has no such file."""
        for p, text in self.artifacts:
            if p == path:
                return text
        raise KeyError(path)


def _fields_of(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _model_for_loc(loc: tuple) -> type[BaseModel]:
    model: type[BaseModel] = CaseSpec
    for part in loc:
        if part in ("findings",):
            model = Finding
        elif part == "traps":
            model = Trap
        elif part == "location":
            model = Location
    return model


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    """Turn a ValidationError into (field, message) pairs with did-you-mean hints for unknown fields."""
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = _format_loc(loc)
        if err["type"] == "extra_forbidden":
            name = str(loc[-1])
            known = _fields_of(_model_for_loc(loc[:-1]))
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append((field, f"unknown field {name!r}; expected one of {', '.join(known)}{hint}"))
        elif err["type"] == "literal_error":
            out.append((field, f"{err['msg']} (got {err.get('input')!r})"))
        elif err["type"] == "missing":
            out.append((field, "required field is missing"))
        elif err["type"] in ("tuple_type", "list_type") and loc and loc[-1] == "lines":
            # "Input should be a valid tuple (got 41)" does not say what a line range looks like
            out.append((field, f"expected a line range [first, last], e.g. [41, 47] (got {err.get('input')!r})"))
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            out.append((field, f"{msg} (got {err.get('input')!r})" if "got" not in msg else msg))
    return out


# libyaml's safe loader when PyYAML was built with it: the same documents, ~10x faster than the pure-Python
# one (25 case files: 0.06 s against 0.56 s), which a run pays at start before its first request
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_case_yaml(path: Path) -> CaseSpec:
    """Parse and validate a case.yaml (safe YAML only).

    Raises:
        CaseError: unreadable file, non-UTF-8, malformed YAML, or schema errors (all listed, each with its field).
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CaseError(f"cannot read: {e.strerror}", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CaseError(f"expected UTF-8 text, found an invalid byte at offset {e.start}", file=path) from None
    try:
        try:
            data = yaml.load(text, Loader=_SAFE_LOADER)
        except yaml.YAMLError:
            if _SAFE_LOADER is yaml.SafeLoader:
                raise
            # libyaml rejects what the pure-Python loader reads and validation then names by its field (a "\ud800"
            # escape in a title): the error the user sees comes from the reference loader
            data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise CaseError(f"malformed YAML: {e}", file=path) from None
    except (ValueError, LookupError, TypeError, AttributeError, OverflowError, RecursionError) as e:
        # safe_load builds dates, numbers and tagged scalars itself: "2024-13-01" or "!!int xyz" raise plain
        # Python errors, and deeply nested flow collections exhaust the recursion limit.
        raise CaseError(f"malformed YAML value: {type(e).__name__}: {str(e)[:200]}", file=path) from None
    if data is None:
        raise CaseError("the file is empty; expected a mapping with id, title, kind, request, files, findings",
                        file=path)
    if not isinstance(data, dict):
        raise CaseError(f"expected a mapping at the top level, got {type(data).__name__}", file=path)
    bad = surrogate_fields(data)
    if bad:
        raise CaseError(bad[0][1], file=path, field=bad[0][0])
    try:
        return CaseSpec.model_validate(data)
    except ValidationError as e:
        problems = _pydantic_errors(e)
        if len(problems) == 1:
            raise CaseError(problems[0][1], file=path, field=problems[0][0]) from None
        raise CaseError("; ".join(f"{f}: {m}" for f, m in problems), file=path) from None


def surrogate_fields(data: object) -> list[tuple[str, str]]:
    """``[(field, message)]`` for every string in a parsed case.yaml holding a lone surrogate (a YAML escape such
    as ``"\\ud83d"`` without its other half): UTF-8 cannot write it, so a run would fail when it records the case
    title or sends the request. Walks iteratively and visits each container once (YAML aliases can make cycles:
    ``a: &a [*a]``)."""
    from .textsafe import find_unsafe
    out: list[tuple[str, str]] = []
    seen: set[int] = set()
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            i = find_unsafe(value)
            if i is not None:
                out.append((path or "(value)", f"holds a lone surrogate (U+{ord(value[i]):04X} at character {i}), "
                            "half of a UTF-16 pair that UTF-8 cannot store; expected whole characters (write the "
                            "character itself, or its \\UXXXXXXXX escape)"))
        elif isinstance(value, (dict, list)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            items = (value.items() if isinstance(value, dict) else
                     ((f"[{i}]", v) for i, v in enumerate(value)))
            children = []
            for k, v in items:
                if isinstance(value, dict):
                    children.append((f"{path}.{k}" if path else str(k), v))
                else:
                    children.append((f"{path}{k}", v))
            stack.extend(reversed(children))
    return out


def read_artifact(folder: Path, rel: str, *, case_file: Path, field: str,
                  max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """Read one artifact of a case safely.

    Refuses absolute paths, ``..`` escapes (including through symlinks), missing files, files over
    ``max_bytes``, binary files (a NUL byte), non-UTF-8 and empty files.

    Raises:
        CaseError: naming the case.yaml, the ``files[i]`` field and what was expected.
    """
    if not rel or Path(rel).is_absolute() or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        raise CaseError(f"expected a path relative to the case folder, got {rel!r}", file=case_file, field=field)
    if ".." in Path(rel).parts:
        raise CaseError(f"path {rel!r} leaves the case folder; expected a file inside it", file=case_file,
                        field=field)
    target = folder / rel
    if "\x00" in rel:
        raise CaseError(f"path {rel!r} contains a NUL character; expected a file name", file=case_file, field=field)
    try:
        resolved = target.resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError, ValueError):
        raise CaseError(f"file {rel!r} does not exist in {folder}", file=case_file, field=field) from None
    if not resolved.is_relative_to(folder.resolve()):
        raise CaseError(f"{rel!r} is a link leading out of the case folder (to {resolved}); expected a file "
                        "inside it", file=case_file, field=field)
    if not resolved.is_file():
        raise CaseError(f"{rel!r} is not a regular file", file=case_file, field=field)
    size = resolved.stat().st_size
    if size > max_bytes:
        raise CaseError(f"{rel!r} is {size} bytes, over the limit of {max_bytes} bytes (max_file_bytes)",
                        file=case_file, field=field)
    data = resolved.read_bytes()
    if not data.strip():
        raise CaseError(f"{rel!r} is empty; expected the artifact's text", file=case_file, field=field)
    if b"\x00" in data:
        raise CaseError(f"{rel!r} is binary (contains NUL bytes); expected UTF-8 text", file=case_file,
                        field=field)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CaseError(f"{rel!r} is not UTF-8 (invalid byte at offset {e.start}); expected UTF-8 text",
                        file=case_file, field=field) from None


def load_case(folder: str | Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> Case:
    """Load one case folder.

    Raises:
        CaseError: on any schema or artifact problem, or when the folder name differs from the id.
    """
    folder = Path(folder)
    case_file = folder / "case.yaml"
    if not case_file.is_file():
        raise CaseError("no case.yaml in this folder; expected one case per folder", file=folder)
    spec = parse_case_yaml(case_file)
    if folder.name != spec.id:
        raise CaseError(f"folder name {folder.name!r} differs from id {spec.id!r}; expected them equal",
                        file=case_file, field="id")
    h = hashlib.sha256(case_file.read_bytes())
    artifacts = []
    seen: set[str] = set()
    for i, rel in enumerate(spec.files):
        if rel in seen:
            raise CaseError(f"{rel!r} is listed twice", file=case_file, field=f"files[{i}]")
        seen.add(rel)
        text = read_artifact(folder, rel, case_file=case_file, field=f"files[{i}]", max_bytes=max_file_bytes)
        artifacts.append((rel, text))
        h.update(b"\0" + rel.encode() + b"\0" + text.encode())
    for kind, items in (("findings", spec.findings), ("traps", spec.traps)):
        for i, item in enumerate(items):
            if item.location.file not in seen:
                raise CaseError(f"{item.location.file!r} is not one of the case's files ({', '.join(spec.files)})",
                                file=case_file, field=f"{kind}[{i}].location.file")
    return Case(spec=spec, folder=folder, artifacts=tuple(artifacts), fingerprint=h.hexdigest())


def discover_case_dirs(root: str | Path) -> list[Path]:
    """Every folder under ``root`` holding a case.yaml, sorted by path. ``root`` may itself be a case folder."""
    root = Path(root)
    if (root / "case.yaml").is_file():
        return [root]
    if not root.is_dir():
        raise CaseError("cases folder does not exist", file=root)
    return sorted(p.parent for p in root.rglob("case.yaml"))


def load_suite(root: str | Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> list[Case]:
    """Load every case under ``root``.

    Raises:
        CaseError: for the first broken case (use :mod:`harness.validate` to list every problem), for duplicate
            ids across the suite, or when no case is found.
    """
    cases, broken = load_suite_lenient(root, max_file_bytes=max_file_bytes)
    if broken:
        raise broken[0].error
    return cases


@dataclass(frozen=True)
class BrokenCase:
    """A case folder that does not load: ``folder``, the ``error`` (naming case.yaml and the field) and the names a
    ``--cases`` selector could mean it by (``names``: folder name, and whatever of id, tags and kind its
    case.yaml still says), so a run can tell whether it was selected."""

    folder: Path
    error: CaseError
    names: frozenset[str]


def _names_of(folder: Path) -> frozenset[str]:
    names = {folder.name}
    try:
        data = yaml.load((folder / "case.yaml").read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except Exception:  # noqa: BLE001 - best effort: the folder name is always a name
        return frozenset(names)
    if isinstance(data, dict):
        for key in ("id", "kind"):
            if isinstance(data.get(key), str):
                names.add(data[key])
        if isinstance(data.get("tags"), list):
            names.update(t for t in data["tags"] if isinstance(t, str))
    return frozenset(names)


def load_suite_lenient(root: str | Path, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
                       ) -> tuple[list[Case], list[BrokenCase]]:
    """Load every case under ``root`` that loads, and describe the others, so that one broken case does not stop
    a run of other cases selected by id (the run decides with :attr:`BrokenCase.names` whether it was selected).

    Raises:
        CaseError: for duplicate ids across the cases that load, or when no case.yaml is found.
    """
    cases: list[Case] = []
    broken: list[BrokenCase] = []
    for d in discover_case_dirs(root):
        try:
            cases.append(load_case(d, max_file_bytes=max_file_bytes))
        except CaseError as e:
            broken.append(BrokenCase(d, e, _names_of(d)))
    if not cases and not broken:
        raise CaseError("no case.yaml found under this folder", file=root)
    ids: dict[str, Path] = {}
    for c in cases:
        if c.id in ids:
            raise CaseError(f"duplicate case id {c.id!r} (also in {ids[c.id]})", file=c.folder / "case.yaml",
                            field="id")
        ids[c.id] = c.folder
    return cases, broken


def select_cases(cases: Iterable[Case], selector: str | None) -> list[Case]:
    """Filter cases by a comma-separated selector of case ids, tags or kinds; ``all``/None/'' keeps everything.

    Raises:
        CaseError: when a term matches no case (a typo must not silently run nothing).
    """
    cases = list(cases)
    if selector is None or selector.strip() == "all":
        return cases
    terms = [t.strip() for t in selector.split(",") if t.strip()]
    if not terms:
        raise CaseError(f"{selector!r} names no case; expected case ids, tags or kinds separated by commas, or 'all'",
                        field="--cases")
    chosen: list[Case] = []
    for term in terms:
        hits = [c for c in cases if c.id == term or term in c.spec.tags or c.kind == term]
        if not hits:
            known = sorted({c.id for c in cases} | {t for c in cases for t in c.spec.tags} | set(KINDS))
            close = difflib.get_close_matches(term, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise CaseError(f"{term!r} matches no case id, tag or kind{hint}", field="--cases")
        for c in hits:
            if c not in chosen:
                chosen.append(c)
    return chosen


def suite_fingerprint(cases: Iterable[Case]) -> str:
    """sha256 over the sorted case fingerprints: changes whenever any case or artifact changes."""
    h = hashlib.sha256()
    for fp in sorted(c.fingerprint for c in cases):
        h.update(fp.encode())
    return h.hexdigest()
