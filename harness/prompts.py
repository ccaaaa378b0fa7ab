"""Agent prompt versions in Claude Code's sub-agent format: YAML front matter, then the markdown body.

A version is named by a file path or ``git:REV:PATH`` (read with ``git show``, no checkout). Its fingerprint is
the sha256 of the body, the text actually sent as the system prompt.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import PromptError

FRONT_MATTER_FIELDS = {"name", "description", "model", "tools", "color"}


@dataclass(frozen=True)
class PromptVersion:
    """A loaded agent prompt.

    Attributes:
        spec: how the user named it (path or ``git:REV:PATH``).
        label: short name used in reports (``v1`` for ``.../v1.md``, ``v1@abc123`` for a git revision).
        name, description: from the front matter.
        body: the system prompt text (front matter removed, surrounding blank lines stripped).
        fingerprint: sha256 hex of ``body`` (UTF-8).
        meta: the whole front matter mapping.
    """

    spec: str
    label: str
    name: str
    description: str
    body: str
    fingerprint: str
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:12]


def parse_prompt(text: str, *, source: str, spec: str | None = None, label: str | None = None) -> PromptVersion:
    """Parse a sub-agent file's text.

    Raises:
        PromptError: no front matter, unterminated or malformed front matter, missing ``name``/``description``,
            unknown front-matter fields, or an empty body. The error names ``source`` and the field.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise PromptError("no front matter: expected the file to start with a '---' line, then YAML with name and "
                          "description, then '---'", file=source)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if end is None:
        raise PromptError("front matter is not closed: expected a second '---' line", file=source)
    try:
        meta = yaml.safe_load("".join(lines[1:end]))
    except yaml.YAMLError as e:
        raise PromptError(f"malformed YAML in front matter: {e}", file=source, field="front matter") from None
    except (ValueError, LookupError, TypeError, AttributeError, OverflowError, RecursionError) as e:
        # e.g. an impossible date, a bad !!int tag, or nesting deeper than the recursion limit
        raise PromptError(f"malformed YAML value in front matter: {e}", file=source, field="front matter") from None
    if not isinstance(meta, dict):
        raise PromptError("front matter must be a YAML mapping with name and description", file=source,
                          field="front matter")
    unknown = sorted(set(map(str, meta)) - FRONT_MATTER_FIELDS)
    if unknown:
        raise PromptError(f"unknown front-matter field(s) {unknown}; expected {sorted(FRONT_MATTER_FIELDS)}",
                          file=source, field=unknown[0])
    for key in ("name", "description"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise PromptError("expected a non-empty string", file=source, field=key)
    body = "".join(lines[end + 1:]).strip("\n")
    if not body.strip():
        raise PromptError("the body (system prompt) after the front matter is empty", file=source, field="body")
    spec = spec or source
    return PromptVersion(spec=spec, label=label or Path(source).stem, name=meta["name"],
                         description=meta["description"], body=body,
                         fingerprint=hashlib.sha256(body.encode("utf-8")).hexdigest(), meta=dict(meta))


def _read_git(spec: str, repo: Path) -> tuple[str, str]:
    parts = spec.split(":", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise PromptError(f"expected git:REV:PATH, got {spec!r}", field="--prompt")
    _, rev, path = parts
    try:
        out = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True, timeout=30)
    except FileNotFoundError:
        raise PromptError("git is not installed; cannot read a git:REV:PATH prompt", field="--prompt") from None
    if out.returncode != 0:
        err = out.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PromptError(f"git cannot read {path!r} at revision {rev!r}: {err[-1] if err else 'unknown error'}",
                          file=spec, field="--prompt")
    try:
        text = out.stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise PromptError("expected UTF-8 text", file=spec) from None
    short = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", rev], capture_output=True, text=True)
    rev_label = short.stdout.strip() or rev
    return text, f"{Path(path).stem}@{rev_label}"


def load_prompt(spec: str | Path, *, root: str | Path = ".") -> PromptVersion:
    """Load a prompt version from a path (relative to ``root``) or ``git:REV:PATH`` (git repo at ``root``).

    Raises:
        PromptError: missing file, non-UTF-8, unknown git revision, or any :func:`parse_prompt` error.
    """
    spec = str(spec)
    root = Path(root)
    if spec.startswith("git:"):
        text, label = _read_git(spec, root)
        return parse_prompt(text, source=spec, spec=spec, label=label)
    path = Path(spec)
    if not path.is_absolute():
        path = root / path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PromptError("prompt file does not exist", file=path, field="--prompt") from None
    except OSError as e:
        raise PromptError(f"cannot read prompt file: {e.strerror}", file=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PromptError(f"expected UTF-8 text, found an invalid byte at offset {e.start}", file=path) from None
    return parse_prompt(text, source=str(path), spec=spec, label=path.stem)
