"""What the deterministic grader compiles once per case, whatever the review: the targets (findings and traps)
with their locations, the keyword and anchor phrases with their evidence bits and spelling variants, the file
names and line patterns, the sections of the case's documents, and per-case caches of what reviews repeat."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ...cases import Case
from ..textnorm import cjk_pattern, fold, has_cjk, nfkc, phrase, route_path, words
from .evidence import ANCHOR_LINES_MAX, C_FIX, C_KW, C_LIT, P_ANCHOR, P_CODE, P_WEAK
from .lexmatch import _LEX_KEYS, _SENT_W, _SYN_CJK, _SYN_RAW, _alternation, _light_fold


_MD_HEAD_RE = re.compile(r"^(#{1,6})\s+(?:§\s*)?(\d{1,2}(?:\.\d{1,2})*)[.):]?\s", re.M)


_ANY_HEAD_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_TITLE_SPLIT_RE = re.compile(r"[()（）「」『』\[\]:：/／|｜、,]|\s[-–—]\s")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
# a title phrase names its section only when it is written on at most this many lines of the case's files (the
# heading included): a phrase used all over the document ("order-service", "3PL") names no one section. The same
# reasoning, and the same order of magnitude, as an anchor that declares a place (evidence.ANCHOR_LINES_MAX).
TITLE_LINES_MAX = 4


_DOC_SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".adoc")
_ANY_LEVEL_RE = re.compile(r"^(#{1,6})\s", re.M)


def _markdown_sections(artifacts, head_re: re.Pattern) -> list[tuple[str, str, int, int, int]]:
    """(file, the heading's group 2, first line, last line, lines of the file) of every heading ``head_re`` matches
    in the case's documents (group 1: the #s). A section runs from its heading to the line before the next heading
    of the same or a higher level, else to the end of the file."""
    out = []
    for p, text in artifacts:
        if not p.lower().endswith(_DOC_SUFFIXES):
            continue
        bounds = [(m.start(), len(m.group(1))) for m in _ANY_LEVEL_RE.finditer(text)]
        n_lines = text.count("\n") + 1
        for m in head_re.finditer(text):
            pos, level = m.start(), len(m.group(1))
            end = next((text.count("\n", 0, q) for q, lv in bounds if q > pos and lv <= level), n_lines)
            out.append((p, m.group(2), text.count("\n", 0, pos) + 1, end, n_lines))
    return out


def _section_titles(artifacts) -> dict[str, list[tuple[str, int, int]]]:
    """The phrases of the headings of the case's markdown documents that name one section, folded (as
    review._light_fold folds a review) -> [(file, first line, last line)] of that section (its heading to the next
    heading of the same or a higher level). People cite a design document's sections by title ("在庫引当に冪等性が
    ない", "the Error handling section") as often as by number. A phrase counts when it has three CJK characters or
    two Latin words and at least 8 characters, is in one heading only and is written on at most TITLE_LINES_MAX
    lines of the case's files. A section holding more than half of its document names no place."""
    lines_of = [_light_fold(nfkc(x)) for _, text in artifacts for x in text.split("\n")]
    heads: list[tuple[str, str, int, int]] = []
    for p, title, start, end, n_lines in _markdown_sections(artifacts, _ANY_HEAD_RE):
        if end - start + 1 > n_lines / 2:
            continue   # the document's title, or a part holding most of it: names no one place
        title = re.sub(r"^(?:§\s*)?\d{1,2}(?:\.\d{1,2})*[.):]?\s*", "", title.replace("*", "").replace("`", ""))
        for piece in _TITLE_SPLIT_RE.split(_light_fold(nfkc(title))):
            piece = piece.strip(" .-")
            latin = re.findall(r"[a-z0-9][a-z0-9_.-]*", piece)
            if len(_CJK_RE.findall(piece)) >= 3 or (len(latin) >= 2 and len(piece) >= 8):
                heads.append((piece, p, start, end))
    count: dict[str, int] = {}
    for piece, *_ in heads:
        count[piece] = count.get(piece, 0) + 1
    out: dict[str, list[tuple[str, int, int]]] = {}
    for piece, p, start, end in heads:
        if count[piece] == 1 and sum(piece in line for line in lines_of) <= TITLE_LINES_MAX:
            out[piece] = [(p, start, end)]
    return out


