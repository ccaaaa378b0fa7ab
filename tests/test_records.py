"""Run directory: manifest, append-only samples, torn-line detection, atomic rewrite."""

import pytest

from harness.errors import RecordError
from harness.records import RunDir, RunManifest, SampleRecord, sample_id


def rec(i, **kw):
    return SampleRecord(sample_id=f"s{i}", case="c", prompt_version="v1", prompt_fingerprint="f", model="m",
                        epoch=i, **kw)


def test_create_append_read(tmp_path):
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    for i in range(3):
        rd.append(rec(i, review="ok"))
    res = RunDir.open(tmp_path / "run").read_samples()
    assert [r.sample_id for r in res.records] == ["s0", "s1", "s2"] and not res.torn_tail


def test_append_returns_the_record_as_a_later_read_gives_it(tmp_path):
    """The runner keeps what append returns instead of reading the file back at the end of a run: it must be
    the record the line holds, also when text UTF-8 cannot carry (a lone surrogate) was replaced."""
    from harness.records import SampleError
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    plain = rec(0, review="ok")
    assert rd.append(plain) is plain
    odd = rec(1, error=SampleError(kind="server", message="bad \ud800 byte"))
    written = rd.append(odd)
    assert written is not odd and written.text_replaced == 1 and "\ud800" not in written.error.message
    read = RunDir.open(tmp_path / "run").read_samples().records
    assert [r.model_dump() for r in read] == [plain.model_dump(), written.model_dump()]


def test_torn_tail_is_detected_and_dropped(tmp_path):
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    rd.append(rec(0))
    with open(rd.samples_path, "a") as fh:
        fh.write(rec(1).model_dump_json()[:40])
    res = rd.read_samples()
    assert res.torn_tail and [r.sample_id for r in res.records] == ["s0"]
    rd.repair()
    rd.append(rec(2))
    res = rd.read_samples()
    assert not res.torn_tail and [r.sample_id for r in res.records] == ["s0", "s2"]


def test_invalid_middle_line_reported(tmp_path):
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    rd.append(rec(0))
    with open(rd.samples_path, "a") as fh:
        fh.write('{"not": "a record"}\n')
    rd.append(rec(1))
    res = rd.read_samples()
    assert [ln for ln, _ in res.bad_lines] == [2] and len(res.records) == 2


def test_last_record_of_a_sample_wins(tmp_path):
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    rd.append(rec(0, review=None))
    rd.append(rec(0, review="second"))
    assert rd.read_samples().records[0].review == "second"


def test_errors(tmp_path):
    with pytest.raises(RecordError, match="no run.json"):
        RunDir.open(tmp_path)
    (tmp_path / "run.json").write_text("{broken")
    with pytest.raises(RecordError, match="invalid manifest"):
        RunDir.open(tmp_path)
    RunDir.create(tmp_path / "r", RunManifest(run_id="r"))
    with pytest.raises(RecordError, match="already exists"):
        RunDir.create(tmp_path / "r", RunManifest(run_id="r"))


def test_sample_id_is_deterministic_and_distinct():
    assert sample_id("c", "f", "m", 0) == sample_id("c", "f", "m", 0)
    assert len({sample_id("c", "f", "m", e) for e in range(100)}) == 100


def test_written_files_are_readable_by_others(tmp_path):
    import os
    import stat
    old = os.umask(0o022)
    try:
        rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    finally:
        os.umask(old)
    mode = stat.S_IMODE((rd.path / "run.json").stat().st_mode)
    assert mode == 0o644


def test_run_dir_is_locked_against_a_second_writer(tmp_path):
    rd = RunDir.create(tmp_path / "run", RunManifest(run_id="run"))
    with rd.lock():
        with pytest.raises(RecordError, match="another harness process"):
            RunDir.open(tmp_path / "run").lock().__enter__()
    with RunDir.open(tmp_path / "run").lock():  # released on exit
        pass


def test_run_dir_must_be_new_or_empty(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "case.yaml").write_text("id: x\n")
    with pytest.raises(RecordError, match="not empty"):
        RunDir.create(tmp_path / "busy", RunManifest(run_id="x"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordError, match="not a folder"):
        RunDir.create(tmp_path / "file", RunManifest(run_id="x"))
