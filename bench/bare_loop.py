"""The floor of the whole-process comparison (``bench_tools.py``): a bare ``AsyncAnthropic`` + semaphore loop.

    python bench/bare_loop.py WORK.json CONCURRENCY

``WORK.json`` holds ``{"model", "system", "messages": [user message, ...], "temperature", "max_tokens"}``: one
request per entry, sent with the system prompt as one text block marked ``cache_control`` (as the harness sends
it). The SDK reads ``ANTHROPIC_API_KEY`` and ``ANTHROPIC_BASE_URL``. Prints one JSON line: requests answered with
text. Nothing else is done: no records, no grading, no retries (``max_retries=0``), which is what makes it a floor.
"""

from __future__ import annotations

import asyncio
import json
import sys

import anthropic


async def main(work: dict, concurrency: int) -> int:
    client = anthropic.AsyncAnthropic(max_retries=0, timeout=120)
    sem = asyncio.Semaphore(concurrency)
    system = [{"type": "text", "text": work["system"], "cache_control": {"type": "ephemeral"}}]

    async def one(message: str) -> int:
        async with sem:
            m = await client.messages.create(model=work["model"], max_tokens=work["max_tokens"], system=system,
                                             messages=[{"role": "user", "content": message}],
                                             extra_body={"temperature": work["temperature"]})
            return 1 if m.content and m.content[0].text else 0

    try:
        return sum(await asyncio.gather(*(one(m) for m in work["messages"])))
    finally:
        await client.close()


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        w = json.load(fh)
    ok = asyncio.run(main(w, int(sys.argv[2])))
    print(json.dumps({"samples": len(w["messages"]), "ok": ok}))
