"""Shared plumbing of the benchmarks: paths, machine description, result files, the fake-server subprocess,
and a small table printer.

Every bench script writes ``bench/results/<name>.json`` (git-ignored)::

    {"bench": name, "title": str, "started_at": iso, "elapsed_s": float, "machine": {...},
     "load_before": [1, 5, 15 min], "load_after": [...], "figures": [Figure...], "details": {...}}

where a figure is ``{"id", "label", "value", "unit", "target", "ok", "note"}``: ``target`` is text such as
``"<= 1.10"`` (None when the figure has no target) and ``ok`` is True/False/None (no target, or not measured).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FAKE_KEY = "sk-ant-bench-fake-key"
MODEL = "anthropic/claude-sonnet-4-5"


# ------------------------------------------------------------------------------------------------ figures


@dataclass
class Figure:
    """One reported number. ``target`` like ``"<= 1.10"`` / ``">= 2000"``; ``ok`` computed from it."""

    id: str
    label: str
    value: float | None
    unit: str = ""
    target: str | None = None
    ok: bool | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.ok is None and self.target and self.value is not None and not _isnan(self.value):
            op, _, num = self.target.partition(" ")
            bound = float(num)
            self.ok = self.value <= bound if op == "<=" else self.value >= bound if op == ">=" else None


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def fmt_value(v: float | None, unit: str = "") -> str:
    if v is None or _isnan(v):
        return "n/a"
    if unit in ("×", "x"):
        s = f"{v:.2f}×"
    elif unit == "%":
        s = f"{v:.1f} %"
    elif unit == "s":
        s = f"{v:.2f} s" if v < 100 else f"{v:.0f} s"
    elif unit == "$":
        s = f"${v:.4f}" if v < 1 else f"${v:.2f}"
    elif abs(v) >= 1000:
        s = f"{v:,.0f} {unit}".strip()
    elif abs(v) >= 100:
        s = f"{v:.0f} {unit}".strip()
    else:
        s = f"{v:.3g} {unit}".strip()
    return s


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns (what the scripts print)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c + " " * (widths[i] - _width(c)) for i, c in enumerate(r)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _width(s: str) -> int:
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def figures_table(figs: Sequence[Figure]) -> str:
    rows = []
    for f in figs:
        verdict = "" if f.ok is None else ("ok" if f.ok else "MISS")
        rows.append([f.label, fmt_value(f.value, f.unit), f.target or "", verdict])
    return table(["figure", "value", "target", ""], rows)


# ------------------------------------------------------------------------------------------------ machine


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """What the figures ran on: CPU, cores, memory, OS, Python and the versions that matter."""
    commit = None
    with contextlib.suppress(Exception):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _mem_gib(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "git_commit": commit,
            "packages": {d: _version(d) for d in ("anthropic", "httpx", "aiohttp", "inspect-ai", "cyllama",
                                                   "pydantic", "pandas", "numpy")}}


def machine_line(m: dict) -> str:
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}, Python {m['python']}"
            f" (commit {m.get('git_commit') or '?'})")


# ------------------------------------------------------------------------------------------------ results


class Bench:
    """Collects figures and details of one bench script, prints them and writes ``results/<name>.json``."""

    def __init__(self, name: str, title: str):
        self.name = name
        self.title = title
        self.figures: list[Figure] = []
        self.details: dict[str, Any] = {}
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.t0 = time.perf_counter()
        self.load_before = loadavg()
        self.machine = machine_info()
        print(f"== {title}", flush=True)
        print(f"   machine: {machine_line(self.machine)}; load average {self.load_before}", flush=True)
        if self.load_before and self.load_before[0] > 0.5 * (os.cpu_count() or 1):
            print(f"   WARNING: the machine is busy (1-min load {self.load_before[0]} on {os.cpu_count()} cores): "
                  "the figures include other processes' contention", flush=True)

    def add(self, *args, **kwargs) -> Figure:
        f = Figure(*args, **kwargs)
        self.figures.append(f)
        return f

    def finish(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        data = {"bench": self.name, "title": self.title, "started_at": self.started_at,
                "elapsed_s": round(time.perf_counter() - self.t0, 2), "machine": self.machine,
                "load_before": self.load_before, "load_after": loadavg(),
                "figures": [asdict(f) for f in self.figures], "details": self.details}
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n",
                        encoding="utf-8")
        print(figures_table(self.figures), flush=True)
        print(f"   ({data['elapsed_s']:.0f} s; load average after {data['load_after']}; "
              f"written {path.relative_to(ROOT)})", flush=True)
        return path


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def work_dir(prefix: str) -> tempfile.TemporaryDirectory:
    """A scratch folder under ``bench/results/tmp`` (same disk as a real ``reports/runs``, git-ignored)."""
    base = RESULTS / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=base)


# ------------------------------------------------------------------------------------------------ processes


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc; 0.0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class ServerProcess:
    """The loopback fake Messages API (:class:`harness.testing.fakeserver.FakeServer`) in its own process.

    Why a process: ``FakeServer`` serves from a thread of the process that starts it, so in-process it would
    share the GIL with the client being measured: the server's JSON parsing and SSE writing would then run
    between the client's own steps, and the floor (a bare SDK loop) would include the server's work. In its own
    process it runs on the second core, and the client's wall time is its own.

    Commands on the child's stdin: ``stats`` (one JSON line back), ``reset``, ``quit``.
    """

    def __init__(self, *, latency_s: float = 0.2, responder: str = "reviews", cache_min_tokens: int = 0,
                 stream_chunk_chars: int = 16):
        args = [sys.executable, str(BENCH / "fake_server_proc.py"), "--latency", str(latency_s), "--responder",
                responder, "--cache-min-tokens", str(cache_min_tokens), "--stream-chunk-chars",
                str(stream_chunk_chars)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                     cwd=ROOT)
        self._lock = threading.Lock()
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"fake server process did not start: {line!r}")
        self.port = int(line.split()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"

    def _cmd(self, cmd: str) -> str:
        with self._lock:
            assert self.proc.stdin and self.proc.stdout
            self.proc.stdin.write(cmd + "\n")
            self.proc.stdin.flush()
            return self.proc.stdout.readline().strip()

    def stats(self) -> dict:
        return json.loads(self._cmd("stats"))

    def reset(self) -> None:
        self._cmd("reset")

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(Exception):
                self._cmd("quit")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def fake_env(base_url: str, cache_dir: str | None = None) -> Iterator[None]:
    """Point the anthropic SDK (and so the harness and inspect-ai) at the fake server with a fake key."""
    new = {"ANTHROPIC_API_KEY": FAKE_KEY, "ANTHROPIC_BASE_URL": base_url}
    if cache_dir:
        new["HARNESS_CACHE_DIR"] = cache_dir
    old = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def child_env(base_url: str, cache_dir: str | None = None) -> dict:
    env = dict(os.environ, ANTHROPIC_API_KEY=FAKE_KEY, ANTHROPIC_BASE_URL=base_url)
    if cache_dir:
        env["HARNESS_CACHE_DIR"] = cache_dir
    return env


def run_cmd(cmd: list[str], *, env: dict | None = None, cwd: Path | str | None = None,
            timeout: float = 900) -> tuple[str, dict]:
    """Run ``cmd`` as a whole process; returns (its stdout, rusage dict with ``maxrss_mib``, ``cpu_s`` (user +
    system, all its threads and the children it waited for), ``wall_s`` from spawn to exit, ``returncode``).
    The child's stderr passes through. Killed (returncode negative) after ``timeout`` seconds."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=cwd or ROOT)
    out_chunks: list[str] = []

    def pump() -> None:
        assert proc.stdout
        for line in proc.stdout:
            out_chunks.append(line)

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    th.join(5)
    wall = time.perf_counter() - t0
    usage = {"maxrss_mib": round(ru.ru_maxrss / 1024, 1), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
             "wall_s": round(wall, 3), "returncode": proc.returncode}
    return "".join(out_chunks), usage


