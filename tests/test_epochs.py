"""Epochs at temperature 0 (issue 14): one documented rule, independent of timing and of the cache mode. Within
a session, all epochs of a (case, prompt version, model) at temperature 0 share one request: the first epoch
asks (or reads the cache in ``use``/``replay-only``), the others reuse its answer and are recorded as
``reused``, never as "from cache"."""

from __future__ import annotations

import pytest

from harness.models.base import GenerationConfig

from .test_runner import ScriptedModel, cfg, opts, suite  # noqa: F401 - suite is a fixture


@pytest.mark.parametrize("mode", ["use", "refresh", "off"])
@pytest.mark.parametrize("concurrency", [1, 2, 4, 16])
def test_temperature_zero_epochs_share_one_request_whatever_the_timing(suite, tmp_path, monkeypatch, mode,  # noqa: F811
                                                                       concurrency):
    from harness.runner import execute
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    made: list[ScriptedModel] = []

    def factory(name):
        made.append(ScriptedModel(name))
        return made[-1]

    res = execute(cfg(cache_mode=mode, concurrency=concurrency),
                  opts(suite, tmp_path, epochs=3, generation=GenerationConfig(temperature=0)), model_factory=factory)
    assert res.complete
    assert made[0].calls == len(suite)   # one request per case, never one per epoch, never timing-dependent
    st = res.stats
    assert st.reused == 2 * len(suite) and st.cache_hits == 0
    by_epoch = {e: [r for r in res.records if r.epoch == e] for e in range(3)}
    assert not any(r.reused for r in by_epoch[0]) and all(r.reused and not r.cached for e in (1, 2)
                                                           for r in by_epoch[e])
    assert {r.review for r in by_epoch[2]} == {r.review for r in by_epoch[0]}
    # tokens and cost are counted once per request; the reused epochs' cost is what they saved
    assert st.input_tokens == 1000 * len(suite) and st.saved_usd == pytest.approx(2 * st.cost_usd)


def test_cache_off_never_says_from_cache(suite, tmp_path, monkeypatch):  # noqa: F811
    from harness.commands import summary_line
    from harness.runner import execute
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    res = execute(cfg(cache_mode="off"), opts(suite, tmp_path, epochs=2, generation=GenerationConfig(temperature=0)),
                  model_factory=lambda n: ScriptedModel(n))
    line = summary_line(res)
    assert "0 from cache, 5 reused (temperature 0)" in line, line


def test_a_warm_cache_answers_the_first_epoch_and_the_others_reuse_it(suite, tmp_path, monkeypatch):  # noqa: F811
    from harness.runner import execute
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    gen = GenerationConfig(temperature=0)
    execute(cfg(), opts(suite, tmp_path, epochs=3, generation=gen), model_factory=lambda n: ScriptedModel(n))
    made: list[ScriptedModel] = []
    o = opts(suite, tmp_path, epochs=3, generation=gen)
    o.run_dir = tmp_path / "second"
    res = execute(cfg(), o, model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert made[0].calls == 0 and res.stats.cache_hits == len(suite) and res.stats.reused == 2 * len(suite)
    assert res.stats.cost_usd == 0 and res.stats.saved_usd > 0


@pytest.mark.parametrize("mode", ["off", "refresh"])
def test_a_resumed_session_reuses_the_epoch_an_earlier_session_recorded(suite, tmp_path, monkeypatch, mode):  # noqa: F811
    """A session interrupted after the first epoch of every case: the resume records the other epochs from that
    answer (reused), without a request. Before, it paid for each case's request again (39 requests for 32 with
    `--cache off`, a fresh user's report, 2026-12-08)."""
    import json
    from harness.runner import execute
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    gen = GenerationConfig(temperature=0)
    first: list[ScriptedModel] = []
    execute(cfg(cache_mode=mode), opts(suite, tmp_path, epochs=3, generation=gen),
            model_factory=lambda n: first.append(ScriptedModel(n)) or first[-1])
    assert first[0].calls == len(suite)
    samples = tmp_path / "run" / "samples.jsonl"
    lines = [ln for ln in samples.read_text(encoding="utf-8").splitlines() if json.loads(ln)["epoch"] == 0]
    samples.write_text("\n".join(lines) + "\n", encoding="utf-8")   # as if the session stopped there
    made: list[ScriptedModel] = []
    o = opts(suite, tmp_path, epochs=3, generation=gen)
    o.resume = True
    res = execute(cfg(cache_mode=mode), o, model_factory=lambda n: made.append(ScriptedModel(n)) or made[-1])
    assert res.complete and len(res.records) == 3 * len(suite)
    assert sum(m.calls for m in made) == 0 and res.stats.reused == 2 * len(suite)
    assert res.stats.cost_usd == 0 and res.stats.saved_usd > 0
    by_case = {}
    for r in res.records:
        by_case.setdefault(r.case, set()).add(r.review)
    assert all(len(v) == 1 for v in by_case.values())
