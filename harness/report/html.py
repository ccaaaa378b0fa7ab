"""Shared rendering helpers for reports: the jinja2 environments, number formatting, markdown escaping, the
Content-Security-Policy and the inline table-sorting script.

Security model: every string that reaches a report (reviews, case titles, ids, prompt labels, model names,
grader reasons) is untrusted. The HTML environment autoescapes everything; the only ``|safe`` values are the
chart SVGs made by :mod:`harness.report.charts` (matplotlib escapes text; we strip the XML prolog) and the fixed
sorting script. Reviews are shown as escaped text inside ``<pre>``, never rendered as markdown. The page carries a
CSP that forbids every external load and allows exactly one inline script, by its sha256 hash (stricter than
``'unsafe-inline'``: an injected script or ``on*=`` handler would not run even if escaping failed).

In markdown (PR comments) untrusted text goes through :func:`md_text`, which escapes HTML and markdown syntax and
breaks ``@mentions``.
"""

from __future__ import annotations

import numbers

import base64
import hashlib
import math
import re
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"

SORT_JS = """(function () {
  function key(cell) {
    var v = cell.getAttribute('data-v');
    if (v === null) { v = cell.textContent.trim(); }
    var n = parseFloat(v);
    return (v !== '' && !isNaN(n) && isFinite(v)) ? {n: n} : {s: v.toLowerCase()};
  }
  function cmp(a, b) {
    if (a.n !== undefined && b.n !== undefined) { return a.n - b.n; }
    if (a.n !== undefined) { return -1; }
    if (b.n !== undefined) { return 1; }
    return a.s < b.s ? -1 : (a.s > b.s ? 1 : 0);
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, i) {
      th.tabIndex = 0;
      function sort() {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        rows.sort(function (r1, r2) {
          var c = cmp(key(r1.cells[i]), key(r2.cells[i]));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter') { sort(); } });
    });
  });
})();"""


def script_hash(script: str) -> str:
    """CSP source expression for an inline script: ``'sha256-<base64 digest>'`` of its exact text (UTF-8)."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def csp(scripts: tuple[str, ...] = (SORT_JS,)) -> str:
    """The report pages' Content-Security-Policy: nothing external, inline styles, data: images, and only the
    given inline scripts (by hash)."""
    script_src = " ".join(script_hash(s) for s in scripts) if scripts else "'none'"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {script_src}; "
            "base-uri 'none'; form-action 'none'")


# ------------------------------------------------------------------------------------------------ formatting

def _bad(x: Any) -> bool:
    try:
        return x is None or (isinstance(x, float) and math.isnan(x)) or math.isnan(float(x))
    except (TypeError, ValueError):
        return True


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.577 -> '57.7%'``; ``n/a`` for None/NaN."""
    return "n/a" if _bad(x) else f"{float(x) * 100:.{digits}f}%"


def pts(x: Any, digits: int = 1, unit: bool = True) -> str:
    """A difference of fractions in percentage points, signed: ``-0.123 -> '−12.3 pts'``."""
    if _bad(x):
        return "n/a"
    v = float(x) * 100
    return f"{'+' if v > 0 else ('−' if v < 0 else '±')}{abs(v):.{digits}f}" + (" pts" if unit else "")


def abspts(x: Any, digits: int = 1) -> str:
    """A size in percentage points, unsigned: ``0.081 -> '8.1 pts'`` (minimum detectable effects)."""
    return "n/a" if _bad(x) else f"{abs(float(x)) * 100:.{digits}f} pts"


NOT_ESTIMABLE = "not estimable"


def mde(cmp: Any) -> str:
    """A comparison's minimum detectable effect as printed (:func:`harness.verdicts.mde_text`); ``not estimable``
    when it comes out as exactly 0 (no variation between a handful of cases: 0 would claim every effect is
    detectable)."""
    from ..verdicts import mde_text
    v = getattr(cmp, "mde", None)
    if v is not None and not _bad(v) and float(v) == 0.0:
        return NOT_ESTIMABLE + f" with {getattr(cmp, 'n_clusters', '?')} cases"
    return mde_text(cmp)


def mde_t(cmp: Any) -> str:
    """A secondary metric's MDE (t approximation, Bloom 1995) in points: ``8.1 pts (t approx.)``; ``not
    estimable`` when it is 0, 100 points or more, or unknown (too few cases, or no variation between them)."""
    v = getattr(cmp, "mde", None)
    if v is None or _bad(v) or float(v) == 0.0 or math.isinf(float(v)) or abs(float(v)) >= 1.0:
        # 0, or 100 points and more, of a difference of proportions: the few cases say nothing about power
        return NOT_ESTIMABLE
    return f"{abs(float(v)) * 100:.1f} pts (t approx.)"


def count_of(n: Any, word: str) -> str:
    """``1 finding``, ``3 findings``, ``0 cases``: a count with its noun in the right number (English ``-s``)."""
    try:
        k = int(n)
    except (TypeError, ValueError):
        return f"{n} {word}s"
    return f"{k:,} {word}" if k == 1 else f"{k:,} {word}s"


def num(x: Any, digits: int = 2) -> str:
    """A plain number; ``n/a`` for None/NaN; thousands separators for large values. An integer (a token or
    sample count) prints as one: ``19``, never ``19.00``."""
    if _bad(x):
        return "n/a"
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        return f"{int(x):,}"
    v = float(x)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def signed(x: Any, digits: int = 2) -> str:
    """A signed plain number (``+1.20``, ``−0.40``)."""
    if _bad(x):
        return "n/a"
    v = float(x)
    s = num(abs(v), digits)
    return ("+" if v > 0 else ("−" if v < 0 else "±")) + s


