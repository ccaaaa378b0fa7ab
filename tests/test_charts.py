"""harness.report.charts: inline SVG that is clean, escaped, unique-id'd and leaves matplotlib's globals alone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import matplotlib
import pytest

from harness.report import charts

NAN = float("nan")


def all_charts() -> dict[str, str]:
    return {
        "bar": charts.bar_ci(["a", "b", "c"], {"v1": ([0.5, 0.2, NAN], [0.3, 0.1, NAN], [0.7, 0.4, NAN]),
                                               "v2": ([0.6, 0.3, 0.9], [0.5, 0.1, 0.8], [0.7, 0.5, 1.0])},
                             title="Recall"),
        "forest": charts.forest(["x", "y"], [0.1, -0.2], [0.05, -0.3], [0.2, 0.1], title="Diff"),
        "scatter": charts.paired_scatter([0.1, 0.5, NAN], [0.2, 0.4, 0.3], title="Per case"),
        "hist": charts.histogram({"base": [1, 2, 3, 4], "cand": [2, 3, NAN]}, title="Latency", xlabel="s"),
    }


def test_svg_is_clean_inline_markup():
    for name, svg in all_charts().items():
        assert svg.startswith("<svg") and svg.endswith("</svg>"), name
        assert "<?xml" not in svg and "<!DOCTYPE" not in svg and "<metadata" not in svg, name
        assert "<text" in svg, f"{name}: fonttype none keeps text as <text>"
        assert 'class="chart"' in svg and 'role="img"' in svg
        ET.fromstring(svg)                                   # well-formed XML


def test_ids_unique_across_charts_and_references_rewritten():
    svgs = list(all_charts().values()) + list(all_charts().values())
    ids = [i for s in svgs for i in re.findall(r'\bid="([^"]+)"', s)]
    assert len(ids) == len(set(ids))
    for s in svgs:
        own = set(re.findall(r'\bid="([^"]+)"', s))
        refs = set(re.findall(r'url\(#([^)]+)\)', s)) | set(re.findall(r'href="#([^"]+)"', s))
        assert refs <= own


def test_untrusted_labels_are_escaped_and_not_mathtext():
    evil = '<script>alert(1)</script> & "q" $x^2$'
    svg = charts.bar_ci([evil], {evil: ([0.5], [0.4], [0.6])}, title=evil)
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("$x^2$" in t for t in texts), "a $ label is shown literally, not parsed as mathtext"
    assert root.get("aria-label") == evil


def test_empty_inputs_draw_no_data():
    for svg in (charts.bar_ci([], {}, title="e"), charts.forest([], [], [], [], title="e"),
                charts.paired_scatter([], [], title="e"), charts.histogram({"a": []}, title="e", xlabel="x")):
        assert "no data" in svg


def test_no_global_matplotlib_state_changed():
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    all_charts()
    after = dict(matplotlib.rcParams)
    assert before == after and matplotlib.get_backend() == backend


@pytest.mark.parametrize("n", [1, 40])
def test_height_scales_with_rows(n):
    svg = charts.bar_ci([f"case-{i}" for i in range(n)], {"v": ([0.5] * n, [0.4] * n, [0.6] * n)}, title="t")
    h = float(re.search(r'height="([\d.]+)pt"', svg).group(1))
    assert (h > 300) == (n == 40)


def test_label_helper():
    assert charts.label("a" * 100, 10) == "a" * 9 + "…"
    assert charts.label("$5") == r"\$5"
    assert charts.label("a\n  b") == "a b"
