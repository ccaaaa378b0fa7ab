"""Test doubles: fake model servers and synthetic runs, for the harness's own tests and for trying a config offline.

Nothing on the runtime path (``harness.cli``, ``harness.runner``, the pytest plugin, the reports) imports this
package; ``tests/test_layout.py`` checks it. The servers need ``aiohttp``, an optional dependency::

    pip install 'harness[testing]'          # or '.[test]' from a checkout: the test extra includes it

Modules (import them by name; this ``__init__`` imports nothing, so importing ``harness.testing.synthetic`` does
not require aiohttp):

* :mod:`harness.testing.fakeserver` -- :class:`~harness.testing.fakeserver.FakeServer`, a loopback fake of
  Anthropic's Messages API (streaming, Message Batches, count_tokens) and of an OpenAI-compatible chat endpoint,
  with scripted or seeded-random faults (429, 529, 5xx, timeouts, dropped connections, malformed bodies).
* :mod:`harness.testing.fakellama` -- :class:`~harness.testing.fakellama.FakeLlamaServer`, a fake local
  OpenAI-compatible server as llama.cpp's ``llama-server``, llama-cpp-python or Ollama behave (slots, a small
  context, no ``json_schema``).
* :mod:`harness.testing.synthetic` -- :func:`~harness.testing.synthetic.write_synthetic_run` writes a run
  directory with known truth (no model, no grader), :func:`~harness.testing.synthetic.make_cases` its cases, and
  :func:`~harness.testing.synthetic.simulate_suite` / ``simulate_night`` feed the regression gate's simulations.

Trying a config offline: point the Anthropic SDK at a fake server (``ANTHROPIC_BASE_URL``) and run as usual::

    import os, subprocess
    from harness.testing.fakeserver import FakeServer
    with FakeServer(latency_s=0.2) as server:       # answers every request with a generic review
        env = {**os.environ, "ANTHROPIC_BASE_URL": server.base_url, "ANTHROPIC_API_KEY": "sk-ant-fake",
               "HARNESS_CACHE_DIR": "/tmp/harness-offline-cache"}   # keep the fake's answers out of your cache
        subprocess.run(["harness", "run", "--cases", "smoke"], env=env, check=False)

The fake's reviews are placeholders: its scores show that the pipeline works, not what a prompt is worth.
"""
