"""Number formatting of the reports (harness/report/html.py) and the cosmetic fixes of issue 15: counts with the
right noun, MDEs that cannot be estimated, tokens as whole numbers, integer histogram ticks, no negative cost
ticks."""

from __future__ import annotations

import re
from types import SimpleNamespace

from harness.report.html import count_of, mde, mde_t


def test_count_of_uses_the_singular_for_one():
    assert count_of(1, "finding") == "1 finding" and count_of(3, "finding") == "3 findings"
    assert count_of(0, "case") == "0 cases" and count_of(1200, "paired finding") == "1,200 paired findings"


def test_an_mde_of_zero_or_of_a_hundred_points_is_not_estimable():
    def cmp(v, n):
        return SimpleNamespace(mde=v, n_clusters=n, estimable=n >= 2, mde_method="sign-flip", se=0.05)
    assert mde(cmp(0.0, 3)) == "not estimable with 3 cases"
    assert mde(cmp(0.081, 25)) == "8.1 pts"
    assert mde(cmp(float("inf"), 3)) == "not reachable with 3 cases"
    assert mde(cmp(0.3, 1)) == "not estimable with 1 case"
    assert mde_t(SimpleNamespace(mde=0.0)) == "not estimable"
    assert mde_t(SimpleNamespace(mde=1.65)) == "not estimable"
    assert mde_t(SimpleNamespace(mde=float("nan"))) == "not estimable"
    assert mde_t(SimpleNamespace(mde=-0.12)) == "12.0 pts (t approx.)"


def test_histogram_counts_are_whole_numbers():
    from harness.report.charts import histogram
    svg = histogram({"a": [1.0, 2.0, 2.5]}, title="Latency", xlabel="seconds")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    counts = texts[texts.index("seconds") + 1:texts.index("samples")]      # the y tick labels
    assert counts and all(re.fullmatch(r"\d+", t) for t in counts), counts     # not 0.2, 0.4, ...


def test_dashboard_axes_never_label_a_negative_cost():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.report.dashboard_charts import _fmt_axis
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.001, 0.02])
    ax.set_ylim(-0.02, 0.03)
    _fmt_axis(ax, "usd")
    f = ax.yaxis.get_major_formatter()
    assert f(-0.02, 0) == "" and f(0.02, 0) == "$0.020" and f(1.5, 0) == "$1.50"
    plt.close(fig)


def test_an_unbounded_interval_reads_without_nested_parentheses():
    from harness.report.html import ci
    text = f"(95% CI {ci(float('-inf'), float('inf'), 'pts')})"
    assert text == "(95% CI unbounded: too few cases for the test to reach 5%)" and "))" not in text
