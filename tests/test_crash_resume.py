"""Crash safety and the response cache, against the loopback fake server with the real anthropic SDK.

A ``harness run`` child process (tests/crash_child.py) is SIGKILLed at chosen points — between samples, in the
middle of appending a record, inside a cache write, between the cache write and the record, while run.json is
rewritten, during the report, right after a message batch was created — then the run is resumed. The resumed results
must equal those of an uninterrupted run, and the fake server (which lives here, in the parent, so its counters survive
the kill) must show that no sample completed before the kill was requested again. Also: a second identical run costs
nothing, replay-only with an empty cache fails clearly, two runs sharing a cache folder do not corrupt it, and
``--batch`` records equal direct ones at exactly half the price.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import anthropic
import pytest

from harness.cache import ResponseCache, cache_key
from harness.cases import load_suite
from harness.cli import main as cli_main
from harness.config import load_config
from harness.testing.fakeserver import FakeServer
from harness.request import render_request
from harness.models.anthropic_model import system_blocks
from harness.models.base import GenerationConfig, ModelSpec
from harness.planning import Choices, build_options
from harness.prompts import load_prompt
from harness.records import RunDir
from harness.runner import RunOptions, execute

from .crash_child import (MODEL, MODEL_ID, harness_env, popen_child, review_responder, run_child, server_fingerprint,
                          write_project)

KEY = "sk-ant-test-crash-1111"
N = 12  # cases in the crash project (one epoch each, temperature 0: one distinct request per sample)
CONCURRENCY = 4
KILLED = -signal.SIGKILL
_REFERENCE: dict = {}


@pytest.fixture
def project(tmp_path) -> Path:
    return write_project(tmp_path / "proj", N, concurrency=CONCURRENCY)


def run_args(project: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--root", str(project), "run", "--model", MODEL, "--cases", "all", "--run-dir", str(run_dir),
            "--no-progress", *extra]


def resume_args(project: Path, run_dir: Path, *extra: str) -> list[str]:
    return ["--root", str(project), "run", "--resume", str(run_dir), "--no-progress", *extra]


def results(records) -> dict:
    """What must not change across a crash: per sample id, the case, the review and every grade."""
    return {r.sample_id: (r.case, r.review, {k: g.model_dump(mode="json") for k, g in r.grades.items()})
            for r in records}


def reference(project: Path, tmp_path: Path, monkeypatch) -> dict:
    """The results of an uninterrupted run of the crash project (computed once, on its own server and cache)."""
    if not _REFERENCE:
        with FakeServer(review_responder) as ref:
            monkeypatch.setenv("ANTHROPIC_BASE_URL", ref.base_url)
            monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
            monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "reference-cache"))
            cfg = load_config(project)
            opts, _ = build_options(cfg, Choices(models=[MODEL], cases="all", run_dir=str(tmp_path / "reference"),
                                                 progress=False))
            res = execute(cfg, opts)
            assert res.complete and len(res.records) == N and ref.requests == N
            assert any(r.grades["deterministic"].found_ids() for r in res.records)  # grades are not all alike
            _REFERENCE.update(results(res.records))
    return _REFERENCE


def resume_in_process(project: Path, run_dir: Path):
    cfg = load_config(project)
    opts, _ = build_options(cfg, Choices(run_dir=str(run_dir), resume=True, progress=False))
    return execute(cfg, opts)


class Probe:
    """Looks at a crash project's run directory, cache and server counters, per case."""

    def __init__(self, project: Path, run_dir: Path, cache_dir: Path, server: FakeServer):
        self.project, self.run_dir, self.cache_dir, self.srv = project, run_dir, cache_dir, server
        self.cfg = load_config(project)
        self.prompt = load_prompt("prompt.md", root=project)
        self.cases = load_suite(project / "cases")
        spec = ModelSpec.parse(MODEL)
        self.fp = {c.id: server_fingerprint(self.prompt.body, render_request(c)) for c in self.cases}
        self.key = {c.id: cache_key(spec, server.base_url, self.cfg.generation, self.prompt.body,
                                    [{"role": "user", "content": render_request(c)}], 0) for c in self.cases}
        self.expected_text = {c.id: review_responder({"messages": [{"role": "user", "content": render_request(c)}]})
                              for c in self.cases}

    def recorded(self) -> tuple[set[str], bool]:
        """Cases with a valid record, and whether the file ends in a torn line."""
        res = RunDir.open(self.run_dir).read_samples() if RunDir.exists(self.run_dir) else None
        if res is None:
            return set(), False
        assert not res.bad_lines, res.bad_lines
        for r in res.records:  # nothing half-written reads back as a valid record
            assert r.error is None and r.review == self.expected_text[r.case], r
        return {r.case for r in res.records}, res.torn_tail

    def cached(self) -> set[str]:
        """Cases whose completion is in the cache; every entry that reads back is whole and right."""
        cache = ResponseCache(self.cache_dir, "use")
        out = set()
        for case, key in self.key.items():
            comp = cache.get(key)
            if comp is not None:
                assert comp.text == self.expected_text[case]
                out.add(case)
        assert cache.corrupt == 0
        for p in self.cache_dir.rglob("*.json"):  # every visible entry parses and is named by its key
            if not p.name.startswith("."):
                assert json.loads(p.read_text(encoding="utf-8"))["key"] == p.stem
        return out

    def temp_leftovers(self, folder: Path) -> list[Path]:
        return sorted(folder.rglob(".*.tmp")) if folder.exists() else []

    def requests_of(self, cases: set[str]) -> dict[str, int]:
        by_key = self.srv.requests_by_key
        return {c: by_key.get(self.fp[c], 0) for c in cases}

    def assert_requested_once(self, cases: set[str]) -> None:
        twice = {c: n for c, n in self.requests_of(cases).items() if n != 1}
        assert not twice, f"samples completed before the kill were requested again: {twice}"

    def assert_not_requested_since(self, snapshot: dict[str, int]) -> None:
        again = {c: (n, self.requests_of({c})[c]) for c, n in snapshot.items() if self.requests_of({c})[c] != n}
        assert not again, f"samples completed before a kill were requested again (before, after): {again}"

    def assert_equals_reference(self, ref: dict) -> None:
        rd = RunDir.open(self.run_dir)
        raw = rd.samples_path.read_text(encoding="utf-8")
        lines = [json.loads(x) for x in raw.splitlines()]
        assert raw.endswith("\n") and len(lines) == N, "a sample was lost or recorded twice"
        assert len({x["sample_id"] for x in lines}) == N
        recs = rd.read_samples().records
        assert all(r.error is None for r in recs)
        assert results(recs) == ref
        assert rd.manifest.status == "complete", rd.manifest.status_reason