def usd(x: Any) -> str:
    """US dollars: ``$0.0123`` below a cent, else ``$1.23``."""
    if _bad(x):
        return "n/a"
    v = float(x)
    return f"${v:.4f}" if abs(v) < 0.01 else f"${v:,.2f}"


def ci(lo: Any, hi: Any, fmt: str = "pct") -> str:
    """An interval ``lo–hi`` in the given format (``pct``, ``pts``, ``num``); ``n/a`` when unknown."""
    if _bad(lo) or _bad(hi):
        return "n/a"
    if fmt == "pts":
        if math.isinf(float(lo)) or math.isinf(float(hi)):
            return "unbounded: too few cases for the test to reach 5%"
        return f"{pts(lo, unit=False)} to {pts(hi)}"
    f = {"pct": pct, "num": num, "signed": signed, "usd": usd}[fmt]
    return f"{f(lo)} to {f(hi)}" if fmt == "signed" else f"{f(lo)}–{f(hi)}"


def diff_ci(c: Any, fmt: str = "pts") -> str:
    """The interval of a paired comparison (:class:`harness.stats.PairedComparison`): ``n/a`` when nothing was
    paired, ``not estimable with 1 case`` below 2 cases, else :func:`ci` of its bounds (``usd``: signed dollars)."""
    n = int(getattr(c, "n_clusters", 0) or 0)
    if not n:
        return "n/a"
    if n < 2:
        return f"not estimable with {n} case"
    if fmt == "usd":
        return f"{signed(c.lo, 4)} to {signed(c.hi, 4)}"
    if fmt == "count":
        return f"{signed(c.lo, 0)} to {signed(c.hi, 0)}"
    return ci(c.lo, c.hi, fmt)


def pval(p: Any) -> str:
    """A p-value: ``p < 0.001`` or ``p = 0.042``."""
    if _bad(p):
        return "n/a"
    return "p < 0.001" if float(p) < 0.001 else f"p = {float(p):.3f}"


def sortkey(x: Any) -> str:
    """A ``data-v`` sort key for a table cell: the number as text, or '' when missing."""
    if _bad(x):
        return ""
    return repr(float(x))


def short(fp: Any, n: int = 12) -> str:
    """First ``n`` characters of a fingerprint."""
    return str(fp or "")[:n] or "n/a"


def truncate(text: Any, limit: int = 600) -> str:
    """Text cut to ``limit`` characters with an ellipsis note; '' for None."""
    s = "" if text is None else str(text)
    return s if len(s) <= limit else s[:limit].rstrip() + f" … [{len(s) - limit} more characters]"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]!|~])")


def md_text(text: Any, limit: int | None = 200) -> str:
    """Untrusted text made inert for a markdown table cell or paragraph.

    Collapses whitespace (no line breaks can end a table row), escapes ``& < >`` as HTML entities (no raw HTML),
    backslash-escapes markdown punctuation (no links, images, emphasis, code spans, table pipes) and puts a
    zero-width space after ``@`` (no mentions). Truncates to ``limit`` characters first.
    """
    s = " ".join(("" if text is None else str(text)).split())
    if limit is not None and len(s) > limit:
        s = s[:limit].rstrip() + "…"
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = _MD_SPECIAL.sub(r"\\\1", s)
    if s[:1] in ("#", "-", "+", "="):
        s = "\\" + s                      # no heading, list item or setext underline at the start
    s = re.sub(r"^(\d+)([.)])", r"\1\\\2", s)  # no ordered list item
    return s.replace("@", "@\u200b")


def md_code(text: Any, limit: int = 80) -> str:
    """Untrusted text as an inline markdown code span (backticks and line breaks removed, cut to ``limit``)."""
    s = " ".join(("" if text is None else str(text)).split()).replace("`", "'")[:limit]
    return f"`{s}`" if s else "n/a"


FILTERS = {"mdcode": md_code, "pct": pct, "pts": pts, "abspts": abspts, "mde": mde, "mde_t": mde_t,
           "count_of": count_of, "num": num, "signed": signed, "usd": usd,
           "ci": ci, "diffci": diff_ci, "pval": pval,
           "sortkey": sortkey, "short": short, "truncate_text": truncate, "md": md_text}


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env


_HTML_ENV: jinja2.Environment | None = None
_MD_ENV: jinja2.Environment | None = None


def html_env() -> jinja2.Environment:
    """The jinja2 environment for HTML templates: autoescape on for every template, strict undefined."""
    global _HTML_ENV
    if _HTML_ENV is None:
        _HTML_ENV = _env(True)
    return _HTML_ENV


def md_env() -> jinja2.Environment:
    """The environment for markdown templates: no HTML autoescape — untrusted text must go through ``|md``."""
    global _MD_ENV
    if _MD_ENV is None:
        _MD_ENV = _env(False)
    return _MD_ENV


def render_html(template: str, **context: Any) -> str:
    """Render an HTML template with the shared context (``csp``, ``sort_js``) added."""
    return html_env().get_template(template).render(csp=csp(), sort_js=SORT_JS, **context)


def render_md(template: str, *, limit: int = 60_000, **context: Any) -> str:
    """Render a markdown template; output longer than ``limit`` characters (GitHub comments stop at 65,536) is
    cut at a line boundary with a note pointing to the HTML report."""
    text = md_env().get_template(template).render(**context)
    if len(text) > limit:
        cut = text.rfind("\n", 0, limit - 200)
        text = text[:cut] + "\n\n… (truncated to fit a PR comment; the HTML report has everything)\n"
    return text
