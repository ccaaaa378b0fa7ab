"""The run directory: ``run.json`` (manifest) and ``samples.jsonl`` (one record per sample, append-only).

Records are appended and flushed one by one, so a crash loses at most the sample in flight; a torn last line
is detected on read, reported and dropped. The manifest is rewritten atomically (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .errors import RecordError
from .graders.base import SampleGrade
from .textio import atomic_write_json

MANIFEST = "run.json"
SAMPLES = "samples.jsonl"
SUMMARY = "summary.json"


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class PromptInfo(BaseModel):
    label: str
    spec: str
    name: str
    fingerprint: str


class ModelInfo(BaseModel):
    name: str
    provider: str
    base_url: str | None = None
    generation: dict = Field(default_factory=dict)


class RunManifest(BaseModel):
    """``run.json``: what a run was asked to do and how it ended.

    ``status`` is ``running`` until the runner finishes, then ``complete`` or ``incomplete`` (budget reached,
    errors, interrupted); ``summary`` holds counts (samples, errors, retries, tokens, cost_usd). ``kind`` is
    ``nightly`` (``harness nightly``: the dashboard's history) or ``adhoc`` (``harness run``, ``pytest evals``:
    left out of the dashboard); None in runs written before it was recorded (read as nightly).
    """

    model_config = ConfigDict(extra="allow")

    run_id: str
    harness_version: str = __version__
    git_commit: str | None = None
    created_at: str = Field(default_factory=utcnow)
    started_at: str | None = None
    ended_at: str | None = None
    status: str = "running"
    status_reason: str | None = None
    kind: str | None = None
    # prompt versions given under several names with identical contents: the label run -> the other labels
    prompt_aliases: dict[str, list[str]] = Field(default_factory=dict)
    suite_fingerprint: str = ""
    cases: list[str] = Field(default_factory=list)
    prompts: list[PromptInfo] = Field(default_factory=list)
    models: list[ModelInfo] = Field(default_factory=list)
    epochs: int = 1
    graders: list[str] = Field(default_factory=list)
    # the LLM judge's model when a judge grades the run (a resume grades the rest with the same judge)
    judge_model: str | None = None
    config: dict = Field(default_factory=dict)
    summary: dict = Field(default_factory=dict)


class SampleError(BaseModel):
    kind: str
    message: str
    status: int | None = None


class SampleRecord(BaseModel):
    """One line of ``samples.jsonl``: a case × prompt version × model × epoch, its review and its grades.

    Units: ``latency_s``, ``queue_s``, ``server_s`` seconds; ``cost_usd`` US dollars; token counts in ``usage``.
    ``error`` is None when the sample succeeded; an errored sample has ``review`` None and is never graded.
    """

    model_config = ConfigDict(extra="allow")

    sample_id: str
    case: str
    case_fingerprint: str = ""
    kind: str = ""
    tags: list[str] = Field(default_factory=list)
    prompt_version: str
    prompt_fingerprint: str
    model: str
    epoch: int
    request_fingerprint: str = ""
    generation: dict = Field(default_factory=dict)
    review: str | None = None
    stop_reason: str | None = None
    usage: dict = Field(default_factory=dict)
    cost_usd: float | None = None
    latency_s: float | None = None
    # seconds this sample waited for a request slot (the harness's concurrency limit, a local server's busy slot),
    # kept apart from latency_s, which runs from sending the request to its answer
    queue_s: float | None = None
    server_s: float | None = None       # compute time the server reported (llama.cpp's timings), seconds
    max_tokens_sent: int | None = None  # max_tokens as sent, when fitted to a local server's context
    cached: bool = False
    # temperature 0: this epoch's answer is the one request its case made in this session (not a new sample)
    reused: bool = False
    retries: int = 0
    error: SampleError | None = None
    # ok | truncated | refused | empty | error (harness.outcomes); None on records written before outcomes were
    outcome: str | None = None
    # lone surrogates (and other text that cannot be written as UTF-8) replaced by U+FFFD in the reply, with
    # the count, so the record says its text was altered (harness.textsafe)
    text_replaced: int = 0
    # non-text blocks of the reply (types in order; tool_use name and input): kept, never graded
    blocks: list[str] | None = None
    tool_use: list[dict] | None = None
    grades: dict[str, SampleGrade] = Field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None


def _json_line(record: SampleRecord) -> str:
    """One JSON line for ``record``. Text UTF-8 cannot carry (a lone surrogate, e.g. in an error message a server
    sent) is replaced by U+FFFD and counted in ``text_replaced`` instead of failing the write."""
    return _encoded(record)[0]


def _encoded(record: SampleRecord) -> tuple[str, SampleRecord]:
    """(:func:`_json_line` of ``record``, the record that line holds: ``record`` itself unless text had to be
    replaced)."""
    try:
        return record.model_dump_json() + "\n", record   # the common case: one pass, no copy
    except (ValueError, UnicodeError):                   # PydanticSerializationError is a ValueError
        pass
    from .textsafe import safe_obj
    data, n = safe_obj(record.model_dump(mode="python"))
    data["text_replaced"] = int(data.get("text_replaced") or 0) + n
    safe = SampleRecord.model_validate(data)
    return safe.model_dump_json() + "\n", safe


def sample_id(case: str, prompt_fingerprint: str, model: str, epoch: int) -> str:
    """Deterministic id of a sample: sha256 of case id, prompt fingerprint, model name and epoch (16 hex)."""
    raw = json.dumps([case, prompt_fingerprint, model, epoch]).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def git_commit(cwd: str | Path = ".") -> str | None:
    """The current commit of the repo at ``cwd`` (with ``+dirty`` when the tree has changes), or None."""
    try:
        rev = subprocess.run(["git", "-C", str(cwd), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(cwd), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@dataclass
class RecordsRead:
    """What :meth:`RunDir.read_samples` found: valid records (last record per sample id wins), and problems."""

    records: list[SampleRecord]
    torn_tail: bool = False
    bad_lines: list[tuple[int, str]] = field(default_factory=list)

    def damage(self) -> list[str]:
        """One sentence per problem of the file (a torn last line, each invalid line), in the words every reader of
        a run (resume, re-grade, results) reports them with; empty when the file was clean."""
        out = ["dropped a torn last line of samples.jsonl (a run was interrupted mid-write)"] if self.torn_tail else []
        out += [f"dropped invalid line {lineno} of samples.jsonl: {why}" for lineno, why in self.bad_lines]
        return out


class RunDir:
    """A run directory on disk. Create with :meth:`create`, reopen with :meth:`open`."""

    def __init__(self, path: Path, manifest: RunManifest):
        self.path = Path(path)
        self.manifest = manifest

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    @classmethod
    def create(cls, path: str | Path, manifest: RunManifest) -> "RunDir":
        """Make the folder and write the manifest. Raises RecordError when a run already lives there."""
        path = Path(path)
        if (path / MANIFEST).exists():
            raise RecordError("a run already exists here; resume it or choose another --run-dir", file=path)
        if path.exists() and not path.is_dir():
            raise RecordError("exists and is not a folder; expected a new or empty folder for the run", file=path,
                              field="--run-dir")
        if path.is_dir() and any(path.iterdir()):
            raise RecordError("folder is not empty and holds no run.json; expected a new or empty folder for the run",
                              file=path, field="--run-dir")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RecordError(f"cannot create the run folder: {e.strerror}", file=path, field="--run-dir") from None
        rd = cls(path, manifest)
        rd.write_manifest()
        return rd

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """Open an existing run. Raises RecordError when run.json is missing or invalid."""
        path = Path(path)
        mp = path / MANIFEST
        if not mp.is_file():
            raise RecordError(f"not a run directory: no {MANIFEST}", file=path)
        try:
            manifest = RunManifest.model_validate_json(mp.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as e:
            raise RecordError(f"invalid manifest: {e}", file=mp) from None
        return cls(path, manifest)

    @staticmethod
    def exists(path: str | Path) -> bool:
        return (Path(path) / MANIFEST).is_file()

    def write_manifest(self) -> None:
        atomic_write_json(self.path / MANIFEST, self.manifest.model_dump(mode="json"))

    def repair(self) -> RecordsRead:
        """Drop a torn last line (crash mid-append) so later appends start on a clean line; returns what was read."""
        res = self.read_samples()
        if res.torn_tail or res.bad_lines:
            self.rewrite(res.records)
        return res

    def append(self, record: SampleRecord) -> SampleRecord:
        """Append one record as a JSON line, flushed to the OS before returning; returns the record as written
        (``record`` itself unless text UTF-8 cannot carry was replaced), which is what a later read gives back.

        Flushed, not fsynced: a killed process loses nothing the OS already holds, and an fsync per record
        (~5 ms, blocking the event loop) made the runner 2× slower than a bare SDK loop. :meth:`sync` makes the
        file durable against power loss; the runner calls it at the end of a run."""
        line, written = _encoded(record)
        with open(self.samples_path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
        return written

    def sync(self) -> None:
        """fsync samples.jsonl (durable against a machine crash, not only a process kill)."""
        if self.samples_path.exists():
            with open(self.samples_path, "rb") as fh:
                os.fsync(fh.fileno())

    def rewrite(self, records: Iterable[SampleRecord]) -> None:
        """Replace samples.jsonl atomically (used after re-grading and to drop torn lines)."""
        data = "".join(_json_line(r) for r in records)
        from .textio import atomic_write_text
        atomic_write_text(self.samples_path, data)

    def read_samples(self) -> RecordsRead:
        """Read and validate every record. A last line without its newline, or not valid JSON, is a torn tail
        (reported, dropped); an invalid line elsewhere is reported in ``bad_lines`` and dropped."""
        if not self.samples_path.exists():
            return RecordsRead(records=[])
        raw = self.samples_path.read_bytes()
        lines = raw.split(b"\n")
        complete_last = raw.endswith(b"\n")
        if complete_last:
            lines = lines[:-1]
        by_id: dict[str, SampleRecord] = {}
        torn = False
        bad: list[tuple[int, str]] = []
        for i, line in enumerate(lines):
            is_last = i == len(lines) - 1
            if not line.strip():
                continue
            try:
                rec = SampleRecord.model_validate_json(line)
            except (ValidationError, ValueError) as e:
                if is_last:
                    torn = True
                else:
                    bad.append((i + 1, str(e).splitlines()[0]))
                continue
            if is_last and not complete_last:
                torn = True  # whole JSON but no newline: keep it, and repair() rewrites the file cleanly
            by_id[rec.sample_id] = rec
        return RecordsRead(records=list(by_id.values()), torn_tail=torn, bad_lines=bad)

    def lock(self) -> "RunLock":
        """Hold the run for this process: a second writer gets RecordError instead of interleaving records."""
        return RunLock(self.path / ".lock")


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``<run>/.lock`` for the duration of a ``with`` block. The kernel
    releases it when the process dies, so a killed run never leaves a stale lock behind.

    Raises:
        RecordError: on enter, when another process holds the run.
    """

    def __init__(self, path: Path):
        self.path = path
        self._fh: IO[str] | None = None

    def __enter__(self) -> "RunLock":
        import fcntl
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise RecordError("another harness process is writing this run; wait for it or choose another --run-dir",
                              file=self.path.parent) from None
        return self

    def __exit__(self, *exc) -> None:
        import fcntl
        assert self._fh is not None      # set by __enter__
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()
