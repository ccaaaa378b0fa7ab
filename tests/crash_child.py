"""A child process for the crash/resume tests, plus the small project helpers those tests share.

As a script, ``python tests/crash_child.py <harness CLI arguments>`` runs ``harness.cli.main`` after installing
crash hooks chosen by environment variables (the hooks monkeypatch the package in this process only; nothing in
``harness`` knows about them). Each hook ends the process with SIGKILL at a precise point:

* ``CRASH_AFTER_APPENDS=N``: right after the N-th record was appended (and fsynced) to samples.jsonl;
* ``CRASH_TORN_APPEND=N``: in the N-th append, after writing only the first half of the line (no newline);
* ``CRASH_IN_CACHE_PUT=N``: inside the N-th ``ResponseCache.put``, halfway through writing the entry's temp file;
* ``CRASH_AFTER_CACHE_PUT=N``: right after the N-th ``ResponseCache.put`` returned (the record is not appended yet);
* ``CRASH_IN_REPORT=1``: while the report is being written (halfway through the first report file);
* ``CRASH_IN_MANIFEST_WRITE=N``: halfway through the N-th write of run.json (3 = the final one, after every sample);
* ``CRASH_AFTER_BATCH_CREATE=1``: right after the message batch id was stored in the run directory.

``CHILD_NO_REPORT=1`` (not a crash) makes ``harness run`` skip writing the report, for tests about something else;
``CHILD_BARRIER_DIR``/``CHILD_BARRIER_N`` make N children start their runs at the same moment.

The fake server lives in the parent (the test), so its counters survive the kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "anthropic/claude-sonnet-4-5"
MODEL_ID = "claude-sonnet-4-5"
PROMPT_TEXT = "---\nname: reviewer\ndescription: reviews backend code\n---\nYou review backend code for defects.\n"
PRICES = {"claude-sonnet-4-5": {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.30}}


# ---------------------------------------------------------------------------------------------------------------
# Helpers for the tests (run in the parent)


def _toml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_scalar(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def to_toml(table: dict, prefix: str) -> str:
    """A TOML document holding ``table`` at ``prefix`` (scalars, lists and nested tables)."""
    out = [f"[{prefix}]"]
    subs = []
    for k, v in table.items():
        if isinstance(v, dict):
            subs.append((k, v))
        else:
            out.append(f"{_toml_key(k)} = {_toml_scalar(v)}")
    text = "\n".join(out) + "\n"
    for k, v in subs:
        text += "\n" + to_toml(v, f"{prefix}.{_toml_key(k)}")
    return text


def write_project(root: Path, n_cases: int = 0, **harness) -> Path:
    """A self-contained harness project under ``root``: pyproject.toml with ``[tool.harness]`` (fast retries,
    relative folders, prices), prompt.md, and ``n_cases`` small synthetic cases ``case-00``… Returns ``root``."""
    from tests.conftest import write_case

    root.mkdir(parents=True, exist_ok=True)
    table = {"cases_dir": "cases", "prompts": ["prompt.md"], "runs_root": "runs", "reports_dir": "reports",
             "concurrency": 4, "max_retries": 8, "request_timeout_s": 5.0, "retry_backoff_base_s": 0.001,
             "retry_backoff_max_s": 0.05, "generation": {"temperature": 0.0, "max_tokens": 512},
             "prices": PRICES}
    table.update(harness)
    (root / "pyproject.toml").write_text("[project]\nname = \"evals-under-test\"\nversion = \"0\"\n\n"
                                         + to_toml(table, "tool.harness"), encoding="utf-8")
    (root / "prompt.md").write_text(PROMPT_TEXT, encoding="utf-8")
    for i in range(n_cases):
        write_case(root / "cases", f"case-{i:02d}")
    return root


def review_responder(body: dict) -> str:
    """A deterministic fake model: for even-numbered cases a review that finds the planted SQL injection, for
    the others one that finds nothing, so grades differ between samples."""
    text = json.dumps(body.get("messages"))
    import re
    m = re.search(r"of case-(\d+)", text)
    if m and int(m.group(1)) % 2 == 0:
        return ("## SQL injection in search_orders\n\nIn `app.py` lines 1-3, `search_orders` formats `q` into the "
                f"SQL string: SQL injection (CWE-89). Use a bind parameter. (case-{m.group(1)})")
    return f"No defects found in the submitted code. (case-{m.group(1) if m else '?'})"


def harness_env(base_url: str, api_key: str, cache_dir: Path, **extra: str) -> dict:
    """The environment of a child harness process: the fake server, a fake key, an isolated cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CRASH_", "HARNESS_"))}
    env.update({"ANTHROPIC_BASE_URL": base_url, "ANTHROPIC_API_KEY": api_key, "HARNESS_CACHE_DIR": str(cache_dir),
                "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def run_child(args: list[str], env: dict, *, timeout: float = 120, cwd: Path | None = None
              ) -> subprocess.CompletedProcess:
    """Run this script (the harness CLI with crash hooks) and capture its output."""
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, cwd=str(cwd or ROOT),
                          capture_output=True, text=True, timeout=timeout)