def crash(project, run_dir, env, args=None, **hooks) -> None:
    env = {**env, **{k: str(v) for k, v in hooks.items()}}
    p = run_child(args or run_args(project, run_dir), env)
    assert p.returncode == KILLED, f"the child was not killed at {hooks}: rc={p.returncode}\n{p.stdout}\n{p.stderr}"


# --- SIGKILL, then resume ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("hook,n", [
    ("CRASH_AFTER_APPENDS", 5),      # between two samples
    ("CRASH_TORN_APPEND", 7),        # in the middle of writing a record
    ("CRASH_IN_CACHE_PUT", 4),       # in the middle of writing a cache entry
    ("CRASH_AFTER_CACHE_PUT", 6),    # after the cache write, before the record
])
def test_sigkill_during_the_run_then_resume(project, tmp_path, monkeypatch, hook, n):
    ref = reference(project, tmp_path, monkeypatch)
    run_dir, cache_dir = tmp_path / "run", tmp_path / "cache"
    with FakeServer(review_responder, latency_s=0.02) as srv:
        env = harness_env(srv.base_url, KEY, cache_dir)
        probe = Probe(project, run_dir, cache_dir, srv)
        crash(project, run_dir, env, **{hook: n})

        recorded, torn = probe.recorded()
        cached = probe.cached()
        assert torn == (hook == "CRASH_TORN_APPEND")
        if hook == "CRASH_AFTER_APPENDS":
            assert len(recorded) == n
        elif hook == "CRASH_TORN_APPEND":
            assert len(recorded) == n - 1
        else:
            assert len(recorded) < n
        assert recorded <= cached  # a completion is cached before its record is appended
        leftovers = probe.temp_leftovers(cache_dir)
        if hook == "CRASH_IN_CACHE_PUT":
            assert len(cached) == n - 1 and len(leftovers) == 1  # the half-written entry never became visible
            with pytest.raises(ValueError):
                json.loads(leftovers[0].read_text(encoding="utf-8"))
        else:
            assert not leftovers
        if hook == "CRASH_AFTER_CACHE_PUT":
            assert len(cached) >= n and cached - recorded  # some answer is cached but not recorded
        requests_before = srv.requests

        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache_dir))
        res = resume_in_process(project, run_dir)
        assert res.complete, res.reason
        assert res.stats.skipped == len(recorded)
        assert res.stats.cache_hits == len(cached - recorded)
        probe.assert_equals_reference(ref)
        probe.assert_requested_once(cached)
        # the resume asked only for what was neither recorded nor cached
        assert srv.requests - requests_before == N - len(cached)
        # at most the requests in flight at the kill (and the one being cached) were wasted
        assert srv.requests <= N + CONCURRENCY + 1
        notes = RunDir.open(run_dir).manifest.model_dump().get("notes") or []
        if torn:
            assert any("torn last line" in x for x in notes), notes
        else:
            assert not any("torn" in x for x in notes)


