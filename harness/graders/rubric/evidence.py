"""The evidence bits of the deterministic grader: what a review says about a target (its concept, its place),
how strong a place is, how much a unit's evidence scores, and the names a verdict's reason gives them."""

from __future__ import annotations


# evidence bits
C_KW = 1        # a diagnostic keyword (names what is wrong)
C_LIT = 2       # a keyword that names the code itself (also an anchor, or written in the location's lines)
P_ANCHOR = 4    # a specific anchor
P_WEAK = 8      # an anchor written all over the artifacts
P_LINE = 16     # a line reference inside the location
P_CODE = 32     # quoted code that occurs in the location's lines
P_SECTION = 64  # a section reference (§n) covering the location
C_FIX = 128     # a keyword the rubric names only as the remedy
CONCEPT = C_KW | C_LIT | C_FIX
PLACE = P_ANCHOR | P_WEAK | P_LINE | P_CODE | P_SECTION
# a line reference of at most ANCHOR_REF_SPAN lines that covers a line declaring one of a target's anchors
# places that target, when the anchor occurs on at most ANCHOR_LINES_MAX lines of the case's files (a name used
# everywhere declares nothing). Chosen, not fitted: a reference to a declaration is a line or a short range.
ANCHOR_REF_SPAN = 6
ANCHOR_LINES_MAX = 2
SPECIFIC = P_LINE | P_CODE | P_SECTION


def _place_strength(b: int) -> int:
    return 3 if b & (P_LINE | P_CODE) else 2 if b & P_ANCHOR else 1 if b & (P_SECTION | P_WEAK) else 0


def _score(b: int) -> int:
    s = 0
    for bit, w in ((C_KW, 4), (C_LIT, 1), (P_ANCHOR, 2), (P_LINE, 3), (P_CODE, 3), (P_SECTION, 1), (P_WEAK, 1)):
        if b & bit:
            s += w
    return s


_EVIDENCE_NAMES = ((C_KW, "diagnostic keyword"), (C_FIX, "remedy keyword"), (C_LIT, "keyword naming the code"),
                   (P_LINE, "line reference"), (P_CODE, "quoted code"), (P_ANCHOR, "anchor"),
                   (P_SECTION, "section reference"), (P_WEAK, "common anchor"))