def popen_child(args: list[str], env: dict, *, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], env=env, cwd=str(cwd or ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def server_fingerprint(system: str, message: str, model_id: str = MODEL_ID) -> str:
    """The fake server's request fingerprint of one harness request (see harness.testing.fakeserver.fingerprint)."""
    from harness.testing.fakeserver import fingerprint
    from harness.models.anthropic_model import system_blocks
    return fingerprint({"model": model_id, "system": system_blocks(system),
                        "messages": [{"role": "user", "content": message}]})


# ---------------------------------------------------------------------------------------------------------------
# The child


def _die() -> None:
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def _n(name: str) -> int:
    return int(os.environ.get(name, "0") or 0)


def install_hooks() -> None:
    from harness import batch, cache, pipeline, records, textio

    state = {"appends": 0, "puts": 0, "in_put": False, "in_report": False}

    n_after, n_torn = _n("CRASH_AFTER_APPENDS"), _n("CRASH_TORN_APPEND")
    if n_after or n_torn:
        orig_append = records.RunDir.append

        def append(self, record):
            state["appends"] += 1
            if state["appends"] == n_torn:
                line = record.model_dump_json() + "\n"
                with open(self.samples_path, "a", encoding="utf-8") as fh:
                    fh.write(line[: len(line) // 2])
                    fh.flush()
                    os.fsync(fh.fileno())
                _die()
            orig_append(self, record)
            if state["appends"] == n_after:
                _die()

        records.RunDir.append = append

    n_in_put, n_after_put = _n("CRASH_IN_CACHE_PUT"), _n("CRASH_AFTER_CACHE_PUT")
    if n_in_put or n_after_put:
        orig_put = cache.ResponseCache.put

        def put(self, key, comp):
            state["puts"] += 1
            state["in_put"] = state["puts"] == n_in_put
            try:
                orig_put(self, key, comp)
            finally:
                state["in_put"] = False
            if state["puts"] == n_after_put:
                _die()

        cache.ResponseCache.put = put

    if os.environ.get("CHILD_NO_REPORT"):  # not a crash hook: skips the (slow) report where it is not under test
        pipeline.write_reports = lambda cfg, run_dir: []

    if os.environ.get("CRASH_IN_REPORT"):
        orig_reports = pipeline.write_reports

        def write_reports(cfg, run_dir):
            state["in_report"] = True
            return orig_reports(cfg, run_dir)

        pipeline.write_reports = write_reports

    orig_write = textio.atomic_write_bytes
    n_manifest = _n("CRASH_IN_MANIFEST_WRITE")
    state["manifests"] = 0

    def atomic_write_bytes(path, data):
        if Path(path).name == "run.json":
            state["manifests"] += 1
        if state["in_put"] or state["in_report"] or (n_manifest and state["manifests"] == n_manifest
                                                     and Path(path).name == "run.json"):
            # Die halfway through writing the temp file, as a crash inside the atomic write would.
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, _ = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.write(fd, data[: len(data) // 2])
            os.fsync(fd)
            _die()
        return orig_write(path, data)

    textio.atomic_write_bytes = atomic_write_bytes

    if os.environ.get("CRASH_AFTER_BATCH_CREATE"):
        orig_json = batch.atomic_write_json

        def atomic_write_json(path, obj):
            orig_json(path, obj)
            if Path(path).name.startswith("batch-"):
                _die()

        batch.atomic_write_json = atomic_write_json


def _barrier() -> None:
    """``CHILD_BARRIER_DIR`` + ``CHILD_BARRIER_N``: wait (after the imports) until N children got here, so that
    concurrent children really run at the same time."""
    folder = os.environ.get("CHILD_BARRIER_DIR")
    if not folder:
        return
    import time
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(Path(folder).iterdir())) < _n("CHILD_BARRIER_N") and time.monotonic() < deadline:
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    install_hooks()
    from harness.cli import main as cli_main
    import harness.planning, harness.runner  # noqa: F401,E401 - import before the barrier
    _barrier()
    return cli_main(argv)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