@dataclass
class _Target:
    n: int
    kind: str          # "finding" | "trap"
    id: str
    file: str
    lo: int
    hi: int
    loc_text: str      # folded text of the location's lines, one line per line (with a line of margin)
    loc_flat: str      # folded text of exactly the location's lines, without whitespace
    rubric_flat: str   # folded rubric and title without whitespace (for code the rubric cites)


_CAMEL_ID = re.compile(r"\b[A-Za-z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b|\b[A-Z]{2,}[a-z]+[A-Za-z0-9]*\b")
# compounds often written both as one word and as two (Kubernetes kinds and fields, common names)
_GENERIC_COMPOUNDS = ["ConfigMap", "NetworkPolicy", "StatefulSet", "DaemonSet", "ReplicaSet", "readinessProbe",
                      "livenessProbe", "startupProbe", "securityContext", "PersistentVolumeClaim",
                      "PersistentVolume", "emptyDir", "hostPath", "nodeSelector", "ServiceAccount", "ClusterRole",
                      "RoleBinding", "PodDisruptionBudget", "HorizontalPodAutoscaler", "volumeClaimTemplates",
                      "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "imagePullPolicy",
                      "StorageClass", "CronJob", "PodSecurity", "LoadBalancer", "ClusterIP", "NodePort",
                      "JavaScript", "TypeScript", "PostgreSQL", "MySQL", "WebSocket", "OAuth", "JSONB",
                      "DynamoDB", "MongoDB", "ElasticSearch", "RabbitMQ", "GraphQL", "NoSQL"]
_COMMON_MIN = 10   # a single-word keyword the artifacts use this often (and in 1/150 of their words) names no defect


class _LazyRe:
    """A regular expression compiled at its first use. A case compiles thousands of phrase patterns (what follows
    a keyword's first word, Japanese terms, literal anchors) of which a run's reviews try a few hundred: compiling
    them all up front was about half of a case's compilation (bench/bench_runner.py, issue #16). Matching is
    unchanged: the same pattern text, compiled by :func:`re.compile` when first asked to match; ``pattern`` is
    the text. Safe across threads (two first uses compile the same pattern; either result is kept)."""

    __slots__ = ("pattern", "_rx")

    def __init__(self, pattern: str):
        self.pattern = pattern
        self._rx: re.Pattern | None = None

    def _get(self) -> re.Pattern:
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(self.pattern)
        return rx

    def match(self, text: str, pos: int = 0):
        return (self._rx or self._get()).match(text, pos)

    def search(self, text: str, pos: int = 0):
        return (self._rx or self._get()).search(text, pos)

    def finditer(self, text: str, pos: int = 0):
        return (self._rx or self._get()).finditer(text, pos)

    def __getattr__(self, name: str):
        return getattr(self._get(), name)


def _groups(text: str) -> tuple[tuple[str, ...], ...]:
    """A phrase as word groups: one group per whitespace-separated word of the original (an identifier such as
    ``verify_exp`` or ``ConfigMap`` is one group of several tokens)."""
    out = []
    for raw in unicodedata.normalize("NFKC", text).split():
        toks = tuple(phrase(raw).split())
        if toks:
            out.append(toks)
    return tuple(out)


def _kw_gap(gs: tuple) -> int:
    """Words allowed between the words of a keyword: none for one word, one for two ("card's number"), two for
    longer phrases ("password is in the configmap")."""
    return 0 if len(gs) < 2 else 1 if len(gs) == 2 else 2


def _rest_pattern(gs: tuple, gap: int) -> _LazyRe | None:
    """Pattern for what follows the first token of a phrase (matched right after it), or None for one token.
    Tokens of one group are adjacent; up to ``gap`` words (never a sentence mark) between groups."""
    parts = []
    for gi, g in enumerate(gs):
        toks = g[1:] if gi == 0 else g
        if gi > 0 and gap:
            parts.append(r"(?: (?!" + _SENT_W + r" )[^ ]+){0,%d}?" % gap)
        for t in toks:
            parts.append(" " + re.escape(t))
    if not parts:
        return None
    return _LazyRe("".join(parts) + "(?= )")


def _covers(tokens: list[str], k: int, kt: list[str]) -> bool:
    """True when the tokens ``kt`` of a keyword are written at token ``k`` (a CJK token may carry particles)."""
    if k + len(kt) > len(tokens):
        return False
    for a, b in zip(tokens[k:k + len(kt)], kt):
        if a != b and not (not b.isascii() and a.startswith(b)):
            return False
    return True


