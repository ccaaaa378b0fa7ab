"""The API key never leaves the process: not in run directories, the cache, reports, stdout or stderr.

``harness run`` runs end to end (child processes, real anthropic SDK, loopback fake server) with a recognisable
fake key through transient faults, a batch, a rejected key (401) and a resume through 400/500/529 answers; then
every file written and every byte printed is searched for the key.
"""

from __future__ import annotations

from pathlib import Path

from harness.testing.fakeserver import FakeServer, FaultPlan
from harness.records import RunDir

from .crash_child import MODEL, harness_env, review_responder, run_child, write_project

SECRET = "sk-ant-test-SECRET-5f3a9c"
NEEDLES = [SECRET.encode(), b"SECRET-5f3a9c", b"SECRET"]


def _run(project: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir", str(run_dir),
            "--no-progress", *extra]


def test_the_api_key_never_appears_in_files_or_output(tmp_path):
    project = write_project(tmp_path / "proj", 6, max_retries=4)
    cache_dir = tmp_path / "cache"
    outputs: list[str] = []

    def run(server: FakeServer, args: list[str], expect_rc: int, **env: str) -> None:
        p = run_child(args, harness_env(server.base_url, SECRET, cache_dir, **env))
        outputs.extend([p.stdout, p.stderr])
        assert p.returncode == expect_rc, p.stderr
        # the key really travelled, so its absence below means something
        assert server.received and all(r.api_key == SECRET for r in server.received)

    faults = FaultPlan(rate=0.4, kinds=("429", "529", "500", "503", "drop", "truncated", "malformed", "timeout"),
                       seed=5)
    with FakeServer(review_responder, faults=faults, timeout_fault_s=5.0, batch_polls_before_end=0,
                    batch_faults=["500", None, "429"]) as srv:
        run(srv, _run(project, tmp_path / "run-faults", "--timeout", "0.5"), 0)
        run(srv, _run(project, tmp_path / "run-batch", "--batch", "--cache", "refresh"), 0, CHILD_NO_REPORT="1")
        assert sum(srv.faults_injected.values()) >= 3
        assert srv.requests_by_path["POST /v1/messages/batches"] == 2  # the first one was a 500

    with FakeServer(require_key="sk-ant-a-different-key") as srv:  # the key is rejected: 401
        run(srv, _run(project, tmp_path / "run-401"), 3)
        assert "ANTHROPIC_API_KEY" in outputs[-1]

    with FakeServer(review_responder, faults=FaultPlan(rate=0.5, kinds=("400", "500", "529"), seed=2)) as srv:
        run(srv, ["--root", str(project), "run", "--resume", str(tmp_path / "run-401"), "--no-progress"], 3)

    errors = [r.error.message for r in RunDir.open(tmp_path / "run-401").read_samples().records if r.error]
    assert any("400" in m for m in errors)  # faulted answers were recorded, with their messages

    files = [p for root in (tmp_path / "run-faults", tmp_path / "run-batch", tmp_path / "run-401", cache_dir,
                            project / "reports", project / "runs") if root.exists()
             for p in root.rglob("*") if p.is_file()]
    assert len([p for p in files if p.is_relative_to(project / "reports")]) >= 4  # two runs' md + html
    assert any(p.is_relative_to(cache_dir) for p in files)
    leaks = [str(p) for p in files for n in NEEDLES if n in p.read_bytes()]
    leaks += [f"output {i}" for i, out in enumerate(outputs) for n in NEEDLES if n.decode() in out]
    assert not leaks, f"the API key leaked into: {leaks}"
