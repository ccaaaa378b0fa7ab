"""Parse a case's artifacts with the parsers their formats have in Python: the ``--strict`` check of
``harness validate`` (an artifact that does not parse is not the code a reviewer would see in production).

Formats: YAML (``.yaml``/``.yml``, every document), JSON, Python (``ast``), SQL (``sqlglot``, dialect from the
case's tags: ``mysql`` -> MySQL, ``postgresql`` -> PostgreSQL), OpenAPI documents (a YAML/JSON document with an
``openapi`` or ``swagger`` key: ``openapi-spec-validator``) and HCL (``.tf``/``.hcl``: ``python-hcl2``). Other
formats are not checked here (their parsers are not Python packages: javac, tsc, gofmt, nginx -t), nor is a
``.yaml`` file holding Go template actions (``{{ ... }}``: a Helm chart's templates), which is YAML only once
``helm template`` has rendered it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import PurePosixPath

import yaml

__all__ = ["parse_errors", "CHECKED_SUFFIXES"]

CHECKED_SUFFIXES = (".yaml", ".yml", ".json", ".py", ".sql", ".tf", ".hcl")

# a Go template action as Helm charts write them: "{{ .Values.x }}", "{{- include "x" . | nindent 4 }}"
_GO_ACTION_RE = re.compile(r"\{\{-?\s*(?:[.$]|/\*|if\b|else\b|end\b|range\b|with\b|define\b|template\b|include\b|"
                           r"toYaml\b|tpl\b|required\b|default\b|quote\b)")


def _sql_dialect(tags) -> str | None:
    tags = {t.lower() for t in tags or []}
    if "mysql" in tags or "mariadb" in tags:
        return "mysql"
    if "postgresql" in tags or "postgres" in tags:
        return "postgres"
    return None


def parse_errors(files: dict[str, str], tags=()) -> list[tuple[str, str]]:
    """Parse every artifact of a checked format.

    Args:
        files: artifact path (relative, as in case.yaml) -> text.
        tags: the case's tags (they choose the SQL dialect).
    Returns:
        ``[(path, message)]`` for every artifact that does not parse, the message naming the line where the
        parser gives one; ``[]`` when all parse. SQL is skipped (one entry saying so) when sqlglot is missing.
    """
    out: list[tuple[str, str]] = []
    for path, text in files.items():
        suffix = PurePosixPath(path).suffix.lower()
        try:
            if suffix in (".yaml", ".yml"):
                if _GO_ACTION_RE.search(text):
                    continue   # a Go/Helm template, not YAML until rendered (module docstring)
                docs = list(yaml.safe_load_all(text))
                if len(docs) == 1 and isinstance(docs[0], dict):
                    err = _openapi_error(docs[0])
                    if err:
                        out.append((path, err))
            elif suffix == ".json":
                doc = json.loads(text)
                err = _openapi_error(doc) if isinstance(doc, dict) else None
                if err:
                    out.append((path, err))
            elif suffix in (".tf", ".hcl"):
                err = _hcl_error(text)
                if err:
                    out.append((path, err))
            elif suffix == ".py":
                ast.parse(text, filename=path)
            elif suffix == ".sql":
                err = _sql_error(text, _sql_dialect(tags))
                if err:
                    out.append((path, err))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            out.append((path, f"YAML does not parse{f' at line {mark.line + 1}' if mark else ''}: "
                              f"{getattr(e, 'problem', None) or e}"))
        except json.JSONDecodeError as e:
            out.append((path, f"JSON does not parse at line {e.lineno}: {e.msg}"))
        except SyntaxError as e:
            out.append((path, f"Python does not parse at line {e.lineno}: {e.msg}"))
    return out


def _sql_error(text: str, dialect: str | None) -> str | None:
    try:
        import sqlglot
        from sqlglot.errors import ParseError, TokenError
    except ImportError:  # pragma: no cover - sqlglot is a dependency
        return "not checked: sqlglot is not installed"
    try:
        sqlglot.parse(text, read=dialect)
    except (ParseError, TokenError) as e:
        first = str(e).splitlines()[0]
        return f"SQL ({dialect or 'generic'}) does not parse: {first[:300]}"
    return None


def _openapi_error(doc: dict) -> str | None:
    """The first validation error of an OpenAPI 3.x / Swagger 2.0 document, None when valid or not OpenAPI."""
    if "openapi" not in doc and "swagger" not in doc:
        return None
    try:
        from openapi_spec_validator import validate
    except ImportError:  # pragma: no cover - a dependency
        return "OpenAPI not checked: openapi-spec-validator is not installed"
    try:
        validate(doc)
    except Exception as e:  # OpenAPIValidationError and friends; their messages name the path in the document
        path = "/".join(str(x) for x in getattr(e, "absolute_path", []) or [])
        first = (str(e).splitlines() or [type(e).__name__])[0][:300]
        hint = ""
        if not isinstance(doc.get("openapi", doc.get("swagger")), str):
            hint = " (the version must be a quoted string, e.g. openapi: \"3.0.3\")"
        return f"OpenAPI document is invalid{f' at {path}' if path else ''}: {first}{hint}"
    return None


def _hcl_error(text: str) -> str | None:
    try:
        import hcl2
    except ImportError:  # pragma: no cover - a dependency
        return "HCL not checked: python-hcl2 is not installed"
    try:
        hcl2.loads(text)
    except Exception as e:  # lark's UnexpectedInput and friends carry the line
        line = getattr(e, "line", None)
        return f"HCL does not parse{f' at line {line}' if line else ''}: {str(e).splitlines()[0][:300]}"
    return None