def test_sigkill_twice_then_resume_with_the_cli(project, tmp_path, monkeypatch):
    ref = reference(project, tmp_path, monkeypatch)
    run_dir, cache_dir = tmp_path / "run", tmp_path / "cache"
    with FakeServer(review_responder, latency_s=0.02) as srv:
        env = harness_env(srv.base_url, KEY, cache_dir, CHILD_NO_REPORT="1")
        probe = Probe(project, run_dir, cache_dir, srv)
        crash(project, run_dir, env, CRASH_AFTER_APPENDS=3)
        first, _ = probe.recorded()
        assert len(first) == 3
        done_first = first | probe.cached()
        probe.assert_requested_once(done_first)
        crash(project, run_dir, env, args=resume_args(project, run_dir), CRASH_TORN_APPEND=4)
        second, torn = probe.recorded()
        assert torn and first < second and len(second) == 3 + 3
        probe.assert_requested_once(done_first)
        done_second = probe.requests_of(second | probe.cached())

        p = run_child(resume_args(project, run_dir), env)
        assert p.returncode == 0, p.stderr
        assert "12 samples recorded (6 already done" in p.stderr, p.stderr
        probe.assert_equals_reference(ref)
        probe.assert_requested_once(done_first)
        probe.assert_not_requested_since(done_second)
        assert srv.requests <= N + 2 * CONCURRENCY


def test_sigkill_while_the_final_manifest_is_written_then_resume(project, tmp_path, monkeypatch):
    ref = reference(project, tmp_path, monkeypatch)
    run_dir, cache_dir = tmp_path / "run", tmp_path / "cache"
    with FakeServer(review_responder) as srv:
        env = harness_env(srv.base_url, KEY, cache_dir)
        probe = Probe(project, run_dir, cache_dir, srv)
        crash(project, run_dir, env, CRASH_IN_MANIFEST_WRITE=3)  # create, "running", final
        assert len(probe.recorded()[0]) == N
        assert probe.temp_leftovers(run_dir)
        assert RunDir.open(run_dir).manifest.status == "running"  # the previous manifest, whole
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache_dir))
        res = resume_in_process(project, run_dir)
        assert res.complete and res.stats.skipped == N and srv.requests == N
        probe.assert_equals_reference(ref)


