"""Disk failures, SIGTERM and SIGKILL (issue 14): a run that cannot record a sample stops sending requests at
once, marks run.json and exits 2 naming the file; SIGTERM ends a run like Ctrl-C (run.json "interrupted", the
resume command printed); after SIGTERM or SIGKILL of a subprocess run, ``--resume`` completes it without asking
again for any sample recorded before the signal."""

from __future__ import annotations

import errno
import logging
import signal
import time
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.testing.fakeserver import FakeServer
from harness.models.anthropic_model import AnthropicModel
from harness.records import RunDir

from .crash_child import MODEL, harness_env, popen_child, review_responder, write_project
from .test_crash_resume import reference, results, resume_in_process

KEY = "sk-ant-test-interrupts-0000"
N = 12


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "proj", N, concurrency=3)


def test_a_record_that_cannot_be_written_stops_the_run_before_another_request(tmp_path, monkeypatch, capsys,
                                                                                caplog):
    # concurrency 3, and at most 1 sample beyond twice that answered and not yet recorded (harness.admission):
    # after the last record written at most 2 x 3 + 1 = 7 more samples are sent, so the rest of the plan is not
    project = write_project(tmp_path / "proj", N, concurrency=3, max_ungraded=1)
    run_dir = tmp_path / "run"
    appended, failed_at, sent_at = [], [], []
    real_append, real_generate = RunDir.append, AnthropicModel.generate

    def append(self, record):
        if len(appended) >= 3:
            failed_at.append(time.monotonic())
            raise OSError(errno.ENOSPC, "No space left on device", str(self.samples_path))
        appended.append(record.sample_id)
        return real_append(self, record)

    async def generate(self, *a, **kw):
        sent_at.append(time.monotonic())
        return await real_generate(self, *a, **kw)

    monkeypatch.setattr(RunDir, "append", append)
    monkeypatch.setattr(AnthropicModel, "generate", generate)
    caplog.set_level(logging.ERROR, logger="asyncio")
    with FakeServer(review_responder, latency_s=0.05) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        code = cli_main(["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir",
                         str(run_dir), "--no-progress"])
        requests = srv.requests
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{run_dir / 'samples.jsonl'}: cannot record a sample: No space left on device" in err
    assert "Traceback" not in err and "never retrieved" not in caplog.text
    assert failed_at and all(t <= failed_at[0] for t in sent_at), "a request was sent after a record failed"
    assert requests == len(sent_at) <= 3 + 2 * 3 + 1 < N   # the admission bound; the rest of the plan never sent
    m = RunDir.open(run_dir).manifest
    assert m.status == "incomplete" and "No space left on device" in m.status_reason
    assert len(RunDir.open(run_dir).read_samples().records) == 3


def _wait_for_records(run_dir: Path, n: int, proc, timeout: float = 60) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        p = run_dir / "samples.jsonl"
        if p.exists() and p.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the child ended early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("the child recorded nothing in time")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_signal_then_resume(project, tmp_path, monkeypatch, sig):
    """A subprocess run is signalled while requests are in flight, then resumed: the resumed results equal an
    uninterrupted run's, and no sample recorded before the signal is requested again."""
    expected = reference(project, tmp_path, monkeypatch)
    run_dir = tmp_path / "run"
    with FakeServer(review_responder, latency_s=0.3) as srv:
        env = harness_env(srv.base_url, KEY, tmp_path / "cache", CHILD_NO_REPORT="1")
        proc = popen_child(["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir",
                            str(run_dir), "--no-progress"], env)
        _wait_for_records(run_dir, 3, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
        before = {r.case for r in RunDir.open(run_dir).read_samples().records}
        m = RunDir.open(run_dir).manifest
        if sig == signal.SIGTERM:
            assert proc.returncode == 143, err
            assert f"continue with: harness run --resume {run_dir}" in err and "Traceback" not in err
            assert m.status == "incomplete" and "SIGTERM" in m.status_reason
        else:
            assert proc.returncode == -signal.SIGKILL
            assert m.status == "running"   # nothing can mark a SIGKILLed run; resume repairs it
        assert 3 <= len(before) < N
        counts_before = dict(srv.requests_by_key)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        res = resume_in_process(project, run_dir)
        after = dict(srv.requests_by_key)
    assert res.complete and results(res.records) == expected
    # the resume asked only for samples not recorded before the signal (in-flight answers came from the cache)
    assert sum(after.values()) - sum(counts_before.values()) <= N - len(before)
    assert RunDir.open(run_dir).manifest.status == "complete"
