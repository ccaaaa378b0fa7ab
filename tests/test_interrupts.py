"""Disk failures, SIGTERM and SIGKILL (issue 14): a run that cannot record a sample stops sending requests at
once, marks run.json and exits 2 naming the file; SIGTERM ends a run like Ctrl-C (run.json "interrupted", the
resume command printed); after SIGTERM or SIGKILL of a subprocess run, ``--resume`` completes it without asking
again for any sample recorded before the signal."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.config import load_config
from harness.planning import Choices, build_options
from harness.runner import RunInterrupted, execute
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


def _run_all(project: Path, run_dir: Path, tmp_path: Path, monkeypatch) -> tuple[int, int]:
    """`harness run --cases all` of ``project`` into ``run_dir`` on a fake Messages API (50 ms a request):
    (exit code, requests the server received)."""
    with FakeServer(review_responder, latency_s=0.05) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
        code = cli_main(["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir",
                         str(run_dir), "--no-progress"])
        return code, srv.requests


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
    code, requests = _run_all(project, run_dir, tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{run_dir / 'samples.jsonl'}: cannot record a sample: No space left on device" in err
    assert "Traceback" not in err and "never retrieved" not in caplog.text
    assert failed_at and all(t <= failed_at[0] for t in sent_at), "a request was sent after a record failed"
    assert requests == len(sent_at) <= 3 + 2 * 3 + 1 < N   # the admission bound; the rest of the plan never sent
    m = RunDir.open(run_dir).manifest
    assert m.status == "incomplete" and "No space left on device" in m.status_reason
    assert len(RunDir.open(run_dir).read_samples().records) == 3


def test_a_disk_that_fills_up_still_gets_run_json_saying_why(tmp_path, monkeypatch, capsys):
    """On a disk that filled up, run.json stayed "running" with no reason and no spend (a fresh user's report,
    2026-12-08: a 300 KB tmpfs): its write needed space the records had taken. A session keeps a ballast in the
    run directory and gives it back when it stops. Simulated: once a record fails, every write to the run
    directory fails too while the ballast is there (the space it holds is the space the writes need)."""
    import harness.records as records
    from harness.runner import BALLAST
    project = write_project(tmp_path / "proj", N, concurrency=3, max_ungraded=1)
    run_dir = tmp_path / "run"
    full: list[bool] = []
    real_append, real_write = RunDir.append, records.atomic_write_json

    def append(self, record):
        if len(self.read_samples().records) >= 3:
            full.append(True)
            raise OSError(errno.ENOSPC, "No space left on device", str(self.samples_path))
        return real_append(self, record)

    def write(path, data, *a, **kw):
        if full and (Path(path).parent / BALLAST).exists():
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, data, *a, **kw)

    monkeypatch.setattr(RunDir, "append", append)
    monkeypatch.setattr(records, "atomic_write_json", write)
    code, _ = _run_all(project, run_dir, tmp_path, monkeypatch)
    assert code == 2 and full
    m = RunDir.open(run_dir).manifest
    assert m.status == "incomplete" and "No space left on device" in m.status_reason
    assert m.summary["recorded"] == 3 and m.summary["spent_usd"] > 0
    assert not (run_dir / BALLAST).exists()


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


# ------------------------------------------------------------------------------------------------- Ctrl-C (item 1)

def _interrupt_child(project: Path, tmp_path: Path, model: str, srv: FakeServer, *, signals: int = 1,
                     in_flight: int = 2):
    """A ``harness run`` child on ``srv`` (whose answers never come in time) sent SIGINT once ``in_flight``
    requests have reached the server (``signals`` > 1: again, 50 ms apart). Returns (process, stderr, run dir)."""
    run_dir = tmp_path / "run"
    env = harness_env(srv.base_url, KEY, tmp_path / "cache", CHILD_NO_REPORT="1", OPENAI_API_KEY="sk-fake")
    proc = popen_child(["--root", str(project), "run", "--model", model, "--cases", "all", "--run-dir",
                        str(run_dir), "--cache", "off", "--no-progress"], env)
    t0 = time.monotonic()
    while srv.requests < in_flight:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 120, "the child sent nothing"
        time.sleep(0.02)
    for i in range(signals):
        if i:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    return proc, err, run_dir


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_ctrl_c_cuts_the_requests_under_way_and_records_nothing_for_them(tmp_path, provider):
    """Ctrl-C while requests are in flight (the fake server answers after 60 s): the child ends without waiting
    for them, exit 130 with the resume command, and no sample is recorded — before, the samples under way were
    left running after their client was closed, retried, and recorded as ``connection`` / ``client_error``
    errors ("Cannot send a request, as the client has been closed")."""
    project = write_project(tmp_path / "proj", N, concurrency=2, request_timeout_s=300.0)
    with FakeServer(review_responder, latency_s=60.0) as srv:
        model = MODEL if provider == "anthropic" else f"openai/fake@{srv.openai_base_url}"
        proc, err, run_dir = _interrupt_child(project, tmp_path, model, srv,
                                              in_flight=2 if provider == "anthropic" else 1)
        answered = srv.completed
    assert proc.returncode == 130, err
    assert f"interrupted (Ctrl-C); what was recorded is kept; continue with: harness run --resume {run_dir}" in err
    assert "Traceback" not in err and "destroyed" not in err and "never retrieved" not in err, err
    assert answered == 0                                   # it did not wait for the answers under way
    assert RunDir.open(run_dir).read_samples().records == []   # nothing recorded for the cut requests
    m = RunDir.open(run_dir).manifest
    assert m.status == "incomplete" and m.status_reason.startswith("interrupted (Ctrl-C)")
    assert m.summary["recorded"] == 0 and m.summary["missing"] == N and m.summary["spent_usd"] == 0


def test_a_second_ctrl_c_while_stopping_leaves_no_pending_tasks_behind(tmp_path):
    """Two Ctrl-C 50 ms apart: the second one does not break the stop (no "Task was destroyed but it is
    pending!", no traceback), the run is marked interrupted, nothing is recorded for the cut requests."""
    project = write_project(tmp_path / "proj", N, concurrency=3, request_timeout_s=300.0)
    with FakeServer(review_responder, latency_s=60.0) as srv:
        proc, err, run_dir = _interrupt_child(project, tmp_path, MODEL, srv, signals=2, in_flight=3)
    # the second signal may land after the first stop was done, while the interpreter exits: killed by SIGINT
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "destroyed" not in err and "Traceback" not in err and "never retrieved" not in err, err
    assert "continue with: harness run --resume" in err
    assert RunDir.open(run_dir).read_samples().records == []
    assert RunDir.open(run_dir).manifest.status_reason.startswith("interrupted (Ctrl-C)")


# ------------------------------------------------------------------------------- what an interrupted run spent (2)

def _interrupt_when(grading: list, n: int, sig: int, fired: list) -> threading.Thread:
    """A thread that sends ``sig`` to this process once ``n`` answers have reached grading (``grading`` grows
    by one as each does; the run's InterruptGuard handles the signal on the main thread)."""
    def fire():
        t0 = time.monotonic()
        while len(grading) < n and time.monotonic() - t0 < 120:
            time.sleep(0.01)
        fired.append(time.monotonic())
        os.kill(os.getpid(), sig)
    t = threading.Thread(target=fire, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("cache", ["off", "use"])
def test_an_interrupted_session_counts_what_it_paid_and_the_resume_does_not_buy_it_again(project, tmp_path,
                                                                                         monkeypatch, cache):
    """Grading is held up so that the answers pile up received and not recorded; SIGTERM comes then. The
    interrupted session's run.json carries what it spent (every answer received), the answers are kept
    (unrecorded.json), the resume records them without a request (also with --cache off, which keeps no other
    copy) and counts them neither as spent again nor as saved: the run's spent_usd is what the server was paid
    for, once, and equals the cost of the recorded samples. Before: run.json's summary was {}, spent_usd
    counted the resume only, and with --cache off the resume asked again for every unrecorded answer."""
    from harness.runner import Runner

    run_dir = tmp_path / "run"
    held = threading.Event()
    real_grade = Runner._grade
    grading: list = []

    async def slow_grade(self, case, review):
        grading.append(case.id)
        while not held.is_set():
            await asyncio.sleep(0.01)
        return await real_grade(self, case, review)

    with FakeServer(review_responder) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        cfg = load_config(project).model_copy(update={"cache_mode": cache})
        opts, _ = build_options(cfg, Choices(models=[MODEL], cases="all", run_dir=str(run_dir), progress=False))
        monkeypatch.setattr(Runner, "_grade", slow_grade)
        fired: list = []
        # concurrency 3: admission (harness.admission) lets 2 x 3 + max_ungraded 3 = 9 samples be answered and
        # not recorded; the signal comes when all 9 are held in grading and no request is in flight (a request
        # cut mid-answer is paid for at the server and never seen by the client: not what this test counts)
        _interrupt_when(grading, 9, signal.SIGTERM, fired)
        with pytest.raises(RunInterrupted) as info:
            execute(cfg, opts)
        assert fired and info.value.how == "SIGTERM" and info.value.run_dir == run_dir
        answered = srv.completed
        paid = srv.usage_totals
        m = RunDir.open(run_dir).manifest
        assert answered == 9 and RunDir.open(run_dir).read_samples().records == []
        assert m.summary["unrecorded_answers"] == answered
        spent_first = m.summary["spent_usd"]
        assert spent_first == pytest.approx(_price(paid), abs=1e-6) and spent_first > 0
        kept = json.loads((run_dir / "unrecorded.json").read_text())["answers"]
        assert len(kept) == answered

        held.set()
        before = srv.requests
        res = resume_in_process(project, run_dir)
        asked_again = srv.requests - before
        paid_total = srv.usage_totals
    assert res.complete and len(res.records) == N
    assert asked_again == N - answered          # nothing answered before the signal is asked again
    assert not (run_dir / "unrecorded.json").exists()
    m = RunDir.open(run_dir).manifest
    assert m.summary["spent_usd"] == pytest.approx(_price(paid_total), abs=1e-6)
    assert m.summary["spent_usd"] == pytest.approx(sum(r.cost_usd for r in res.records), abs=1e-6)
    assert m.summary["saved_usd"] == 0
    assert results(res.records) == reference(project, tmp_path, monkeypatch)


def _price(usage: dict) -> float:
    """What the fake server's token totals cost at the test project's prices (tests/crash_child.py PRICES)."""
    from .crash_child import PRICES
    p = PRICES["claude-sonnet-4-5"]
    return (usage.get("input_tokens", 0) * p["input"] + usage.get("output_tokens", 0) * p["output"]
            + usage.get("cache_creation_input_tokens", 0) * p["cache_write"]
            + usage.get("cache_read_input_tokens", 0) * p["cache_read"]) / 1e6