def test_sigkill_during_the_report_then_resume(project, tmp_path, monkeypatch):
    ref = reference(project, tmp_path, monkeypatch)
    run_dir, cache_dir = tmp_path / "run", tmp_path / "cache"
    with FakeServer(review_responder) as srv:
        env = harness_env(srv.base_url, KEY, cache_dir)
        probe = Probe(project, run_dir, cache_dir, srv)
        crash(project, run_dir, env, CRASH_IN_REPORT=1)
        recorded, torn = probe.recorded()
        assert len(recorded) == N and not torn
        assert RunDir.open(run_dir).manifest.status == "complete"
        reports = project / "reports"
        assert probe.temp_leftovers(reports), "the kill did not happen while a report file was being written"
        assert not [p for p in reports.rglob("report.*")], "a half-written report became visible"
        assert srv.requests == N

        p = run_child(resume_args(project, run_dir), env)
        assert p.returncode == 0, p.stderr
        paths = [Path(line.split("report: ", 1)[1].strip()) for line in p.stderr.splitlines() if "report: " in line]
        assert paths and all(x.is_file() and x.stat().st_size > 0 for x in paths), p.stderr
        assert srv.requests == N  # nothing was asked again
        probe.assert_equals_reference(ref)


def test_torn_and_invalid_lines_are_detected_reported_and_dropped(tmp_path):
    from harness.records import RunManifest, SampleRecord
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="r"))
    recs = [SampleRecord(sample_id=f"s{i}", case=f"c{i}", prompt_version="v", prompt_fingerprint="p", model="m",
                         epoch=0, review=f"review {i}") for i in range(4)]
    for r in recs[:3]:
        rd.append(r)
    whole = recs[3].model_dump_json()
    # every proper prefix of a record is torn, never a valid record
    for cut in (1, len(whole) // 3, len(whole) // 2, len(whole) - 1):
        data = rd.samples_path.read_bytes()
        rd.samples_path.write_bytes(data + whole[:cut].encode())
        res = rd.read_samples()
        assert res.torn_tail and [r.sample_id for r in res.records] == ["s0", "s1", "s2"]
        rd.samples_path.write_bytes(data)
    # a garbage line in the middle is reported with its line number and dropped
    lines = rd.samples_path.read_text().splitlines(keepends=True)
    rd.samples_path.write_text(lines[0] + '{"sample_id": "half"\n' + "".join(lines[1:]) + whole[:10])
    res = rd.repair()
    assert res.torn_tail and [n for n, _ in res.bad_lines] == [2]
    assert [r.sample_id for r in res.records] == ["s0", "s1", "s2"]
    after = rd.samples_path.read_text()
    assert after.endswith("\n") and len(after.splitlines()) == 3 and rd.read_samples().torn_tail is False
    rd.append(recs[3])  # appending after a repair starts on a clean line
    assert [r.sample_id for r in rd.read_samples().records] == ["s0", "s1", "s2", "s3"]


def test_a_corrupt_cache_entry_is_a_miss_not_an_answer(tmp_path):
    from harness.models.base import Completion, Usage
    cache = ResponseCache(tmp_path / "c")
    comp = Completion(text="t" * 200, usage=Usage(1, 2), stop_reason="end_turn", latency_s=0.1)
    cache.put("ab" + "0" * 62, comp)
    path = cache.store.path("ab" + "0" * 62)
    assert path == tmp_path / "c" / "agent" / "ab" / ("ab" + "0" * 62 + ".json")
    whole = path.read_bytes()
    for cut in (0, 1, len(whole) // 2, len(whole) - 3):
        path.write_bytes(whole[:cut])
        assert cache.get("ab" + "0" * 62) is None
    assert cache.corrupt == 4


# --- the response cache ---------------------------------------------------------------------------------------


def _options(project: Path, run_dir: Path, **kw) -> RunOptions:
    return RunOptions(cases=load_suite(project / "cases"), prompts=[load_prompt("prompt.md", root=project)],
                      models=[MODEL], run_dir=run_dir, graders=["deterministic"], progress=False, **kw)


def test_second_identical_run_makes_zero_requests(project, tmp_path, monkeypatch):
    with FakeServer(review_responder) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        gen = GenerationConfig(temperature=0.7, max_tokens=512)
        first = execute(load_config(project), _options(project, tmp_path / "r1", epochs=2, generation=gen))
        assert first.complete and srv.requests == 2 * N
        second = execute(load_config(project), _options(project, tmp_path / "r2", epochs=2, generation=gen))
        assert second.complete and srv.requests == 2 * N  # not one more request
        assert second.stats.cache_hits == 2 * N and all(r.cached for r in second.records)
        assert results(second.records) == results(first.records)
        assert second.stats.cost_usd == 0.0 and second.stats.input_tokens == 0


def test_replay_only_with_an_emptied_cache_fails_naming_replay_only(project, tmp_path, monkeypatch, capsys):
    with FakeServer(review_responder) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        assert execute(load_config(project), _options(project, tmp_path / "r1")).complete
        cache_dir = load_config(project).resolved_cache_dir()
        shutil.rmtree(cache_dir)
        cache_dir.mkdir()
        before = srv.requests
        res = execute(load_config(project, {"cache_mode": "replay-only"}), _options(project, tmp_path / "r2"))
        assert not res.complete and "replay-only" in res.reason
        assert srv.requests == before
        assert res.records and all(r.error.kind == "cache_miss" and "replay-only" in r.error.message
                                   for r in res.records)

        code = cli_main(run_args(project, tmp_path / "r3", "--cache", "replay-only"))
        err = capsys.readouterr().err
        assert code == 3 and "replay-only" in err, err
        assert srv.requests == before


def test_two_runs_sharing_a_cache_folder_do_not_corrupt_it(tmp_path, monkeypatch):
    project = write_project(tmp_path / "proj", 30, concurrency=8)
    cache_dir = tmp_path / "cache"
    # 0.5 s a request: the request phase (60 requests, 8 at a time) lasts ~4 s, longer than the spread of the two
    # children's start-up after the barrier (preflight, imports), so the runs overlap on any machine
    with FakeServer(review_responder, latency_s=0.5) as srv:
        env = harness_env(srv.base_url, KEY, cache_dir, CHILD_NO_REPORT="1", CHILD_BARRIER_N="2",
                          CHILD_BARRIER_DIR=str(tmp_path / "barrier"))
        args = ("--epochs", "2", "--temperature", "0.7")
        procs = [popen_child(run_args(project, tmp_path / f"run{i}", *args), env) for i in range(2)]
        outs = [p.communicate(timeout=180) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, err
        # both runs asked for (and so wrote) the same entries at the same time: neither just read the other's
        # (more than 60 requests: run after run, the second would have read all 60 from the cache)
        assert 60 < srv.requests <= 2 * 60 and srv.max_inflight > 8
        entries = [p for p in cache_dir.rglob("*") if p.is_file()]
        assert not [p for p in entries if p.name.startswith(".") or p.suffix != ".json"], "temp files left behind"
        assert len(entries) == 60
        for p in entries:
            data = json.loads(p.read_text(encoding="utf-8"))
            assert data["key"] == p.stem and data["text"].startswith(("## SQL injection", "No defects"))
        runs = [RunDir.open(tmp_path / f"run{i}").read_samples().records for i in range(2)]
        assert results(runs[0]) == results(runs[1]) and len(runs[0]) == 60

        # everything both runs needed is in the cache: a replay-only run completes without a request
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache_dir))
        before = srv.requests
        res = execute(load_config(project, {"cache_mode": "replay-only"}),
                      _options(project, tmp_path / "replay", epochs=2,
                               generation=GenerationConfig(temperature=0.7, max_tokens=512)))
        assert res.complete, res.reason
        assert srv.requests == before and results(res.records) == results(runs[0])


# --- Message Batches ------------------------------------------------------------------------------------------


def _warm_prompt_cache(srv: FakeServer, system: str) -> None:
    """One request with the shared system prompt, so every later request reads the prefix from the server's
    prompt cache whatever order it arrives in (usage then depends on the request only)."""
    c = anthropic.Anthropic(base_url=srv.base_url, api_key=KEY, max_retries=0)
    c.messages.create(model=MODEL_ID, max_tokens=16, system=system_blocks(system),
                      messages=[{"role": "user", "content": "warm-up"}])


def test_batch_run_equals_direct_run_at_exactly_half_price(project, tmp_path, monkeypatch):
    with FakeServer(review_responder, batch_polls_before_end=0) as srv:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", srv.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        _warm_prompt_cache(srv, load_prompt("prompt.md", root=project).body)
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache-direct"))
        direct = execute(load_config(project), _options(project, tmp_path / "direct"))
        monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache-batch"))
        messages_before = srv.requests_by_path["POST /v1/messages"]
        batch = execute(load_config(project), _options(project, tmp_path / "batch", batch=True))
        assert direct.complete and batch.complete, (direct.reason, batch.reason)
        assert srv.requests_by_path["POST /v1/messages"] == messages_before  # the batch sent no direct call
        assert srv.requests_by_path["POST /v1/messages/batches"] == 1
        assert srv.batch_items["succeeded"] == N

        timing_and_cost = {"latency_s", "queue_s", "started_at", "finished_at", "cost_usd"}
        d = {r.sample_id: r.model_dump(mode="json") for r in direct.records}
        b = {r.sample_id: r.model_dump(mode="json") for r in batch.records}
        assert d.keys() == b.keys() and len(d) == N
        for sid in d:
            assert {k: v for k, v in d[sid].items() if k not in timing_and_cost} == \
                   {k: v for k, v in b[sid].items() if k not in timing_and_cost}
            assert d[sid]["usage"]["cache_read_input_tokens"] > 0  # the cache price is part of the comparison
            assert d[sid]["cost_usd"] > 0 and b[sid]["cost_usd"] == d[sid]["cost_usd"] / 2
        assert batch.stats.cost_usd == pytest.approx(direct.stats.cost_usd / 2, rel=1e-12)


@pytest.mark.parametrize("resume_with_batch_flag", [True, False])
def test_batch_run_killed_after_creation_resumes_by_polling(project, tmp_path, monkeypatch, resume_with_batch_flag):
    ref = reference(project, tmp_path, monkeypatch)
    run_dir, cache_dir = tmp_path / "run", tmp_path / "cache"
    with FakeServer(review_responder, batch_polls_before_end=0) as srv:
        env = harness_env(srv.base_url, KEY, cache_dir, CHILD_NO_REPORT="1")
        crash(project, run_dir, env, args=run_args(project, run_dir, "--batch"), CRASH_AFTER_BATCH_CREATE=1)
        (state_file,) = run_dir.glob("batch-*.json")
        batch_id = json.loads(state_file.read_text())["batch_id"]
        assert srv.requests_by_path["POST /v1/messages/batches"] == 1
        assert not RunDir.open(run_dir).read_samples().records

        extra = ("--batch",) if resume_with_batch_flag else ()
        p = run_child(resume_args(project, run_dir, *extra), env)
        assert p.returncode == 0, p.stderr
        assert srv.requests_by_path["POST /v1/messages/batches"] == 1  # polled the stored batch, made no other
        assert srv.requests_by_path["POST /v1/messages"] == 0
        assert srv.requests_by_path["GET /v1/messages/batches/{id}"] >= 1
        assert any(r.path == f"/v1/messages/batches/{batch_id}" for r in srv.received)
        Probe(project, run_dir, cache_dir, srv).assert_equals_reference(ref)
