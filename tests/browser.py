"""Drive headless Chromium over the Chrome DevTools Protocol (CDP) to check generated HTML pages.

``open_page(path)`` launches a fresh Chromium (its own temporary ``--user-data-dir``, no network services, no
first-run UI), opens the file, waits for the load event, and returns a :class:`PageResult` with the console errors,
uncaught exceptions, CSP/security log errors, every network request the page made, JavaScript dialogs opened,
the live DOM, and a summary of every ``<svg>`` (size, drawn bounding box, element counts).

Why CDP and not ``--dump-dom``: the DOM dump cannot tell console errors apart from Chromium's own log noise,
and it cannot run checks after the page's scripts have run; CDP reports each event precisely. The websocket
client is aiohttp (already a test dependency).

Use from a test::

    from .browser import open_page, require_chromium   # tests is a package

    @pytest.mark.browser
    def test_page(tmp_path):
        require_chromium()                       # skip if absent, unless $CI is set (then fail)
        page = open_page(tmp_path / "x.html", evaluate={"rows": "document.querySelectorAll('tr').length"})
        assert not page.console_errors
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--remote-debugging-port=0"]

# [] when the page does not scroll sideways; else the page width and the elements sticking out (a diagnostic:
# tables and <pre> that scroll inside their own box do not make the page scroll)
OVERFLOW_JS = """(function () {
  var w = document.documentElement.clientWidth, out = [];
  if (document.documentElement.scrollWidth <= w) { return out; }
  out.push('page ' + document.documentElement.scrollWidth + ' > ' + w);
  document.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > w + 1) { out.push(e.tagName + '.' + e.className + ' right=' + Math.round(r.right)); }
  });
  return out.slice(0, 20);
})()"""

SVG_STATS_JS = """Array.from(document.querySelectorAll('svg')).map(function (s) {
  var r = s.getBoundingClientRect(), bb = null;
  try { var b = s.getBBox(); bb = {x: b.x, y: b.y, width: b.width, height: b.height}; } catch (e) {}
  var marks = 0;
  s.querySelectorAll('g[id*="patch_"] path, g[id*="line2d_"] path, g[id*="line2d_"] use, ' +
                     'g[id*="PathCollection"] path, g[id*="PathCollection"] use').forEach(function (e) {
    if (e.closest('g[id*="matplotlib.axis"]') || e.closest('g[id*="legend"]')) { return; }
    try { var b = e.getBBox(); if (b.width > 0 || b.height > 0) { marks++; } } catch (x) {}
  });
  var texts = Array.from(s.querySelectorAll('text')).map(function (t) { return t.textContent; });
  return {cls: s.getAttribute('class') || '', label: s.getAttribute('aria-label') || '',
          width: r.width, height: r.height, bbox: bb, marks: marks,
          paths: s.querySelectorAll('path').length, texts: texts.length, uses: s.querySelectorAll('use').length,
          nodata: texts.indexOf('no data') >= 0};
})"""


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer in time."""


@dataclass
class PageResult:
    """What happened when a page was opened.

    Attributes:
        console_errors: console.error/assert messages, uncaught exceptions and Log-domain errors (CSP
            violations, failed loads), as text.
        console: every console message as ``(level, text)``.
        exceptions: uncaught exception descriptions.
        requests_made: URLs requested by the page besides the page itself (should be empty for a
            self-contained report).
        dialogs: messages of alert/confirm/prompt dialogs opened (each is auto-dismissed).
        dom: ``document.documentElement.outerHTML`` after load (and after ``actions``).
        svgs: one dict per ``<svg>``: cls, label, width, height (CSS px), bbox (drawn content box or None),
            marks (data marks with a non-empty box: bars, lines, markers — axes and legend excluded, figure and
            axes backgrounds included), paths, texts, uses, nodata (the chart says "no data").
        values: results of the ``evaluate`` expressions, by name.
        title: the document title.
    """

    console_errors: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests_made: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    dom: str = ""
    svgs: list[dict] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    title: str = ""


