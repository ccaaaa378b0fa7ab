"""Split a markdown review into items: headings, list points (with nesting), table rows and paragraphs.

An *item* is the unit the deterministic grader looks for evidence in. Every item keeps its text, its index (0-based,
in document order), its kind, its structural parent (the heading it sits under, or the list point it is nested in)
and its children. A fenced code block belongs to the item around it: the list point it is indented under, or else
the item just before it (a heading, a paragraph, a point).

The parser is a single pass over the lines (linear time) and never raises: any text, including empty, binary-ish
or HTML text, yields a (possibly empty) list of items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Item", "split_items", "HEADING", "LIST", "TABLE", "PARA"]

HEADING = "heading"
LIST = "list"
TABLE = "table"
PARA = "para"

_FENCE = re.compile(r"^\s*(```+|~~~+)")
# a heading line: up to three spaces, one to six '#', the title; a closing run of '#' and spaces is dropped (done
# with rstrip in split_items: the pattern ``(.*?)\s*#*\s*$`` backtracked at every character of the title)
_HEADING = re.compile(r"\s{0,3}(#{1,6})\s*")
_LIST = re.compile(r"^(\s*)(?:[-*+\u2022]\s+|[\u30fb\u25cf\u25cb\u25aa\u25a0\u25c6]\s*|\d{1,3}[.)]\s+|"
                   r"\d{1,3}[\uff0e\u3001\uff09]\s*|\(\d{1,3}\)\s*|\uff08\d{1,3}\uff09\s*|[\u2460-\u2473]\s*|"
                   r"[a-zA-Z][.)]\s+)(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_HR = re.compile(r"^\s{0,3}([-*_=])(\s*\1){2,}\s*$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(?P<t>[^*_].*?)(\*\*|__)\s*:?\s*$")


@dataclass
class Item:
    """One review item.

    Attributes:
        index: 0-based position in document order.
        kind: ``heading`` | ``list`` | ``table`` | ``para``.
        level: heading level (1-6) for headings; nesting depth (0 = top) for list points; 0 otherwise.
        text: the item's own text, with the code blocks that belong to it (fences removed).
        parent: index of the enclosing heading or list point, or None at top level.
        children: indices of the items directly under this one.
        line: 0-based line number where the item starts.
        code: the fenced code that belongs to the item (also part of ``text``).
        header_row: for table rows, True for the first row of a table (column titles).
    """

    index: int
    kind: str
    level: int
    text: str
    parent: int | None = None
    children: list[int] = field(default_factory=list)
    line: int = 0
    code: str = ""
    header_row: bool = False


def _indent(s: str) -> int:
    n = 0
    for ch in s:
        if ch == " ":
            n += 1
        elif ch == "\t":
            n += 4
        else:
            break
    return n


_LIST_START = frozenset("-*+\u2022\u30fb\u25cf\u25cb\u25aa\u25a0\u25c6(\uff08") | frozenset(
    chr(c) for c in range(0x2460, 0x2474))


def split_items(review: str, *, max_chars: int = 400_000) -> list[Item]:
    """Split ``review`` into items (see the module docstring).

    Args:
        review: markdown text; anything else is accepted and split into paragraphs.
        max_chars: texts longer than this are truncated first (keeps the work bounded).
    Returns:
        the items in document order; ``items[i].index == i``.
    """
    if not isinstance(review, str):
        review = str(review)
    text = review[:max_chars]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        text = text.replace("\x00", " ")
    items: list[Item] = []
    parts: list[list[str]] = []        # text pieces of each item, joined at the end
    headings: list[int] = []          # stack of open heading indices (by level)
    lists: list[tuple[int, int]] = []  # stack of (indent, item index) of open list points
    cur: int | None = None             # item receiving continuation lines
    cur_blank = False                  # a blank line was seen after cur
    in_code = False
    fence = ""
    code_owner: int | None = None
    code_buf: list[str] = []
    code: dict[int, list[str]] = {}
    table_open = False
    intro: int | None = None           # paragraph a following list elaborates on

    def add(kind: str, level: int, body: str, parent: int | None, lineno: int) -> int:
        idx = len(items)
        items.append(Item(index=idx, kind=kind, level=level, text="", parent=parent, line=lineno))
        parts.append([body])
        if parent is not None:
            items[parent].children.append(idx)
        return idx

    def close_code() -> None:
        nonlocal code_buf, code_owner
        if code_buf:
            block = "\n".join(code_buf)
            owner = code_owner
            if owner is None:
                owner = add(PARA, 0, "", headings[-1] if headings else None, 0)
            code.setdefault(owner, []).append(block)
            parts[owner].append("\n" + block)
        code_buf = []
        code_owner = None

    for lineno, line in enumerate(text.split("\n")):
        stripped = line.strip()
        if in_code:
            if stripped.startswith(fence):
                in_code = False
                close_code()
                cur_blank = True
            else:
                code_buf.append(line)
            continue
        if not stripped:
            cur_blank = True
            table_open = False
            continue
        c0 = stripped[0]
        if c0 in "`~" and (fm := _FENCE.match(line)):
            in_code = True
            fence = fm.group(1)[:3]
            code_owner = cur
            continue
        if c0 == "#":
            hm = _HEADING.match(line)
            title = line[hm.end():].rstrip().rstrip("#").rstrip() if hm else ""
            if title and hm:
                level = len(hm.group(1))
                while headings and items[headings[-1]].level >= level:
                    headings.pop()
                idx = add(HEADING, level, title, headings[-1] if headings else None, lineno)
                headings.append(idx)
                lists.clear()
                intro = None
                cur, cur_blank, table_open = idx, False, False
                continue
        if c0 in "-*_=" and _HR.match(line):
            cur, cur_blank, table_open = None, True, False
            lists.clear()
            intro = None
            continue
        if c0 == "|" or (table_open and "|" in stripped):
            if _TABLE_SEP.match(stripped):
                continue
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            body = " | ".join(c for c in cells if c)
            if not body:
                continue
            idx = add(TABLE, 0, body, headings[-1] if headings else None, lineno)
            items[idx].header_row = not table_open
            table_open = True
            lists.clear()
            intro = None
            cur, cur_blank = idx, False
            continue
        lm = (_LIST.match(line) if c0 in _LIST_START or c0.isdigit() or (c0.isascii() and c0.isalpha()
                                                                          and stripped[1:2] in (".", ")"))
              else None)
        if lm:
            ind = _indent(lm.group(1))
            while lists and lists[-1][0] >= ind:
                lists.pop()
            if lists:
                parent: int | None = lists[-1][1]
            elif intro is not None:
                # a list right after a paragraph elaborates on it ("The problems:", "**[High] X** ...")
                parent = intro
            else:
                parent = headings[-1] if headings else None
            idx = add(LIST, len(lists), lm.group(2), parent, lineno)
            lists.append((ind, idx))
            cur, cur_blank = idx, False
            continue
        if cur is not None and items[cur].kind == LIST:
            ind = _indent(line)
            if not cur_blank or ind >= 2:
                # continuation of a list point (lazy or indented)
                if cur_blank and lists:
                    # indented paragraph under a point: attach to the deepest point it is indented under
                    while len(lists) > 1 and ind <= lists[-1][0]:
                        lists.pop()
                    cur = lists[-1][1]
                parts[cur].append(("\n\n" if cur_blank else "\n") + stripped)
                cur_blank = False
                continue
        if cur is not None and items[cur].kind == PARA and not cur_blank:
            parts[cur].append("\n" + stripped)
            continue
        lists.clear()
        bm = _BOLD_LINE.match(line) if c0 in "*_" else None
        idx = add(PARA, 0, bm.group("t").rstrip(": ") if bm else stripped, headings[-1] if headings else None,
                  lineno)
        intro = idx
        cur, cur_blank = idx, False
    if in_code:
        close_code()
    for it, ps in zip(items, parts):
        it.text = "".join(ps).lstrip("\n")
    for idx, blocks in code.items():
        items[idx].code = "\n".join(blocks)
    return items
