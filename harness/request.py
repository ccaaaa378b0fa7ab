"""The user message sent to the agent: the case's request, then each artifact in a fenced block headed by its path.

The layout lives in the jinja2 template ``templates/request.md.j2`` shipped in the package.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import lru_cache
from pathlib import PurePosixPath

import jinja2

from .cases import Case

_LANGS = {".py": "python", ".ts": "typescript", ".js": "javascript", ".go": "go", ".java": "java",
          ".sql": "sql", ".yaml": "yaml", ".yml": "yaml", ".json": "json", ".md": "markdown",
          ".graphql": "graphql", ".tf": "hcl", ".conf": "nginx", ".toml": "toml", ".kt": "kotlin",
          ".rb": "ruby", ".rs": "rust", ".sh": "bash", ".dockerfile": "dockerfile"}


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside the artifact, so the artifact cannot close it early.
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _lang(path: str) -> str:
    p = PurePosixPath(path)
    if p.name.lower() == "dockerfile":
        return "dockerfile"
    return _LANGS.get(p.suffix.lower(), "")


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.PackageLoader("harness", "templates"), autoescape=False,
                             keep_trailing_newline=False, undefined=jinja2.StrictUndefined)
    return env.get_template("request.md.j2")


def render_request(case: Case) -> str:
    """The user message for ``case`` (markdown text)."""
    return _template().render(request=case.spec.request, artifacts=case.artifacts, fence=_fence, lang=_lang)


def request_fingerprint(system: str, messages: list[dict]) -> str:
    """sha256 hex of the system prompt and messages: identical requests share it."""
    return hashlib.sha256(json.dumps([system, messages], ensure_ascii=False).encode("utf-8")).hexdigest()
