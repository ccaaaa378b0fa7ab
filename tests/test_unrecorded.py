"""unrecorded.json: the answers a stopped session received and did not record, kept for the resume."""

from __future__ import annotations

from harness import unrecorded
from harness.models.base import Completion, Usage
from harness.unrecorded import Unrecorded


def _answer(text: str = "## SQL injection\nin app.py:1") -> Completion:
    return Completion(text=text, usage=Usage(input_tokens=120, output_tokens=30, cache_read_input_tokens=7),
                      stop_reason="end_turn", latency_s=1.25, model="claude-sonnet-4-5",
                      extra={"blocks": ["text"], "text_replaced": 1})


def test_answers_survive_the_round_trip_with_their_marks(tmp_path):
    kept = {"s1": Unrecorded(_answer()), "s2": Unrecorded(_answer("none"), cached=True),
            "s3": Unrecorded(_answer("again"), reused=True)}
    unrecorded.save(tmp_path, kept)
    got, notes = unrecorded.load(tmp_path)
    assert notes == [] and got == kept


def test_nothing_left_removes_the_file_and_no_file_reads_as_nothing(tmp_path):
    unrecorded.save(tmp_path, {"s1": Unrecorded(_answer())})
    assert (tmp_path / unrecorded.FILE).exists()
    unrecorded.save(tmp_path, {})
    assert not (tmp_path / unrecorded.FILE).exists()
    assert unrecorded.load(tmp_path) == ({}, [])


def test_a_damaged_file_is_named_and_nothing_is_used_from_it(tmp_path):
    (tmp_path / unrecorded.FILE).write_text('{"version": 1, "answers": {"s1": {"completion": {"text": "x"}}}}')
    got, notes = unrecorded.load(tmp_path)
    assert got == {}
    assert len(notes) == 1 and str(tmp_path / unrecorded.FILE) in notes[0] and "asked for again" in notes[0]


def test_the_stop_account_says_what_an_interrupted_session_leaves():
    """`harness run` said only "what was recorded is kept" on Ctrl-C: neither the spend nor the answers kept for
    the resume (a fresh user's report, 2026-12-08). Both entry points now print this line."""
    from harness.unrecorded import stop_account
    line = stop_account({"recorded": 20, "planned": 32, "unrecorded_answers": 12, "spent_usd": 0.25,
                         "cost_usd": 0.25})
    assert line == ("20 of 32 samples recorded and kept; 12 answer(s) received and not yet recorded are kept (the "
                    "resume records them without a request); spent by this run $0.2500")
    assert stop_account({"recorded": 3, "planned": 3, "spent_usd": 0.0, "cost_usd": None}) == \
        "3 of 3 samples recorded and kept"
    assert stop_account({}) is None
