"""Parse a case's artifacts with the parsers their formats have in Python: the ``--strict`` check of
``harness validate`` (an artifact that does not parse is not the code a reviewer would see in production).

Formats: YAML (``.yaml``/``.yml``, every document), JSON, Python (``ast``), SQL (``sqlglot``, dialect from the
case's tags: ``mysql`` -> MySQL, ``postgresql`` -> PostgreSQL). Other formats are not checked here (their
parsers are not Python packages: javac, tsc, gofmt, nginx -t, terraform fmt).
"""

from __future__ import annotations

import ast
import json
from pathlib import PurePosixPath

import yaml

__all__ = ["parse_errors", "CHECKED_SUFFIXES"]

CHECKED_SUFFIXES = (".yaml", ".yml", ".json", ".py", ".sql")


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
                list(yaml.safe_load_all(text))
            elif suffix == ".json":
                json.loads(text)
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
