"""Deterministic rubric grader: decides, from keywords, anchors and locations, which planted findings a review
identifies and which traps it flags.

How a review is read
--------------------
1. The review is split into items (:mod:`harness.graders.items`): headings, list points with their sub-points,
   table rows, paragraphs; a code block belongs to the item around it.
2. The review is normalised once (:mod:`harness.graders.textnorm`: NFKC, case-folding, identifiers split into
   words, light stemming; Japanese compounds matched with particles in between; a single line break is a soft
   wrap, a blank line or ". " ends a sentence) and searched, with matchers compiled once per case, for evidence
   about every finding and trap; each hit is assigned to its item (and sentence):

   * concept evidence — a keyword of the finding, a generic synonym of one, or the keyword with one or two parts
     replaced by synonyms (:mod:`.lexicon`); phrases of several words allow a word or two in between ("password
     is in the ConfigMap"). Keywords are graded: *diagnostic* (names what is wrong), *remedy* (the rubric names
     it only after "asks"/"recommends": the fix, not the diagnosis), *literal* (also an anchor, or written in the
     location's own lines, or the translation of such a keyword: it names the code, not the defect). A word the
     artifacts use all the time ("order" in an order system) is no evidence; a keyword shared by a trap and a
     finding is the finding's concept;
   * place evidence — an anchor (*common* when written all over the artifacts; never when read inside one of the
     target's own keywords, "jpql" in "jpql injection"), a line reference in the location's range
     (``app.py:115``, ``L113-117``, ``lines 110-120``, ``113行目``; a bare line number is tied to the file named by
     the item, its headings or the text before it, or to the only file), a section reference into a markdown
     artifact (``§5``, ``§5.2``, ``section 5``, ``5章``), quoted code that occurs only in the location's lines (or
     that the rubric cites), or a ``table.column`` anchor written apart ("orders テーブルの total").
3. A finding is found when one *unit* holds a diagnostic or remedy keyword and a place: an item, a point with
   one of its sub-points, an item read with the points and heading above it, or a heading with its body (when
   the heading itself names the target, or the body is a short run of paragraphs). A unit is not credited when
   * it sits under a praise heading ("What's solid", "良い点") or every sentence carrying the evidence praises
     ("is safe", "適切です", "問題ありません");
   * it matches three or more findings at once while pointing at no line and quoting no code (a "shotgun"
     item: a warning is recorded);
   * its place is only a common anchor and every sentence of the evidence reads as generic advice ("make sure",
     "avoid", "適切に") — a checklist line;
   * its diagnosis belongs elsewhere: the unit names only this finding's remedy while another finding's
     diagnostic keyword is present, or, in a section headed by this finding's place, the running text pairs the
     place with another finding's diagnosis and never with this one's.
4. A trap is flagged when a unit points precisely at the trap's place (a line reference, quoted code, or an
   anchor with a diagnostic keyword), is not about another target named more precisely (by the unit, its root or
   its section heading), and a sentence mentioning the trap reports a defect or asks for a change — not praise,
   and not the trap's code named as the remedy ("use X", "like X already does", "X に変えて").

``extra_issues`` counts items that read as reported problems (a defect or change cue; not a heading, praise,
summary, generic checklist line, or a sub-point of a matched item) and match no finding or trap.

Speed: the per-case matchers are compiled once per grader and cached by ``case.fingerprint``. A review is normalised
once; Latin phrases are found through a word index (the first word of each phrase looked up in a dict, the next word
looked up too, the rest matched right after it), CJK phrases by regular expressions behind a character test and a
search of the review's non-ASCII characters alone, and the seven lexicons (praise, cues, negation...) are read in one
pass over the word index. Patterns whose every match starts with a known literal (file names, literal anchors,
section marks) are tried only where that literal occurs, and "N行目" only before each 行目. Only the items that hold
evidence are examined further; sentence polarity is answered from positions computed once per review, and the checks
asked for many units that share items are answered once per (item, target). Per-case caches hold what reviews of a
case repeat (quoted code); headings are classified once per wording. Grades are memoised by (case fingerprint,
review digest), so a review graded twice costs a dictionary lookup. These caches belong to the
:class:`DeterministicGrader` instance (no module-level state). Every verdict of the corpus in tests/review_corpus.py
is pinned by tests/test_rubric_regression.py.

Where each part lives: :mod:`.evidence` (the evidence bits), :mod:`.lexmatch` (the lexicon matchers),
:mod:`.compile` (what is compiled per case: step 2's matchers), :mod:`.review` (step 2: reading one review),
:mod:`.decide` (steps 3 and 4: units and verdicts), :mod:`.extras` (``extra_issues``), :mod:`.semantic_stage` (the
semantic stage, :mod:`harness.graders.semantic`); this module holds the grader and its caches.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict

from ...cases import Case
from ..base import SampleGrade
from .compile import _Compiled
from .decide import _grade

__all__ = ["DeterministicGrader", "grade_review"]


def grade_review(case: Case, review: str) -> SampleGrade:
    """Grade one review against one case with the deterministic rubric (see the module docstring).

    Uses one module-private :class:`DeterministicGrader` (semantic stage on when it is installed), built at the
    first call and kept, so that its compiled cases and memoised grades serve later calls; a caller that wants
    caches of its own, or other settings, builds a :class:`DeterministicGrader` and calls its ``grade``.

    Args:
        case: a loaded case.
        review: the review text (any string; bytes are decoded as UTF-8, anything else converted with ``str``).
    Returns:
        a SampleGrade with one verdict per finding and per trap, ``extra_issues`` and any warnings.
    Raises:
        nothing for any review text; a case the grader cannot compile surfaces as ``SampleGrade.error``.
    """
    return _default_grader().grade(case, review)


@functools.cache
def _default_grader() -> "DeterministicGrader":
    # built once per process (two threads calling first may both build one: either serves)
    return DeterministicGrader()


_MEMO_MAX = 4096       # grades memoised per grader (a few KB each)
_COMPILED_MAX = 256    # compiled cases kept per grader (a suite's cases, with room for every labelled case)


class DeterministicGrader:
    """Rule-based grader (``name = "deterministic"``): see the module docstring for the rules.

    Args:
        semantic: run the semantic stage (graders/semantic.py) for findings the lexical stage misses. When the
            embedding model is not installed the stage is off and every grade carries a warning saying so.
        params: thresholds of the semantic stage (default :data:`~harness.graders.semantic.DEFAULT_PARAMS`).
        warn_off: with ``semantic=False``, still warn on every grade that it is degraded (the user turned the
            stage off in the configuration; tests of the lexical stage do not want the warning).

    The instance owns its caches: the matchers compiled per case (by case fingerprint, at most ``_COMPILED_MAX``
    cases, least recently used dropped first), the grades memoised by (case fingerprint, review digest, stage
    settings) (at most ``_MEMO_MAX``) and the heading classes. They are safe to use from several threads (the
    runner grades on a worker thread, :mod:`harness.grading_pool`); :meth:`clear_memo` and :meth:`clear_caches`
    empty them (benchmarks, tests). Every call of :meth:`grade` returns a new SampleGrade.
    """

    name = "deterministic"

    def __init__(self, semantic: bool = True, params=None, *, warn_off: bool = False):
        self.semantic = semantic
        self.params = params
        self._embedder = None
        self._unavailable: str | None = None
        if semantic:
            from ..semantic import UNAVAILABLE_WARNING, get_embedder
            emb = get_embedder()
            if emb.available:
                self._embedder = emb
            else:
                self._unavailable = UNAVAILABLE_WARNING + f" ({emb.reason})"
        if not semantic and warn_off:
            from ..semantic import OFF_WARNING
            self._unavailable = OFF_WARNING
        self._mode = (b"sem" + repr(params).encode()) if self._embedder is not None else b"lex"
        self._lock = threading.Lock()   # guards the two caches below (a heading class is one dict operation)
        self._compiled_cases: OrderedDict[str, _Compiled] = OrderedDict()   # case fingerprint -> matchers
        self._memo: OrderedDict[tuple[str, bytes, bytes], dict] = OrderedDict()   # -> _grade's plain data
        self._heading_kinds: dict[str, tuple[bool, bool]] = {}   # heading's word form -> (praise, summary)

    @property
    def degraded(self) -> str | None:
        """Why the semantic stage is off although it was asked for (None when it runs or was not asked for)."""
        return self._unavailable

    def compiled(self, case: Case) -> _Compiled:
        """The matchers of ``case`` (:class:`~harness.graders.rubric.compile._Compiled`), compiled at the first
        call for its fingerprint and kept.

        Raises:
            whatever compiling raises for a case the compiler cannot handle (:meth:`grade` reports it instead).
        """
        key = case.fingerprint
        with self._lock:
            c = self._compiled_cases.get(key)
            if c is not None:
                self._compiled_cases.move_to_end(key)
                return c
        c = _Compiled(case)
        with self._lock:
            self._compiled_cases[key] = c
            while len(self._compiled_cases) > _COMPILED_MAX:
                self._compiled_cases.popitem(last=False)
        return c

    def clear_memo(self) -> None:
        """Forget the memoised grades (a benchmark times grading, not lookups); compiled cases are kept."""
        with self._lock:
            self._memo.clear()

    def clear_caches(self) -> None:
        """Forget everything cached: memoised grades, compiled cases (with their per-case caches), heading
        classes. The next grade of a case compiles it again."""
        with self._lock:
            self._memo.clear()
            self._compiled_cases.clear()
            self._heading_kinds.clear()

    def grade(self, case: Case, review: str) -> SampleGrade:
        """Grade ``review`` against ``case``; never raises on any review text."""
        if not isinstance(review, str):
            try:
                review = review.decode("utf-8", "replace") if isinstance(review, (bytes, bytearray)) else str(review)
            except Exception:
                review = ""
        try:
            data = review.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: replace them
            data = review.encode("utf-8", "replace")
            review = data.decode("utf-8")
        try:
            key = (case.fingerprint, hashlib.blake2b(data, digest_size=16).digest(), self._mode)
        except Exception:
            key = None
        if key is not None:
            with self._lock:
                hit = self._memo.get(key)
                if hit is not None:
                    self._memo.move_to_end(key)
            if hit is not None:
                return self._finish(SampleGrade.model_validate(hit))
        try:
            comp = self.compiled(case)
        except Exception as e:  # a case the compiler cannot handle: report, do not raise
            return SampleGrade(grader=self.name, error=f"cannot compile case {case.id}: {type(e).__name__}: {e}")
        try:
            data = _grade(comp, review, self.name, self._embedder, self.params, self._heading_kinds)
            sg = SampleGrade.model_validate(data)
        except Exception as e:  # pragma: no cover - last resort; the rules above are meant not to raise
            return SampleGrade(grader=self.name, error=f"grading failed: {type(e).__name__}: {e}")
        if key is not None:
            with self._lock:
                self._memo[key] = data
                while len(self._memo) > _MEMO_MAX:
                    self._memo.popitem(last=False)
        return self._finish(sg)

    def _finish(self, sg: SampleGrade) -> SampleGrade:
        if self._unavailable and self._unavailable not in sg.warnings:
            sg.warnings.append(self._unavailable)
        return sg
