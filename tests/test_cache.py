"""Response cache: keys, modes, atomic entries, concurrent writers."""

import multiprocessing as mp

import pytest

from harness.cache import ResponseCache, cache_key
from harness.errors import ModelError
from harness.models.base import Completion, GenerationConfig, ModelSpec, Usage

SPEC = ModelSpec.parse("anthropic/claude-sonnet-4-5")
COMP = Completion(text="review", usage=Usage(10, 2, 0, 0), stop_reason="end_turn", latency_s=0.5)


def key(epoch=0, temperature=0.0, system="s", base_url=None):
    return cache_key(SPEC, base_url, GenerationConfig(temperature=temperature), system,
                     [{"role": "user", "content": "m"}], epoch)


def test_key_covers_inputs():
    assert key() == key(epoch=5)  # temperature 0: epochs replay one answer
    assert key(temperature=0.7, epoch=0) != key(temperature=0.7, epoch=1)
    assert key(system="other") != key() and key(base_url="http://x") != key()


def test_modes(tmp_path):
    c = ResponseCache(tmp_path, "use")
    assert c.get(key()) is None
    c.put(key(), COMP)
    assert c.get(key()).text == "review" and c.hits == 1
    assert ResponseCache(tmp_path, "refresh").get(key()) is None
    assert ResponseCache(tmp_path, "off").get(key()) is None
    off = ResponseCache(tmp_path / "o", "off")
    off.put(key(), COMP)
    assert not (tmp_path / "o").exists()
    with pytest.raises(ModelError, match="replay-only") as ei:
        ResponseCache(tmp_path / "empty", "replay-only").get(key())
    assert ei.value.kind == "cache_miss"


def test_corrupt_entry_is_a_miss(tmp_path):
    c = ResponseCache(tmp_path, "use")
    c.put(key(), COMP)
    path = next(tmp_path.rglob("*.json"))
    path.write_text('{"key": "x", "te')
    assert c.get(key()) is None and c.corrupt == 1


def _writer(root, n, tag):
    c = ResponseCache(root, "use")
    for i in range(n):
        c.put(cache_key(SPEC, None, GenerationConfig(), f"s{i}", [], 0),
              Completion(text=f"t{i}" * 500, usage=Usage(), stop_reason=None, latency_s=0.0))


def test_concurrent_writers_do_not_corrupt(tmp_path):
    procs = [mp.get_context("fork").Process(target=_writer, args=(tmp_path, 200, t)) for t in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    c = ResponseCache(tmp_path, "use")
    for i in range(200):
        got = c.get(cache_key(SPEC, None, GenerationConfig(), f"s{i}", [], 0))
        assert got is not None and got.text == f"t{i}" * 500
    assert c.corrupt == 0 and not list(tmp_path.rglob("*.tmp"))


def test_namespaces_keep_agent_and_judge_entries_apart(tmp_path):
    from harness.cache import DiskCache
    agent = ResponseCache(tmp_path, "use")
    judge = DiskCache(tmp_path, "use", "judge")
    agent.put(key(), COMP)
    assert judge.read(key()) is None                    # one key, two namespaces: no collision
    judge.write(key(), {"reply": {"findings": []}})
    assert agent.get(key()).text == "review" and judge.read(key())["reply"] == {"findings": []}
    assert (tmp_path / "agent" / key()[:2] / f"{key()}.json").is_file()
    assert (tmp_path / "judge" / key()[:2] / f"{key()}.json").is_file()
    moved = DiskCache(tmp_path, "use", "judge", folder=tmp_path / "elsewhere")
    assert moved.read(key()) is None and moved.path(key()).is_relative_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="unknown cache namespace 'batches'"):
        DiskCache(tmp_path, "use", "batches")


def test_agent_entries_written_before_namespacing_are_still_read(tmp_path):
    import json
    legacy = tmp_path / key()[:2] / f"{key()}.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"key": key(), "text": "old review", "usage": Usage(1, 1, 0, 0).as_dict(),
                                  "stop_reason": "end_turn", "latency_s": 0.1}), encoding="utf-8")
    assert ResponseCache(tmp_path, "use").get(key()).text == "old review"
    from harness.cache import DiskCache
    assert DiskCache(tmp_path, "use", "judge").read(key()) is None   # only the agent namespace looks there


def test_replay_only_miss_names_the_namespace(tmp_path):
    from harness.cache import DiskCache
    with pytest.raises(ModelError, match="judge key") as ei:
        DiskCache(tmp_path, "replay-only", "judge").read(key())
    assert ei.value.kind == "cache_miss"
    c = DiskCache(tmp_path, "replay-only", "judge")
    c.write(key(), {"reply": {}})                        # replay-only never writes
    assert not any(tmp_path.rglob("*.json"))