def assert_charts_drawn(page: PageResult, *, min_charts: int = 1) -> None:
    """Assert the page has at least ``min_charts`` chart SVGs and each is visible, has a drawn box, text, and
    data marks beyond the figure and axes backgrounds and the two spines (> 4 marks)."""
    charts = [s for s in page.svgs if "chart" in s["cls"].split()]
    assert len(charts) >= min_charts, f"expected >= {min_charts} charts, found {len(charts)}"
    for c in charts:
        assert c["width"] > 50 and c["height"] > 50, f"chart not laid out: {c}"
        assert c["bbox"] and c["bbox"]["width"] > 0 and c["bbox"]["height"] > 0, f"chart drew nothing: {c}"
        assert c["texts"] > 0, f"chart has no text: {c}"
        assert not c["nodata"] and c["marks"] > 4, f"chart has no data marks: {c}"


def chromium_path() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else /usr/bin/chromium or the first of chromium,
    chromium-browser, google-chrome on PATH; None when absent."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


def require_chromium() -> str:
    """Return the Chromium path; skip the test when it is missing, except in CI (``$CI`` set) where a missing
    browser fails the test."""
    import pytest

    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    return path


def _text_of(args: list[dict]) -> str:
    out = []
    for a in args:
        if "value" in a:
            out.append(a["value"] if isinstance(a["value"], str) else json.dumps(a["value"]))
        else:
            out.append(a.get("description") or a.get("type", ""))
    return " ".join(out)