def run_child(args: list[str], *, env: dict | None = None, timeout: float = 900,
              python: str | None = None) -> tuple[dict, dict]:
    """Run ``python <args>`` (this interpreter unless ``python``) whose last stdout line is a JSON object;
    returns (that object, rusage dict with ``maxrss_mib``, ``cpu_s``, ``wall_s`` of the child). The child's
    stderr passes through."""
    text, usage = run_cmd([python or sys.executable, *args], env=env, timeout=timeout)
    last = next((ln for ln in reversed(text.splitlines()) if ln.startswith("{")), None)
    if usage["returncode"] != 0 or last is None:
        raise RuntimeError(f"child {' '.join(args)} failed (exit {usage['returncode']}):\n{text[-3000:]}")
    return json.loads(last), usage


def add_load_options(ap, *, rounds: int = 3) -> None:
    """The workload options ``bench_runner.py`` and ``bench_tools.py`` share (one fake server, the same requests):
    ``--samples`` (default 500), ``--latency`` (the fake server's seconds per request, 0.2), ``--concurrency``
    (50) and ``--rounds`` (``rounds``). ``ap``: an :class:`argparse.ArgumentParser`."""
    ap.add_argument("--samples", type=int, default=500, help="requests (samples) per client run")
    ap.add_argument("--latency", type=float, default=0.2, help="fake server latency per request, seconds")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=rounds, help="rounds of every client, alternating")


# ------------------------------------------------------------------------------------------------ suite


def load_suite_and_prompt():
    """The repository's suite (every case) and the configured agent prompt (first of ``[tool.harness] prompts``)."""
    from harness.cases import load_suite
    from harness.config import load_config
    from harness.prompts import load_prompt
    cfg = load_config(ROOT)
    return load_suite(cfg.path(cfg.cases_dir)), load_prompt(cfg.prompts[0], root=cfg.root), cfg


def median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if not n:
        return float("nan")
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