def _rest_tokens(rest: _LazyRe | None) -> list[str]:
    """The literal tokens of an exact (gap 0) rest pattern built by :func:`_rest_pattern`."""
    if rest is None:
        return []
    body = rest.pattern[:-len("(?= )")] if rest.pattern.endswith("(?= )") else rest.pattern
    return [re.sub(r"\\(.)", r"\1", t) for t in body.split(" ") if t]


class _Phrase:
    """A Latin phrase: the pattern of what follows its first word, its target and evidence bit; ``inside`` lists,
    for an anchor, the target's keywords that contain it ((offset, tokens)): an anchor read inside such a
    keyword ("jpql" in "jpql injection") is not evidence of the place."""

    __slots__ = ("rest", "n", "bit", "neg", "inside")

    def __init__(self, rest, n, bit, neg):
        self.rest, self.n, self.bit, self.neg = rest, n, bit, neg
        self.inside: list[tuple[int, list[str]]] = []


class _Compiled:
    """Everything about a case that does not depend on the review (built once per case fingerprint)."""

    def __init__(self, case: Case):
        self.case_id = case.id
        self.files = [p for p, _ in case.artifacts]
        self.single_file = self.files[0] if len(self.files) == 1 else None
        art_lines = {p: text.split("\n") for p, text in case.artifacts}
        all_art = "\n".join(text for _, text in case.artifacts)

        # compounds: camelCase identifiers of the case, so "configmap" and "ConfigMap" read alike
        ids = set(_CAMEL_ID.findall(all_art)) | set(_GENERIC_COMPOUNDS)
        for spec in list(case.findings) + list(case.traps):
            for s in list(spec.keywords) + list(spec.anchors):
                ids.update(_CAMEL_ID.findall(s))
        self.compounds: dict[str, str] = {}
        for ident in ids:
            sp = phrase(ident)
            joined = sp.replace(" ", "")
            if " " in sp and len(joined) >= 5 and not has_cjk(sp):
                self.compounds[joined] = sp
        self.compound_re = (re.compile(r" (" + _alternation(list(self.compounds)) + r")(?= )")
                            if self.compounds else None)
        self.compound_keys = frozenset(self.compounds)

        self.art_words = {p: self.canon(words(text)) for p, text in case.artifacts}
        all_words = "".join(self.art_words.values())
        self.all_fold_flat = "".join(re.sub(r"\s+", "", fold(text)) for _, text in case.artifacts)
        self.targets: list[_Target] = []
        specs = [("finding", f) for f in case.findings] + [("trap", t) for t in case.traps]
        for kind, spec in specs:
            loc = spec.location
            lines = art_lines.get(loc.file, [])
            lo, hi = loc.lines
            seg = lines[max(0, lo - 2):hi + 1]
            loc_text = "\n".join(re.sub(r"\s+", " ", fold(ln)).strip() for ln in seg)
            exact = "".join(re.sub(r"\s+", "", fold(ln)) for ln in lines[max(0, lo - 1):hi])
            self.targets.append(_Target(len(self.targets), kind, spec.id, loc.file, lo, hi, loc_text, exact,
                                        re.sub(r"\s+", "", fold(spec.rubric + " " + spec.title))))
        self.kinds = [t.kind for t in self.targets]
        self.descr = [(spec.title, spec.rubric) for _, spec in specs]
        # lines that define a target's anchor elsewhere than its location ("JwtTokenService.java:32", where the
        # TTL constant the finding is about is declared): a line reference resolves to the code at those lines.
        # Only distinctive anchors (on at most ANCHOR_LINES_MAX lines of all the files) place anything.
        self.anchor_lines: dict[str, list[tuple[int, int]]] = {}
        for (_, spec), t in zip(specs, self.targets):
            names = list(spec.anchors) + ([spec.location.symbol] if spec.location.symbol else [])
            for a in {x.strip() for x in names if len(x.strip()) >= 4}:
                hits = [(p, k + 1) for p, lines in art_lines.items() for k, ln in enumerate(lines) if a in ln]
                if 0 < len(hits) <= ANCHOR_LINES_MAX:
                    for p, ln in hits:
                        self.anchor_lines.setdefault(p, []).append((ln, t.n))

        # file names as written in reviews: full relative path and basename
        names: dict[str, str] = {}
        for p in self.files:
            for name in (fold(p), fold(p.rsplit("/", 1)[-1])):
                names.setdefault(name, p)
        self.file_of = names
        self.file_words = {phrase(n) for n in names}
        alt = _alternation(list(names))
        self.file_re = re.compile(alt) if names else None
        # "app.py:115", "payments-api.yaml L19", "schema.sql line 3", "checkout.ts#L98"
        self.file_line_re = re.compile(
            r"(?P<file>" + alt + r")\s*(?::|#l|\s+l(?=\d)|\s+lines?\s+|\s*\(lines?\s+|\s*の?\s*(?=\d{1,5}(?:\s*[-~]\s*\d{1,5})?\s*行))\s*(?P<a>\d{1,5})"
            r"(?:\s*[-~]\s*l?(?P<b>\d{1,5}))?(?P<more>(?:\s*,\s*l?\d{1,5}(?:\s*[-~]\s*l?\d{1,5})?)*)"
        ) if names else None

        # sections of markdown artifacts: number -> [(file, lo, hi)]
        self.sections: dict[str, list[tuple[str, int, int]]] = {}
        for p, num, start, end, _ in _markdown_sections(case.artifacts, _MD_HEAD_RE):
            self.sections.setdefault(num, []).append((p, start, end))

        self.dotted_sections = frozenset(k for k in self.sections if "." in k)
        self.section_titles = _section_titles(case.artifacts)

        # ---- terms
        phrases: dict[str, list[_Phrase]] = {}    # first token -> phrases starting with it
        cjk_terms: dict[tuple[str, bool], list[tuple[int, int]]] = {}
        lit_terms: dict[str, list[tuple[int, int]]] = {}
        prox_terms: list[tuple[str, str, int, int]] = []
        seen: set = set()
        rest_cache: dict = {}

        kw_tokens: dict[int, set[tuple[str, ...]]] = {}   # target -> Latin keyword spellings (tokens)
        rest_hint: dict[int, tuple[str, int]] = {}         # id(rest pattern) -> (next word, window it is in)

        def add_phrase(text: str, n: int, bit: int, gap: int, neg: bool = False) -> None:
            w = self.canon(" " + phrase(text) + " ").strip()
            if not w:
                return
            if has_cjk(w):
                pat = cjk_pattern(w)
                if pat:
                    owners = cjk_terms.setdefault((pat, neg), [])
                    if (n, bit) not in owners:
                        owners.append((n, bit))
                    if bit & (C_KW | C_LIT | C_FIX) and not neg:
                        kw_tokens.setdefault(n, set()).add(tuple(w.split()))
                return
            gs = _groups(text)
            gs = tuple(tuple(self.canon(" " + " ".join(g) + " ").split()) for g in gs)
            gs = tuple(g for g in gs if g)
            if not gs:
                return
            if gap:
                gap = _kw_gap(gs)
            key = (gs, gap, n, bit, neg)
            if key in seen:
                return
            seen.add(key)
            rk = (gs, gap)
            if rk not in rest_cache:
                rest_cache[rk] = _rest_pattern(gs, gap)
                if len(gs[0]) > 1:
                    rest_hint[id(rest_cache[rk])] = (gs[0][1], 1)
                elif len(gs) > 1:
                    rest_hint[id(rest_cache[rk])] = (gs[1][0], gap + 1)
            phrases.setdefault(gs[0][0], []).append(_Phrase(rest_cache[rk], n, bit, neg))
            if bit & (C_KW | C_LIT | C_FIX) and not neg:
                kw_tokens.setdefault(n, set()).add(tuple(t for g in gs for t in g))

        # keyword spellings of the findings: a trap keyword shared with a finding names the finding's concept
        finding_kw: set[str] = set()
        for kind, spec in specs:
            if kind == "finding":
                for kw in spec.keywords:
                    for v in {kw} | set(_SYN_RAW.get(phrase(kw), ())):
                        finding_kw.add(self.canon(" " + phrase(v) + " ").strip())
        counts: dict[str, int] = {}
        toks = all_words.split()
        for tok in toks:
            counts[tok] = counts.get(tok, 0) + 1
        common_min = max(_COMMON_MIN, len(toks) // 150)
        self.common_tokens = {tok for tok, c in counts.items() if c >= common_min}

        for (kind, spec), t in zip(specs, self.targets):
            n = t.n
            anchor_words = {self.canon(" " + phrase(a) + " ").strip() for a in spec.anchors}
            loc_words = self.canon(" " + " ".join(words(ln).strip() for ln in t.loc_text.split("\n")) + " ")
            diag_w, fix_w = _rubric_parts(spec.title, spec.rubric)
            diag_w, fix_w = self.canon(diag_w), self.canon(fix_w)
            kw_info = []
            for kw in spec.keywords:
                p = self.canon(" " + phrase(kw) + " ").strip()
                if not p:
                    continue
                vps = {v: self.canon(" " + phrase(v) + " ").strip() for v in _variants(kw)}
                own_literal = p in anchor_words or (" " + p + " ") in loc_words
                kw_info.append((p, vps, own_literal))
            for p, vps, own_literal in kw_info:
                # a keyword written in the location's own lines or among the anchors (or the translation of
                # such a keyword) names the code, not what is wrong with it
                literal = own_literal or (has_cjk(p) and any(
                    lit and not has_cjk(p2) and set(vps.values()) & set(vps2.values())
                    for p2, vps2, lit in kw_info))
                latin = [vp for vp in vps.values() if vp and not has_cjk(vp)]
                in_fix = any((" " + vp + " ") in fix_w for vp in latin)
                in_diag = any((" " + vp + " ") in diag_w for vp in latin)
                if literal:
                    bit = C_LIT
                elif kind == "finding" and in_fix and not in_diag:
                    bit = C_FIX  # named only in the rubric's remedy: the fix, not the diagnosis
                else:
                    bit = C_KW
                for v, vp in vps.items():
                    if not vp or (" " not in vp and vp in self.common_tokens):
                        continue  # a word the artifacts use all the time ("order") names no defect
                    vbit = C_LIT if kind == "trap" and vp in finding_kw else bit
                    add_phrase(v, n, vbit, 3)
                    core = _negated_core(v)
                    if core:
                        add_phrase(core, n, vbit, 3, neg=True)
            for a in spec.anchors:
                self._add_anchor(a, t, all_words, add_phrase, lit_terms, prox_terms)
                # a route anchor written with its method ("GET /users/{id}") is also named by its path alone
                path = route_path(a)
                if path:
                    self._add_anchor(path, t, all_words, add_phrase, lit_terms, prox_terms)
            sym = spec.location.symbol
            if sym and re.fullmatch(r"[A-Za-z_][\w.]*", sym) and ("_" in sym or "." in sym or
                                                                   re.search(r"[a-z][A-Z]", sym)):
                self._add_anchor(sym, t, all_words, add_phrase, lit_terms, prox_terms)

        for first, lst in phrases.items():
            for ph in lst:
                if not ph.bit & (P_ANCHOR | P_WEAK):
                    continue
                atoks = [first] + _rest_tokens(ph.rest)
                for kt in kw_tokens.get(ph.n, ()):
                    if len(kt) > len(atoks):
                        for j in range(len(kt) - len(atoks) + 1):
                            if list(kt[j:j + len(atoks)]) == atoks:
                                ph.inside.append((j, list(kt)))
        # phrases sharing a first word and a rest pattern are matched once: first -> [(rest, [phrase...])]
        # (the next word a phrase needs, and how far after the first word it may be, rejects most candidates
        # before the pattern is tried). Per first word: (the phrases of that one word, {next word: [(rest,
        # phrases)]} for the groups whose next word follows the first directly, [(rest, next word, window,
        # phrases)] for the others, the widest window of these)
        self.phrases: dict[str, tuple[list[_Phrase], dict[str, list[tuple[_LazyRe, list[_Phrase]]]],
                                      list[tuple[_LazyRe, str, int, list[_Phrase]]], int]] = {}
        for first, lst in phrases.items():
            groups: dict = {}
            singles: list[_Phrase] = []
            for ph in lst:
                if ph.rest is None:
                    singles.append(ph)
                    continue
                nxt, win = rest_hint[id(ph.rest)]
                groups.setdefault(id(ph.rest), (ph.rest, nxt, win, []))[3].append(ph)
            by_next: dict[str, list] = {}
            windowed = []
            for rest, nxt, win, group in groups.values():
                if win == 1:
                    by_next.setdefault(nxt, []).append((rest, group))
                else:
                    windowed.append((rest, nxt, win, group))
            self.phrases[first] = (singles, by_next, windowed, max((w for _, _, w, _ in windowed), default=0))
        self.first_keys = frozenset(self.phrases)
        self.all_keys = self.first_keys | _LEX_KEYS
        # CJK terms: (the non-ASCII characters every match contains, for a quick subset test; whether the pattern
        # is made of Japanese parts only; pattern; owners; needs negation)
        self.cjk: list[tuple[frozenset[str], bool, _LazyRe, list[tuple[int, int]], bool]] = []
        for (pat, neg), owners in cjk_terms.items():
            req = _required_chars(pat)
            self.cjk.append((frozenset(c for c in req if not c.isascii()), all(not c.isascii() for c in req),
                             _LazyRe(pat), owners, neg))
        # literal anchors: (longest piece, for a quick `in` test; the first piece, which every match starts with;
        # pattern; owners; needs a boundary before)
        self.lits: list[tuple[str, str, _LazyRe, list[tuple[int, int]], bool]] = []
        for k, owners in lit_terms.items():
            pieces = k.split(" ")
            body = r"\s*".join(re.escape(x) for x in pieces)
            post = ""
            if re.search(r"[a-z0-9_]$", k):
                post = r"(?![a-z0-9_/])" if re.search(r"/[a-z0-9_]+$", k) else r"(?![a-z0-9_])"
            self.lits.append((max(pieces, key=len), pieces[0], _LazyRe(body + post), owners,
                              re.match(r"[a-z0-9_]", k) is not None))
        self.prox = [(" " + tb + " ", " " + col, _LazyRe(
            " " + re.escape(tb) + r"(?: (?!" + _SENT_W + r" )[^ ]+){0,6}? " + re.escape(col) + "(?= )"), n, bit)
            for tb, col, n, bit in prox_terms]
        self.code_cache: OrderedDict[str, tuple[str, tuple[tuple[int, int], ...]]] = OrderedDict()
        self.lock = threading.Lock()

    def target_vectors(self, embedder) -> "np.ndarray":
        """Embeddings of every target's title and rubric, (targets, 384), computed once per case."""
        vec = getattr(self, "_tvec", None)
        if vec is None:
            from ..semantic import target_texts
            vec = self._tvec = embedder.embed([target_texts(*self.descr[t.n]) for t in self.targets])
        return vec

    def canon(self, w: str) -> str:
        """Split known compounds of a padded word-form text ("configmap" -> "config map")."""
        if self.compound_re is None:
            return w
        return self.compound_re.sub(lambda m: " " + self.compounds[m.group(1)], w)

    def _add_anchor(self, a: str, t: _Target, all_words: str, add_phrase, lit_terms, prox_terms) -> None:
        n = t.n
        p = self.canon(" " + phrase(a) + " ").strip()
        f = fold(a)
        ident = re.fullmatch(r"[\w.\-$:]+", a) is not None
        weak = f in self.file_of or p in self.file_words
        if p and not weak:
            total = all_words.count(" " + p + " ")
            loc_words = self.canon(" " + " ".join(words(ln).strip() for ln in t.loc_text.split("\n")) + " ")
            inside = loc_words.count(" " + p + " ")
            outside = max(0, total - inside)
            weak = outside >= 2 and outside > inside
        bit = P_WEAK if weak else P_ANCHOR
        if p and (ident or " " in p):
            add_phrase(a if ident else p, n, bit, 0)
        if not ident or re.search(r"[^\w.\-]", a):
            lit_terms.setdefault(f, []).append((n, bit))
        if ident and re.fullmatch(r"[A-Za-z_]\w*\.[A-Za-z_]\w*", a):
            tb, col = (self.canon(" " + phrase(x) + " ").strip() for x in a.split(".", 1))
            if tb and col and len(col) >= 2:
                prox_terms.append((tb, col, n, bit))

    def code_hits(self, raw_span: str) -> tuple[tuple[int, int], ...]:
        """Targets whose exact location lines are the only place quoting ``raw_span`` (or whose rubric cites
        it, when it is rare in the artifacts)."""
        return self.code_entry(raw_span)[1]

    def code_entry(self, raw_span: str) -> tuple[str, tuple[tuple[int, int], ...]]:
        """(folded text of ``raw_span`` without whitespace, :meth:`code_hits`), memoised per case: reviews of a
        case quote the same code."""
        hit = self.code_cache.get(raw_span)
        if hit is not None:
            return hit
        span = fold(raw_span)
        flat = "".join(span.split())
        out: list[tuple[int, int]] = []
        if (len(flat) >= 4 and not flat.isalpha()) or len(flat) >= 12 or (len(flat) >= 6 and " " in span.strip()):
            total = -1   # occurrences in all the artifacts: counted only when a target quotes or cites it
            for t in self.targets:
                inside = t.loc_flat.count(flat)
                if inside:
                    if total < 0:
                        total = self.all_fold_flat.count(flat)
                    if inside >= total:
                        out.append((t.n, P_CODE))
                        continue
                if len(flat) >= 6 and flat in t.rubric_flat:
                    if total < 0:
                        total = self.all_fold_flat.count(flat)
                    if total and total <= 3:
                        out.append((t.n, P_CODE))
        res = (flat, tuple(out))
        with self.lock:
            self.code_cache[raw_span] = res
            if len(self.code_cache) > 20000:
                self.code_cache.popitem(last=False)
        return res


def _required_chars(pat: str) -> frozenset[str]:
    """Characters every match of ``pat`` (a pattern built by :func:`cjk_pattern`) contains: its literal characters
    that are not optional; character classes and their repetitions are skipped."""
    out = set()
    i = 0
    n = len(pat)
    while i < n:
        ch = pat[i]
        if ch == "[":
            j = pat.find("]", i + 1)
            i = n if j < 0 else j + 1
            if i < n and pat[i] == "{":
                k = pat.find("}", i)
                i = n if k < 0 else k + 1
            continue
        if ch == "\\" and i + 1 < n:
            lit, nxt = pat[i + 1], i + 2
        elif ch in "().^$|?*+{}":
            i += 1
            continue
        else:
            lit, nxt = ch, i + 1
        if not (nxt < n and pat[nxt] in "?*{"):
            out.add(lit)
        i = nxt
    return frozenset(out)


_ASK_RE = re.compile(r"(?<![a-z])(?:asks?|asking|recommends?|recommending|suggests?|suggesting|requests?)"
                     r"(?![a-z])")


def _rubric_parts(title: str, rubric: str) -> tuple[str, str]:
    """Word forms of (title + diagnosis part, remedy part) of a rubric, split at its first "asks"/"recommends"."""
    r = unicodedata.normalize("NFKC", rubric).casefold()
    m = _ASK_RE.search(r)
    diag, fix = (r[:m.start()], r[m.start():]) if m else (r, "")
    return words(title + " . " + diag), words(fix)


def _variants(kw: str, limit: int = 64) -> set[str]:
    """Spellings of a keyword: itself, its synonym group, and the keyword with parts that belong to a synonym group
    replaced by the other members ("hpa cannot scale" -> "hpa will never scale"; two replacements at most:
    "autoscaling disabled" -> "hpa 無効")."""
    out = _variants1(kw, limit)
    for v in list(out):
        if len(out) >= limit:
            break
        if v != kw:
            out |= _variants1(v, limit - len(out) + 1)
    return out


def _variants1(kw: str, limit: int) -> set[str]:
    out = {kw}
    p = phrase(kw)
    out |= _SYN_RAW.get(p, frozenset())
    if has_cjk(p):
        q = unicodedata.normalize("NFKC", kw).casefold()
        for member, group in _SYN_CJK:
            if member in q and member != q:
                for other in group:
                    out.add(q.replace(member, other))
                    if len(out) >= limit:
                        return out
        return out
    toks = p.split()
    for i in range(len(toks)):
        for j in range(i + 1, len(toks) + 1):
            if i == 0 and j == len(toks):
                continue
            sub = " ".join(toks[i:j])
            group = _SYN_RAW.get(sub)
            if not group:
                continue
            for other in group:
                o = phrase(other)
                if o and o != sub:
                    out.add(" ".join(toks[:i] + [o] + toks[j:]))
                    if len(out) >= limit:
                        return out
    return out


def _negated_core(p: str) -> str | None:
    """'no timeout' -> 'timeout'; 'missing index' -> 'index'; 'インデックス不足' -> 'インデックス'."""
    q = unicodedata.normalize("NFKC", p).casefold().strip()
    for pre in ("no ", "missing ", "lack of ", "without ", "not ", "lacking "):
        if q.startswith(pre) and len(q) > len(pre) + 2:
            return q[len(pre):]
    for suf in ("不足", "なし", "欠如", "漏れ", "がない", "が無い"):
        if q.endswith(suf) and len(q) > len(suf) + 1:
            return q[: -len(suf)].strip()
    return None