class _CDP:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse, result: PageResult, page_url: str):
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.result = result
        self.page_url = page_url
        self.loaded = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        mid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        await self.ws.send_str(json.dumps({"id": mid, "method": method, "params": params or {}}))
        msg = await asyncio.wait_for(fut, timeout)
        if "error" in msg:
            raise BrowserError(f"{method}: {msg['error']}")
        return msg.get("result", {})

    async def _read(self) -> None:
        async for m in self.ws:
            if m.type != aiohttp.WSMsgType.TEXT:
                continue
            msg = json.loads(m.data)
            if "id" in msg:
                fut = self.pending.pop(msg["id"], None)
                if fut and not fut.done():
                    fut.set_result(msg)
            else:
                await self._event(msg.get("method", ""), msg.get("params", {}))

    async def _event(self, method: str, p: dict) -> None:
        r = self.result
        if method == "Runtime.consoleAPICalled":
            text = _text_of(p.get("args", []))
            r.console.append((p.get("type", ""), text))
            if p.get("type") in ("error", "assert"):
                r.console_errors.append(f"console.{p['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = (d.get("exception") or {}).get("description") or d.get("text", "exception")
            r.exceptions.append(text)
            r.console_errors.append(f"uncaught: {text}")
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            r.console.append((e.get("level", ""), e.get("text", "")))
            if e.get("level") == "error":
                r.console_errors.append(f"{e.get('source', 'log')}: {e.get('text', '')}")
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if url and url != self.page_url:
                r.requests_made.append(url)
        elif method == "Page.javascriptDialogOpening":
            r.dialogs.append(p.get("message", ""))
            asyncio.create_task(self.send("Page.handleJavaScriptDialog", {"accept": False}))
        elif method == "Page.loadEventFired":
            self.loaded.set()

    async def evaluate(self, expr: str) -> Any:
        res = await self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError(f"evaluate failed: {res['exceptionDetails'].get('text')}: {expr[:80]}")
        return res.get("result", {}).get("value")

    async def close(self) -> None:
        self.reader.cancel()
        try:
            await self.reader
        except (asyncio.CancelledError, Exception):
            pass


def _wait_port(user_dir: Path, proc: subprocess.Popen, timeout: float) -> int:
    f = user_dir / "DevToolsActivePort"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BrowserError(f"chromium exited with code {proc.returncode} before listening")
        if f.is_file():
            lines = f.read_text().splitlines()
            if lines and lines[0].strip().isdigit():
                return int(lines[0])
        time.sleep(0.05)
    raise BrowserError("chromium did not open its DevTools port in time")


async def _drive(port: int, url: str, evaluate: dict[str, str], actions: list[str], settle_ms: int,
                 timeout: float, width: int | None = None, screenshot: tuple | None = None) -> PageResult:
    result = PageResult()
    async with aiohttp.ClientSession() as http:
        targets = []
        end = time.monotonic() + timeout
        while not targets and time.monotonic() < end:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = [t for t in await resp.json(content_type=None) if t.get("type") == "page"]
            if not targets:
                await asyncio.sleep(0.05)
        if not targets:
            raise BrowserError("no page target in chromium")
        async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = _CDP(ws, result, url)
            try:
                for domain in ("Page", "Runtime", "Log", "Network"):
                    await cdp.send(f"{domain}.enable")
                if width:
                    await cdp.send("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False})
                await cdp.send("Page.navigate", {"url": url})
                await asyncio.wait_for(cdp.loaded.wait(), timeout)
                await asyncio.sleep(settle_ms / 1000)
                for a in actions:
                    await cdp.evaluate(a)
                if actions:
                    await asyncio.sleep(settle_ms / 1000)
                for name, expr in evaluate.items():
                    result.values[name] = await cdp.evaluate(expr)
                result.svgs = await cdp.evaluate(SVG_STATS_JS) or []
                result.title = await cdp.evaluate("document.title") or ""
                result.dom = await cdp.evaluate("document.documentElement.outerHTML") or ""
                if screenshot is not None:
                    import base64
                    shot_path, sel, most = screenshot
                    top = 0
                    if sel:
                        top = await cdp.evaluate(f"Math.max(0, document.querySelector({json.dumps(sel)})"
                                                 ".getBoundingClientRect().top + window.scrollY - 8)") or 0
                    h = await cdp.evaluate(f"Math.min(document.documentElement.scrollHeight - {top}, {most})")
                    shot = await cdp.send("Page.captureScreenshot", {
                        "format": "png", "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": top, "width": width or 1280, "height": h or 900, "scale": 1}},
                        timeout=timeout)
                    screenshot = shot_path
                    Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
                await asyncio.sleep(0.05)   # let trailing events (late console errors) arrive
            finally:
                await cdp.close()
    return result


def open_page(path: str | Path, *, evaluate: dict[str, str] | None = None, actions: list[str] | None = None,
              settle_ms: int = 300, timeout: float = 60.0, chromium: str | None = None, width: int | None = None,
              screenshot: str | Path | None = None, screenshot_from: str | None = None,
              screenshot_height: int = 16000) -> PageResult:
    """Open a local HTML file in a fresh headless Chromium and report what happened.

    Args:
        path: the HTML file.
        evaluate: name -> JavaScript expression, evaluated after load (and after ``actions``); results in
            ``PageResult.values`` (JSON-serialisable values only).
        actions: JavaScript statements run in order after load (e.g. clicking a table header).
        settle_ms: wait after load and after the actions, for late scripts and errors (milliseconds).
        timeout: seconds for start-up and load.
        chromium: the executable (default :func:`chromium_path`).
        width: viewport width in CSS pixels (height 900), e.g. 1280 to check for horizontal overflow; None keeps
            Chromium's default window.
        screenshot: write a PNG of the page there, after the actions: from the top, or from the element
            ``screenshot_from`` (a CSS selector), at most ``screenshot_height`` CSS pixels tall.
    Returns:
        A :class:`PageResult`.
    Raises:
        BrowserError: Chromium missing, failing to start, or the page not loading in time.
    """
    exe = chromium or chromium_path()
    if exe is None:
        raise BrowserError("chromium not found")
    url = Path(path).resolve().as_uri()
    user_dir = Path(tempfile.mkdtemp(prefix="harness-chromium-"))
    log = open(user_dir / "chromium.log", "wb")
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={user_dir}", "about:blank"], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        port = _wait_port(user_dir, proc, timeout)
        return asyncio.run(_drive(port, url, evaluate or {}, actions or [], settle_ms, timeout, width,
                                  (Path(screenshot), screenshot_from, screenshot_height)
                                  if screenshot is not None else None))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(user_dir, ignore_errors=True)
