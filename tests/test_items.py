"""Splitting a markdown review into items (harness.graders.items)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.graders.items import HEADING, LIST, PARA, TABLE, split_items


def kinds(items):
    return [(it.kind, it.text.split("\n")[0]) for it in items]


def test_headings_nest_by_level():
    items = split_items("# Review\n\n## app.py\n\n### login\n\ntext\n\n## schema.sql\n\nmore\n")
    by_text = {it.text.split("\n")[0]: it for it in items}
    assert by_text["Review"].kind == HEADING and by_text["Review"].level == 1
    assert by_text["app.py"].parent == by_text["Review"].index
    assert by_text["login"].parent == by_text["app.py"].index
    assert by_text["text"].parent == by_text["login"].index
    assert by_text["schema.sql"].parent == by_text["Review"].index
    assert by_text["more"].parent == by_text["schema.sql"].index
    assert [it.index for it in items] == list(range(len(items)))


def test_nested_bullets_and_numbered_points():
    text = ("## Findings\n\n"
            "1. **SQL injection** in `search_orders`\n"
            "   - built with an f-string\n"
            "     - and `status` comes from the query\n"
            "   - use bound parameters\n"
            "2. No timeout on `requests.post`\n"
            "* star bullet\n"
            "+ plus bullet\n")
    items = split_items(text)
    first = next(it for it in items if it.text.startswith("**SQL injection**"))
    sub1 = next(it for it in items if it.text.startswith("built with"))
    subsub = next(it for it in items if it.text.startswith("and `status`"))
    sub2 = next(it for it in items if it.text.startswith("use bound"))
    second = next(it for it in items if it.text.startswith("No timeout"))
    assert first.kind == LIST and first.level == 0
    assert sub1.parent == first.index and sub1.level == 1
    assert subsub.parent == sub1.index and subsub.level == 2
    assert sub2.parent == first.index
    assert second.parent == first.parent  # siblings under the heading
    assert sub1.index in first.children and subsub.index in sub1.children
    assert any(it.text == "star bullet" for it in items) and any(it.text == "plus bullet" for it in items)


def test_continuation_lines_belong_to_the_point():
    items = split_items("- first line\n  second line\n\n  indented paragraph\n- next\n")
    assert items[0].text == "first line\nsecond line\n\nindented paragraph"
    assert items[1].text == "next"


def test_table_rows_are_items_header_marked():
    text = "| # | Where | Problem |\n|---|---|---|\n| 1 | `app.py:114` | SQL injection |\n| 2 | `app.py:21` | key |\n"
    items = split_items(text)
    assert [it.kind for it in items] == [TABLE, TABLE, TABLE]
    assert items[0].header_row and not items[1].header_row
    assert items[1].text == "1 | `app.py:114` | SQL injection"


def test_code_block_belongs_to_the_item_around_it():
    text = ("### `search_orders` (lines 101-118)\n"
            "```python\nsql += f\" AND o.status = '{status}'\"\n```\n"
            "Validate and bind the value:\n"
            "```python\nsql += \" AND o.status = %s\"\n```\n"
            "- a point\n\n  ```\n  code under the point\n  ```\n")
    items = split_items(text)
    heading = items[0]
    assert heading.kind == HEADING and "o.status = '{status}'" in heading.code
    assert "o.status = '{status}'" in heading.text
    para = next(it for it in items if it.text.startswith("Validate"))
    assert para.kind == PARA and "%s" in para.code
    point = next(it for it in items if it.text.startswith("a point"))
    assert "code under the point" in point.code
    # code never becomes an item of its own when an item precedes it
    assert not any(it.text.strip().startswith("sql +=") for it in items)


def test_code_block_at_top_becomes_a_paragraph():
    items = split_items("```\nx = 1\n```\n")
    assert len(items) == 1 and items[0].kind == PARA and items[0].code == "x = 1"


def test_paragraph_introduces_following_list():
    items = split_items("**[High] `AdminListOrders` uses deep OFFSET** (queries.sql:80-84).\n"
                        "- Switch to keyset pagination.\n- Replace go-to-page.\n\nAnother paragraph.\n")
    intro = items[0]
    assert intro.kind == PARA
    assert [items[c].text for c in intro.children] == ["Switch to keyset pagination.", "Replace go-to-page."]
    assert items[-1].text == "Another paragraph." and items[-1].parent is None


def test_bold_line_paragraph_and_rules():
    items = split_items("**Summary:**\n\n---\n\nText after the rule.\n")
    assert [it.text for it in items] == ["Summary", "Text after the rule."]


def test_japanese_markers():
    text = ("## 指摘\n\n１．SQLインジェクション（app.py:114）\n"
            "・全角の中黒\n"
            "① 丸数字\n"
            "（2）括弧付き番号\n"
            "- **`search_orders`** が f-string で SQL を組み立てています。\n")
    items = split_items(text)
    texts = [it.text for it in items]
    assert "SQLインジェクション（app.py:114）" in texts
    assert "全角の中黒" in texts and "丸数字" in texts and "括弧付き番号" in texts
    assert all(it.kind == LIST for it in items[1:])
    assert all(it.parent == 0 for it in items[1:])


def test_crlf_nul_and_empty():
    assert split_items("") == []
    assert split_items("\n\n   \n") == []
    items = split_items("# T\r\n\r\n- a\x00b\r\n")
    assert [it.text for it in items] == ["T", "a b"]


def test_html_and_binaryish_text_do_not_break():
    items = split_items("<html><body><h1>x</h1>\n<ul><li>y</li></ul></body></html>\n\x01\x02\ufffd")
    assert items and all(isinstance(it.text, str) for it in items)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_splits(text):
    items = split_items(text)
    for i, it in enumerate(items):
        assert it.index == i
        assert it.parent is None or 0 <= it.parent < i
        for c in it.children:
            assert items[c].parent == i


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["# h", "## h2", "- a", "  - b", "1. c", "| x | y |", "|---|---|", "```", "text",
                                 "", "    code", "***", "> quote", "* e", "１．ｆ"]), max_size=40))
def test_markdown_like_sequences(lines):
    items = split_items("\n".join(lines))
    for i, it in enumerate(items):
        assert it.parent is None or it.parent < i
