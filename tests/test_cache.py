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
