"""A frozen corpus of reviews for the deterministic grader's regression test and its throughput benchmark.

The corpus is

* every calibration review (``../shared/calibration/<case>/reviews/r*.md``, graded against its own case), when
  that folder is present, and
* for every project case under ``cases/``, ``PER_CASE`` synthetic reviews generated from the case itself with
  ``random.Random`` seeded from :data:`SEED` and the case id (never ``hash()``, so the corpus is the same in every
  process and on every machine).

A synthetic review recombines what the case says about its findings and traps -- titles, anchors, keywords,
rubric sentences, the located code -- with line references of many shapes (some just outside the range),
praise, defect, denial, remedy and generic-advice phrasing, praise/summary headings, nested bullets, tables,
fenced code, English and Japanese (and both mixed), full-width and camelCase spellings; 0.5 to 6 KB of text.
It aims at every path of the grader, not at realism.

``tests/test_rubric_regression.py`` grades the corpus and compares a compact digest of every grade (found and
flagged ids, the evidence item of each verdict, extra_issues) with ``tests/data/rubric_digest.json``. After an
intended change of verdicts (a lexicon or rule change), regenerate the digest and review the diff it reports:

    python -m tests.review_corpus --write-digest            # rewrites tests/data/rubric_digest.json
    python -m tests.review_corpus --dump /tmp/grades.json   # full SampleGrade dumps, for comparing two versions

Changing the generator, ``SEED`` or ``PER_CASE`` changes the corpus: regenerate the digest in the same change.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import zlib
from pathlib import Path
from typing import Iterator, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"
CALIBRATION = ROOT.parent / "shared" / "calibration"
DIGEST = Path(__file__).resolve().parent / "data" / "rubric_digest.json"

SEED = 20250611
PER_CASE = 240
MIN_CHARS, MAX_CHARS = 500, 6000


class Sample(NamedTuple):
    key: str        # "cal/<case>/r1" or "gen/<case>/<n>"
    case: object    # harness.cases.Case
    review: str


# ------------------------------------------------------------------------------------------------ phrasing

SEV_EN = ["Critical", "High", "Medium", "Low", "Blocker", "Nit"]
SEV_JA = ["重大", "高", "中", "低", "要対応", "軽微"]
PRAISE_HEAD_EN = ["What's solid", "Looks good", "Strengths", "No issues found", "Things done right", "Good",
                  "Not problems (false alarms)", "Fine as is"]
PRAISE_HEAD_JA = ["良い点", "問題なし", "評価できる点", "そのままで良い点", "長所"]
SUMMARY_HEAD_EN = ["Summary", "TL;DR", "Next steps", "Priorities", "Tests", "Verdict", "Conclusion"]
SUMMARY_HEAD_JA = ["まとめ", "総評", "結論", "優先順位", "テスト", "対応順"]
OTHER_HEAD_EN = ["Findings", "Security", "Reliability", "Data", "Other notes", "Details", "Minor"]
OTHER_HEAD_JA = ["指摘事項", "セキュリティ", "信頼性", "その他", "詳細"]

DEFECT_EN = ["This is a bug and should be fixed before launch.", "That is a real risk in production.",
             "It is broken under load.", "An attacker can exploit this.", "This will fail silently.",
             "We lose data when this happens.", "Please change it.", "This must be fixed.",
             "It is wrong, and nothing catches it.", "The problem is that it never gets checked."]
DEFECT_JA = ["これはバグなので修正してください。", "本番ではリスクがあります。", "負荷がかかると壊れます。",
             "攻撃者に悪用されるおそれがあります。", "データが失われる危険があります。", "見直すべきです。",
             "この点は問題です。", "対応が必要です。"]
PRAISE_EN = ["This is fine.", "That looks correct to me.", "Good choice, keep it.", "It is safe as written.",
             "No change needed here.", "This is handled correctly.", "Nice work on this part.",
             "It is the right call.", "This is intentional and by design."]
PRAISE_JA = ["問題ありません。", "適切です。", "このままで大丈夫です。", "良い設計です。", "正しい判断です。",
             "変更不要です。", "安全です。"]
DENY_EN = ["There is no {kw} here.", "I don't think this is a {kw}.", "Not a {kw}: the input never reaches it.",
           "No real risk of {kw} in this path."]
DENY_JA = ["ここに{kw}はありません。", "{kw}の心配はありません。"]
REMEDY_EN = ["Use `{anchor}` instead, like the other handler already does.", "Switch to {anchor} for this.",
             "Consider something like `{anchor}` here.", "Move to {anchor} as the other module does."]
REMEDY_JA = ["`{anchor}` に変えてください。", "`{anchor}` と同様に実装しましょう。", "`{anchor}` を使ってください。"]
GENERIC_EN = ["Make sure all inputs are validated everywhere.", "Always use parameterized queries.",
              "Ensure every endpoint has proper authentication.", "Consider adding more logging in general.",
              "Avoid hard-coded secrets wherever possible.", "Add timeouts to all outbound calls as needed.",
              "Make sure errors are handled consistently.", "Follow best practices for secret management.",
              "Add rate limiting to every public endpoint.", "Consider adding an index where appropriate."]
GENERIC_JA = ["すべての入力を常に検証しましょう。", "適切にエラー処理を行うようにしましょう。",
              "必要に応じてログを追加することを検討してください。", "一般的なベストプラクティスを徹底しましょう。",
              "全てのエンドポイントに適切な認証を入れることを確認してください。", "タイムアウトを常に設定しましょう。"]
FILLER_EN = ["I read the handlers first, then the data access code, then the configuration.",
             "Overall the structure is easy to follow and consistent with the rest of the service.",
             "Line numbers refer to the files as submitted; I did not run the code.",
             "The points below are ordered by impact, not by where they appear.",
             "Most fixes are a few lines plus a test.", "Happy to pair on any of this.",
             "The naming is clear and most functions are short. But a few things need attention."]
FILLER_JA = ["ハンドラ、データアクセス、設定の順に読みました。", "全体として見通しの良い構成です。",
             "行番号は提出されたファイルのものです。コードは実行していません。", "以下は影響の大きい順です。",
             "いずれの修正も数行とテストで済みます。", "命名は明確です。ただし、いくつか注意点があります。"]
CODE_GENERIC = ["def handler(request):\n    data = request.json()\n    return process(data)",
                "const x = await fetch(url);\nif (!x.ok) throw new Error('failed');",
                "SELECT id, status FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 50;",
                "resources:\n  limits:\n    memory: 512Mi\n    cpu: 500m",
                "for (;;) {\n  retry();\n}"]

# words for sentences whose polarity is carried inside the sentence that names the target (a frozen snapshot of
# typical review wording: the corpus must not change when the grader's lexicon does)
APPROVE_EN = ["safe", "fine", "correct", "ok", "good", "sound", "appropriate", "acceptable", "reasonable", "solid",
              "secure", "valid", "intentional", "well designed", "the right choice", "standard practice",
              "by design", "as intended", "not a problem", "harmless", "idiomatic", "deliberate", "great"]
COPULA_EN = ["is", "looks", "seems", "is perfectly", "is already", "which is", "that's", "remains", "is actually",
             "are", "stays"]
PRAISE_PHRASE_EN = ["handled correctly", "done nicely", "set properly", "no issue", "nothing to fix",
                    "leave it as is", "keep it", "works as intended", "not a bug", "no injection risk",
                    "is in place", "handled well", "good practice", "guards against abuse", "which prevents misuse",
                    "I like this", "kudos", "good to see"]
NEG_PRAISE_EN = ["is not safe", "isn't correct", "is no longer valid", "is not really fine", "is hardly sound",
                 "is not quite right", "is never ok"]
DEFECT_WORDS_EN = ["is missing a check", "is broken", "is wrong", "is insecure", "is unsafe", "is vulnerable",
                   "leaks data", "races with itself", "goes stale", "is unbounded", "can be bypassed",
                   "fails silently", "will not scale", "is too permissive", "exposes data", "overwrites rows",
                   "double-charges", "lacks validation", "blocks the loop"]
ACTION_EN = ["should be replaced", "must be fixed", "needs a fix", "please change it", "remove it",
             "add a check", "disable it", "enforce it", "rotate it", "reduce it", "use a constant instead",
             "consider a lock"]
HEDGE_EN = ["might", "could", "may", "perhaps could"]
APPROVE_JA = ["適切です", "問題ありません", "安全です", "正しいです", "妥当です", "良い設計です", "変更不要です",
              "大丈夫です", "十分です", "推奨どおりです", "問題なしです"]
NEG_PRAISE_JA = ["安全ではありません", "適切ではない", "正しくありません", "不適切です", "妥当とは言えません"]
DEFECT_WORDS_JA = ["検証がありません", "壊れています", "漏洩します", "競合します", "不足しています",
                   "失敗します", "二重に実行されます", "誤りです"]
ACTION_JA = ["修正してください", "変更すべきです", "削除してください", "追加が必要です", "見直してください"]

_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:_"}


def _ja(s: str) -> bool:
    return bool(_CJK.search(s))


def _sentences(text: str) -> list[str]:
    t = re.sub(r"\s+", " ", text).strip()
    return [s.strip() for s in re.split(r"(?<=[.!?。])\s+", t) if len(s.strip()) > 3]


class _Gen:
    """Review builder for one case (``rng`` drives every choice)."""

    def __init__(self, case, rng: random.Random):
        self.case, self.rng = case, rng
        self.findings = list(case.findings)
        self.traps = list(case.traps)
        self.targets = self.findings + self.traps
        # per target (by id): keyword pools by language and rubric sentences, computed once
        self.pools = {t.id: {True: [k for k in t.keywords if _ja(k)] or list(t.keywords),
                             False: [k for k in t.keywords if not _ja(k)] or list(t.keywords),
                             None: list(t.keywords)} for t in self.targets}
        self.sents = {t.id: _sentences(t.rubric) or [t.title] for t in self.targets}
        self.lines = {p: text.split("\n") for p, text in case.artifacts}
        self.files = [p for p, _ in case.artifacts]
        # section numbers of markdown artifacts ("## 5.2 Retries")
        self.sections = []
        for p, text in case.artifacts:
            if p.lower().endswith(".md"):
                self.sections += re.findall(r"^#{1,6}\s+(?:§\s*)?(\d{1,2}(?:\.\d{1,2})*)", text, re.M)

    # ---- pieces
    def kw(self, t, ja: bool | None) -> str:
        k = self.rng.choice(self.pools[t.id][ja])
        r = self.rng.random()
        if r < 0.08 and not _ja(k):
            k = k + "s"                      # plural / inflection
        elif r < 0.14 and not _ja(k):
            k = k.title()
        return k

    def anchor(self, t) -> str:
        a = self.rng.choice(t.anchors)
        r = self.rng.random()
        if r < 0.55:
            return f"`{a}`"
        if r < 0.62 and "_" in a:
            parts = a.split("_")
            return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])   # snake -> camelCase
        if r < 0.66:
            return "".join(_FULLWIDTH.get(c, c) for c in a)                       # full-width (NFKC path)
        if r < 0.70:
            return f"**{a}**"
        return a

    def ref(self, t, ja: bool) -> str:
        rng = self.rng
        f = t.location.file
        base = f.rsplit("/", 1)[-1] if rng.random() < 0.4 else f
        lo, hi = t.location.lines
        if rng.random() < 0.15:              # near or just outside the range
            d = rng.choice([-4, -3, -2, 2, 3, 5, 12])
            lo, hi = max(1, lo + d), max(1, hi + d)
        form = rng.randrange(12)
        if form == 0:
            return f"{base}:{lo}"
        if form == 1:
            return f"{base}:{lo}-{hi}"
        if form == 2:
            return f"`{base}` line {lo}"
        if form == 3:
            return f"lines {lo}-{hi}"
        if form == 4:
            return f"L{lo}-L{hi}"
        if form == 5:
            return f"l. {lo}"
        if form == 6:
            return f"{base} の {lo}行目" if ja else f"{base} (lines {lo}–{hi})"
        if form == 7:
            return f"{lo}〜{hi}行目" if ja else f"{base}#L{lo}"
        if form == 8 and self.sections:
            s = rng.choice(self.sections)
            return rng.choice([f"§{s}", f"section {s}", f"{s.split('.')[0]}章"])
        if form == 9:
            return f"`{base}`"
        if form == 10:
            return f"{base}:{lo}, {hi}"
        return f"line {lo}"

    def code(self, t, inline: bool) -> str:
        lines = self.lines.get(t.location.file, [])
        lo, hi = t.location.lines
        seg = [ln for ln in lines[max(0, lo - 1):hi] if ln.strip()]
        if not seg:
            return ""
        if inline:
            ln = self.rng.choice(seg).strip()
            if len(ln) > 12:
                a = self.rng.randrange(0, len(ln) - 6)
                ln = ln[a:a + self.rng.randint(6, 40)].strip()
            return f"`{ln.replace('`', '')}`" if len(ln) >= 2 else ""
        k = self.rng.randint(1, min(8, len(seg)))
        a = self.rng.randrange(0, len(seg) - k + 1)
        body = "\n".join(seg[a:a + k])
        return "" if "```" in body else f"```\n{body}\n```"

    def rubric_sentence(self, t) -> str:
        return self.rng.choice(self.sents[t.id])

    def other(self, t):
        others = [x for x in self.targets if x is not t]
        return self.rng.choice(others) if others else t

    # ---- sentences about one target
    def concept(self, t, ja: bool) -> str:
        rng = self.rng
        r = rng.random()
        if ja:
            forms = [lambda: f"{self.anchor(t)} に{self.kw(t, True)}があります。",
                     lambda: f"{self.kw(t, True)}の問題です。{rng.choice(DEFECT_JA)}",
                     lambda: f"{t.title}。{self.kw(t, None)}が起きます。",
                     lambda: f"この箇所は{self.kw(t, True)}のおそれがあり、{rng.choice(DEFECT_JA)}"]
        else:
            forms = [lambda: f"{t.title}.", lambda: f"This is {self.kw(t, False)}.",
                     lambda: self.rubric_sentence(t),
                     lambda: f"{self.anchor(t)} has a {self.kw(t, False)} problem.",
                     lambda: f"The {self.kw(t, False)} here means {t.title[:1].lower() + t.title[1:]}.",
                     lambda: f"{self.kw(t, False).capitalize()}: {self.rubric_sentence(t)}"]
        if r < 0.35:
            return self.polar(t, ja)
        s = forms[int((r - 0.35) / 0.65 * len(forms))]()
        x = rng.random()
        if x < 0.35:
            s += " " + rng.choice(DEFECT_JA if ja else DEFECT_EN)
        elif x < 0.45:
            s += " " + rng.choice(PRAISE_JA if ja else PRAISE_EN)
        elif x < 0.52:
            s += " " + rng.choice(DENY_JA if ja else DENY_EN).format(kw=self.kw(t, ja))
        elif x < 0.60:
            s += " " + rng.choice(REMEDY_JA if ja else REMEDY_EN).format(anchor=rng.choice(t.anchors))
        elif x < 0.66:
            s = rng.choice(GENERIC_JA if ja else GENERIC_EN) + " " + s
        return s

    def polar(self, t, ja: bool) -> str:
        """One sentence naming the target's place whose praise, defect, denial, remedy, hedge or generic cue is
        in the same sentence."""
        rng = self.rng
        P = self.place(t, ja)
        K = self.kw(t, ja)
        A = rng.choice(t.anchors)
        if ja:
            forms = [lambda: f"{P} は{K}の心配はなく、{rng.choice(APPROVE_JA)}。",
                     lambda: f"{P} は{rng.choice(NEG_PRAISE_JA)}。{K}があります。",
                     lambda: f"{P} に{K}があり、{rng.choice(DEFECT_WORDS_JA)}。",
                     lambda: f"{P} は{rng.choice(APPROVE_JA)}が、{K}のおそれがあります。",
                     lambda: f"{K}を避けるため、`{A}` に変えてください。",
                     lambda: f"`{A}` と同様に{K}を防いでください。",
                     lambda: f"常に {P} で{K}を適切に防ぐようにしましょう。",
                     lambda: f"{P} の{K}は{rng.choice(ACTION_JA)}。",
                     lambda: f"{P} に{K}はありません。",
                     lambda: f"念のため {P} の{K}を確認してください。"]
        else:
            forms = [lambda: f"{P} {rng.choice(COPULA_EN)} {rng.choice(APPROVE_EN)}.",
                     lambda: f"{P} {rng.choice(COPULA_EN)} {rng.choice(APPROVE_EN)}, so there is no {K} here.",
                     lambda: f"{P} {rng.choice(COPULA_EN)} {rng.choice(APPROVE_EN)} but it has a {K} problem.",
                     lambda: f"{P} {rng.choice(NEG_PRAISE_EN)}: {K}.",
                     lambda: f"{P}: {rng.choice(PRAISE_PHRASE_EN)}, no {K}.",
                     lambda: f"{P} {rng.choice(DEFECT_WORDS_EN)} ({K}) and {rng.choice(ACTION_EN)}.",
                     lambda: f"{K} in {P}; {rng.choice(ACTION_EN)}.",
                     lambda: f"Use `{A}` instead of the hand-rolled code, or you get {K}.",
                     lambda: f"Switch to {A} like the other handler already does.",
                     lambda: f"{P} {rng.choice(HEDGE_EN)} be a {K}.",
                     lambda: f"Make sure {P} avoids {K} everywhere.",
                     lambda: f"There is no {K} in {P}.",
                     lambda: f"{P} is not {K}, it is {rng.choice(APPROVE_EN)}.",
                     lambda: f"{P} {rng.choice(DEFECT_WORDS_EN)}, which is {rng.choice(APPROVE_EN)} in tests only."]
        return rng.choice(forms)()

    def place(self, t, ja: bool) -> str:
        r = self.rng.random()
        if r < 0.45:
            return self.ref(t, ja)
        if r < 0.7:
            return self.anchor(t)
        if r < 0.85:
            return self.code(t, inline=True) or self.anchor(t)
        return f"{self.anchor(t)} ({self.ref(t, ja)})"

    # ---- blocks
    def block(self, ja: bool, n: int, mixed: bool = False) -> list[str]:
        rng = self.rng
        kind = rng.choices(["section", "bullets", "table", "trap", "praise", "checklist", "filler", "code",
                            "shotgun", "para", "summary", "mixed"],
                           weights=[22, 18, 5, 12, 5, 6, 6, 3, 2, 12, 4, 5 if mixed else 0])[0]
        if not self.targets and kind in ("section", "bullets", "table", "trap", "praise", "shotgun", "para",
                                         "mixed"):
            kind = "filler"
        t = rng.choice(self.targets) if self.targets else None
        if kind == "section":
            lvl = rng.choice(["##", "###", "####"])
            head = rng.choice([lambda: f"{n}. {t.title}", lambda: f"{self.anchor(t)} ({self.ref(t, ja)})",
                               lambda: f"[{rng.choice(SEV_JA if ja else SEV_EN)}] {self.kw(t, ja)} in "
                                       f"{self.place(t, ja)}",
                               lambda: self.kw(t, ja), lambda: rng.choice(SEV_JA if ja else SEV_EN)])()
            out = [f"{lvl} {head}", ""]
            for _ in range(rng.randint(1, 3)):
                out += [" ".join(rng.choice([lambda: self.concept(t, ja), lambda: self.place(t, ja) + ".",
                                             lambda: rng.choice(FILLER_JA if ja else FILLER_EN)])()
                                 for _ in range(rng.randint(1, 3))), ""]
            if rng.random() < 0.5:
                c = self.code(t, inline=False)
                if c:
                    out += [c, ""]
            if rng.random() < 0.4:
                out += [f"- {self.concept(self.other(t), ja)}", f"  - {self.place(t, ja)}", ""]
            return out
        if kind == "bullets":
            out = []
            if rng.random() < 0.5:
                out += [f"## {rng.choice(OTHER_HEAD_JA if ja else OTHER_HEAD_EN)}", ""]
            if rng.random() < 0.3:
                out += [rng.choice(["問題点:", "以下を修正してください:"] if ja else
                                   ["The problems:", "Issues to fix:", "**Blockers**"]), ""]
            for i in range(rng.randint(1, 4)):
                u = rng.choice(self.targets)
                mark = rng.choice(["-", "*", f"{i + 1}.", "・", "1)"])
                out.append(f"{mark} **{self.place(u, ja)}**: {self.concept(u, ja)}")
                for _ in range(rng.choice([0, 0, 1, 2])):
                    sub = rng.choice([lambda: self.concept(u, ja), lambda: self.place(u, ja),
                                      lambda: self.code(u, inline=True),
                                      lambda: rng.choice(DEFECT_JA if ja else DEFECT_EN),
                                      lambda: self.rubric_sentence(u)])()
                    out.append(f"    - {sub}")
                if rng.random() < 0.15:
                    c = self.code(u, inline=False)
                    if c:
                        out += ["", "    " + c.replace("\n", "\n    ")]
            return out + [""]
        if kind == "table":
            out = ["| # | Where | Problem |" if not ja else "| # | 場所 | 問題 |", "|---|-------|---------|"]
            for i in range(rng.randint(1, 5)):
                u = rng.choice(self.targets)
                prob = self.kw(u, ja) if rng.random() < 0.6 else u.title
                out.append(f"| {i + 1} | {self.place(u, ja)} | {prob} |")
            return out + [""]
        if kind == "trap":
            u = rng.choice(self.traps) if self.traps and rng.random() < 0.8 else t
            x = rng.random()
            if x < 0.4:
                s = self.polar(u, ja)
            elif x < 0.7:
                s = f"{u.title}. {rng.choice(PRAISE_JA if ja else PRAISE_EN)}"
            else:
                s = (f"{self.anchor(u)} ({self.ref(u, ja)}) " +
                     (f"は{self.kw(u, True)}のおそれがあります。{rng.choice(DEFECT_JA)}" if ja else
                      f"looks like {self.kw(u, False)}. {rng.choice(DEFECT_EN)}"))
            return [rng.choice(["", "- ", "* "]) + s, ""]
        if kind == "praise":
            out = [f"## {rng.choice(PRAISE_HEAD_JA if ja else PRAISE_HEAD_EN)}", ""]
            for _ in range(rng.randint(1, 3)):
                u = rng.choice(self.targets)
                out.append(rng.choice([
                    lambda: f"- {self.anchor(u)} ({self.ref(u, ja)}): {u.title}. "
                            f"{rng.choice(PRAISE_JA if ja else PRAISE_EN)}",
                    lambda: f"- {self.polar(u, ja)}"])())
            return out + [""]
        if kind == "checklist":
            heads = ['その他', '一般的な指摘'] if ja else ['Other suggestions', 'General', 'Checklist']
            out = [f"## {rng.choice(heads)}", ""]
            for line in rng.sample(GENERIC_JA if ja else GENERIC_EN, k=rng.randint(1, 4)):
                if self.targets and rng.random() < 0.3:
                    line = f"{line} ({self.anchor(rng.choice(self.targets))})"
                out.append(f"- {line}")
            return out + [""]
        if kind == "filler":
            return [" ".join(rng.sample(FILLER_JA if ja else FILLER_EN, k=rng.randint(1, 3))), ""]
        if kind == "code":
            if self.targets and rng.random() < 0.6:
                c = self.code(rng.choice(self.targets), inline=False)
            else:
                c = "```\n" + rng.choice(CODE_GENERIC) + "\n```"
            return [c or "```\nx = 1\n```", ""]
        if kind == "shotgun":
            us = [rng.choice(self.targets) for _ in range(rng.randint(3, 5))]
            return ["- " + "; ".join(f"{self.kw(u, ja)} in {self.anchor(u)}" for u in us) + ".", ""]
        if kind == "para":
            return [" ".join([self.concept(t, ja), f"See {self.place(t, ja)}." if not ja else
                              f"{self.place(t, ja)} を参照。"] + ([self.concept(self.other(t), ja)]
                                                               if rng.random() < 0.3 else [])), ""]
        if kind == "summary":
            out = [f"## {rng.choice(SUMMARY_HEAD_JA if ja else SUMMARY_HEAD_EN)}", ""]
            for _ in range(rng.randint(1, 3)):
                u = rng.choice(self.targets) if self.targets else None
                out.append(f"- {self.kw(u, ja) + ' ' + self.place(u, ja) if u else rng.choice(FILLER_EN)}")
            return out + [""]
        # mixed: an English sentence and a Japanese one about the same target
        return [f"{self.concept(t, False)} {self.concept(t, True)}", ""]

    def review(self, size: int) -> str:
        rng = self.rng
        lang = rng.random()
        out = [rng.choice([f"# {self.case.spec.title} レビュー", "# レビュー結果",
                           "**結論:** リリース前に修正が必要です。"]
                          if lang < 0.4 else [f"# Review: {self.case.spec.title}", "# Review",
                                              "**Short version:** several issues need fixing before launch."]), ""]
        # 40 % Japanese, 12 % both (block by block), the rest English (which may still quote a Japanese keyword)
        total, n = sum(len(x) + 1 for x in out), 0
        while total < size:
            n += 1
            ja = lang < 0.4 or (lang < 0.52 and rng.random() < 0.5)
            b = self.block(ja, n, mixed=0.4 <= lang < 0.52)
            k = sum(len(x) + 1 for x in b)
            if total + k > MAX_CHARS and n > 1:
                break                                  # keep every review within MAX_CHARS
            out += b
            total += k
        text = "\n".join(out)
        r = rng.random()
        if r < 0.03:
            text = text.replace("\n", "\r\n")
        elif r < 0.05:
            text = text.replace("\n\n", "\n")          # no blank lines: one long run of items
        return text


def synthetic(case, count: int = PER_CASE, seed: int = SEED) -> list[str]:
    """``count`` reviews of ``case``, the same for the same (case id, seed)."""
    rng = random.Random(seed * 1_000_003 + zlib.crc32(case.id.encode()))
    g = _Gen(case, rng)
    out = []
    for _ in range(count):
        out.append(g.review(rng.randint(MIN_CHARS, MAX_CHARS)))
    # a few edge cases: empty, blank, the item separator word itself, one huge line
    out[0] = ""
    out[1] = "   \n\n"
    out[2] = "qqitemqq qqsentqq " + out[2]
    out[3] = out[3].replace("\n", " ")
    return out


def iter_corpus(*, per_case: int = PER_CASE, seed: int = SEED, calibration: bool = True,
                cases_root: Path = CASES) -> Iterator[Sample]:
    """The whole corpus: calibration reviews first (when present), then the synthetic reviews case by case."""
    from harness.cases import load_case, load_suite

    if calibration and CALIBRATION.is_dir():
        for d in sorted(p for p in CALIBRATION.iterdir() if (p / "case.yaml").is_file()):
            case = load_case(d)
            for r in sorted((d / "reviews").glob("r*.md")):
                yield Sample(f"cal/{case.id}/{r.stem}", case, r.read_text(encoding="utf-8"))
    for case in load_suite(cases_root):
        for i, text in enumerate(synthetic(case, per_case, seed)):
            yield Sample(f"gen/{case.id}/{i}", case, text)


# ------------------------------------------------------------------------------------------------ digest


def compact(sg) -> dict:
    """What the regression test pins of a SampleGrade: verdicts, evidence items, extra_issues, error or not."""
    return {
        "found": sorted(f.id for f in sg.findings if f.found),
        "flagged": sorted(t.id for t in sg.traps if t.flagged),
        "evidence": {v.id: v.evidence.item for v in list(sg.findings) + list(sg.traps) if v.evidence is not None},
        "extra_issues": sg.extra_issues,
        "error": sg.error is not None,
    }


def digest(sg) -> str:
    """sha256 of the canonical JSON of :func:`compact` (first 16 hex digits: 64 bits, plenty to detect a change
    in 6,000 grades while keeping the committed file small)."""
    blob = json.dumps(compact(sg), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def build_digest(samples, grade) -> dict:
    """{"seed", "per_case", "cases": {case id: {"fingerprint", "source", "digests": [...]}}} for ``samples``."""
    cases: dict[str, dict] = {}
    for s in samples:
        src, cid, _ = s.key.split("/", 2)
        entry = cases.setdefault(f"{src}/{cid}", {"fingerprint": s.case.fingerprint, "digests": []})
        entry["digests"].append(digest(grade(s.case, s.review)))
    return {"seed": SEED, "per_case": PER_CASE, "cases": cases}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate the rubric grader's regression digest or dump grades.")
    ap.add_argument("--write-digest", nargs="?", const=str(DIGEST), metavar="PATH")
    ap.add_argument("--dump", metavar="PATH", help="write every SampleGrade.model_dump() as JSON")
    ap.add_argument("--stats", action="store_true", help="print corpus size figures")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from harness.graders.rubric import DeterministicGrader

    samples = list(iter_corpus())
    g = DeterministicGrader(semantic=False)  # the digest pins the lexical stage
    if a.stats:
        sizes = sorted(len(s.review) for s in samples)
        print(f"{len(samples)} reviews; chars min {sizes[0]} median {sizes[len(sizes) // 2]} max {sizes[-1]}; "
              f"{sum(1 for s in samples if _ja(s.review))} with Japanese")
    if a.dump:
        out = {s.key: g.grade(s.case, s.review).model_dump() for s in samples}
        Path(a.dump).write_text(json.dumps(out, ensure_ascii=False, sort_keys=True, indent=0), encoding="utf-8")
        print(f"wrote {len(out)} grades to {a.dump}")
    if a.write_digest:
        d = build_digest(samples, g.grade)
        p = Path(a.write_digest)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(d, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote digests of {len(samples)} grades to {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
