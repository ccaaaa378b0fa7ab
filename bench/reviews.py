"""Review-like text for benchmarks, built deterministically from the suite's own cases.

A generated review reads like the real ones (markdown, 2–12 KB, English or Japanese, as the agent prompt
answers): a verdict paragraph, numbered findings under severity headings, each with a heading naming an anchor
and a ``file:line`` reference, a fenced quote of the location's code, sentences built from the finding's title,
keywords and rubric, a fix; traps either praised or (sometimes) wrongly flagged; generic checklist lines; filler.
Which findings appear, in which order and language, is drawn from ``random.Random(seed)``: the same seed gives
the same reviews on every machine.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

SEV_EN = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}
SEV_JA = {"critical": "重大", "high": "高", "medium": "中", "low": "低"}

FILLER_EN = [
    "Overall the module is easy to follow and the layering is consistent with the rest of the service.",
    "I read the handlers top to bottom, then the data access code, then the configuration.",
    "The naming is clear and most functions are short enough to reason about in isolation.",
    "The points below are ordered by how much damage they can do in production, not by where they appear.",
    "None of these fixes is large; most are a few lines plus a test.",
    "I did not run the code; line numbers refer to the files as submitted.",
    "Happy to pair on the migration if that helps get it in before the release.",
    "The error handling style is mostly consistent, which made the outliers easy to spot.",
]
FILLER_JA = [
    "全体として見通しの良い構成で、サービスの他の部分とも整合しています。",
    "ハンドラ、データアクセス、設定の順に読みました。",
    "命名は明確で、ほとんどの関数は単独で理解できる長さです。",
    "以下は本番環境での影響が大きい順に並べています。",
    "いずれの修正も大きくはなく、数行とテストで済むものがほとんどです。",
    "コードは実行していません。行番号は提出されたファイルのものです。",
    "マイグレーションが必要な点は、リリース前に一緒に確認しましょう。",
    "エラー処理のスタイルはおおむね統一されているので、例外的な箇所が目立ちました。",
]
CHECKLIST_EN = [
    "Make sure every endpoint has integration tests for the unhappy paths.",
    "Consider adding structured logging with a request id on every log line.",
    "Add metrics for latency and error rate per route.",
    "Keep secrets out of the repository and rotate them regularly.",
    "Validate all input at the boundary and return consistent error bodies.",
    "Document the retry and timeout policy for every outbound call.",
    "Review the database indexes once the query patterns settle.",
    "Run a load test before the launch to confirm the capacity assumptions.",
]
CHECKLIST_JA = [
    "すべてのエンドポイントに異常系の結合テストを用意してください。",
    "すべてのログ行にリクエスト ID を含む構造化ログを検討してください。",
    "ルートごとのレイテンシとエラー率のメトリクスを追加してください。",
    "シークレットはリポジトリに含めず、定期的にローテーションしてください。",
    "入力は境界で検証し、エラー応答の形式を統一してください。",
    "外部呼び出しごとにリトライとタイムアウトの方針を文書化してください。",
    "クエリのパターンが固まったらインデックスを見直してください。",
    "リリース前に負荷試験を行い、キャパシティの想定を確認してください。",
]
WHY_EN = [
    "In production this means {kw}: {title_lc}.",
    "This is a {kw} problem, and it is reachable by any authenticated caller.",
    "Under concurrent requests the {kw} shows up quickly; one retry from a client is enough.",
    "The root cause is the code at {ref}: {title_lc}.",
    "I would treat the {kw} as release-blocking.",
]
WHY_JA = [
    "本番ではこれが{kw}につながります（{title}）。",
    "これは{kw}の問題で、認証済みのユーザーなら誰でも再現できます。",
    "同時リクエストがあると{kw}がすぐに起きます。クライアントのリトライ 1 回で十分です。",
    "原因は {ref} のコードです。",
    "{kw}はリリースをブロックすべき内容だと考えます。",
]
FIX_EN = ["**Fix:** {fix}", "Suggested change: {fix}", "Recommendation: {fix}"]
FIX_JA = ["**修正:** {fix}", "修正案: {fix}", "推奨: {fix}"]
PRAISE_EN = ["`{anchor}` in {ref} is fine as written: {title_lc}.",
             "Note that `{anchor}` ({ref}) is safe here, so no change is needed."]
PRAISE_JA = ["なお、{ref} の `{anchor}` は問題ありません（{title}）。",
             "`{anchor}`（{ref}）は適切です。変更は不要です。"]
FLAG_EN = ["`{anchor}` at {ref} looks risky: {kw}. Please change it.",
           "I would also fix `{anchor}` ({ref}); this is a {kw} issue."]
FLAG_JA = ["{ref} の `{anchor}` も{kw}の問題があるので修正してください。",
           "`{anchor}`（{ref}）は{kw}のおそれがあります。見直してください。"]

_JA_RE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _is_ja(s: str) -> bool:
    return bool(_JA_RE.search(s))


def _kw(rng: random.Random, keywords: Sequence[str], ja: bool) -> str:
    pool = [k for k in keywords if _is_ja(k) == ja] or list(keywords)
    return rng.choice(pool)


def _lc(title: str) -> str:
    return title[:1].lower() + title[1:] if title[1:2].islower() else title


def _fix_text(rubric: str) -> str:
    m = re.search(r"\b(?:asks?|recommends?|suggests?)\b(.*)", rubric, re.S | re.I)
    text = (m.group(1) if m else rubric).strip().rstrip(".")
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"^(?:to|for)\s+", "", text)
    return (text[:1].upper() + text[1:] + ".") if text else "Fix it."


def _code_quote(case, file: str, lo: int, hi: int, rng: random.Random) -> str:
    try:
        lines = case.artifact(file).splitlines()
    except KeyError:
        return ""
    lo = max(1, lo)
    hi = min(len(lines), hi, lo + rng.randint(2, 10))
    body = "\n".join(lines[lo - 1:hi]).rstrip()
    if not body.strip() or "```" in body:
        return ""
    return f"```\n{body}\n```"


def _ref(file: str, lo: int, hi: int, rng: random.Random, ja: bool) -> str:
    form = rng.random()
    if form < 0.5:
        return f"{file}:{lo}-{hi}" if hi > lo else f"{file}:{lo}"
    if form < 0.8:
        return f"{file} の {lo}行目" if ja else f"{file} line {lo}"
    return f"`{file}`"


def generate_review(case, rng: random.Random, *, lang: str | None = None) -> str:
    """One review of ``case`` (a :class:`harness.cases.Case`). ``lang``: ``"en"``, ``"ja"`` or None (drawn)."""
    ja = (rng.random() < 0.5) if lang is None else lang == "ja"
    sev = SEV_JA if ja else SEV_EN
    filler = FILLER_JA if ja else FILLER_EN
    out: list[str] = []
    title = case.spec.title
    out.append(f"# {title} レビュー" if ja else f"# Review: {title}")
    out.append("")
    out.append("## 結論" if ja else "## Verdict")
    out.append(" ".join(rng.sample(filler, k=min(len(filler), rng.randint(2, 4)))))
    out.append("")
    findings = list(case.findings)
    # a review finds a random subset (recall ~ 0.2..1.0), ordered by severity like a real one
    k = rng.randint(max(0, len(findings) // 5), len(findings)) if findings else 0
    chosen = sorted(rng.sample(findings, k), key=lambda f: ["critical", "high", "medium", "low"].index(f.severity))
    current = None
    for i, f in enumerate(chosen, 1):
        if f.severity != current:
            current = f.severity
            out.append(f"## {sev[f.severity]}")
            out.append("")
        anchor = rng.choice(f.anchors)
        lo, hi = f.location.lines
        ref = _ref(f.location.file, lo, hi, rng, ja)
        kw = _kw(rng, f.keywords, ja)
        if ja:
            out.append(f"### {i}. `{anchor}` の{kw}（{ref}）")
        else:
            out.append(f"### {i}. {f.title} ({ref})")
        q = _code_quote(case, f.location.file, lo, hi, rng) if rng.random() < 0.7 else ""
        if q:
            out.append(q)
        whys = WHY_JA if ja else WHY_EN
        for tmpl in rng.sample(whys, k=rng.randint(2, 4)):
            out.append(tmpl.format(kw=_kw(rng, f.keywords, ja), title=f.title, title_lc=_lc(f.title), ref=ref))
        if not ja and rng.random() < 0.7:
            out.append(re.sub(r"\s+", " ", f.rubric).strip())
        if ja:
            out.append(f"具体的には、{f.title}。この状態では{_kw(rng, f.keywords, True)}が起き、"
                       f"`{rng.choice(f.anchors)}` を呼ぶすべての経路が影響を受けます。")
        if ja:
            out.append(rng.choice(FIX_JA).format(fix=f"{_kw(rng, f.keywords, True)}が起きないよう、{ref} を修正して"
                                                 "テストを追加してください。"))
        else:
            out.append(rng.choice(FIX_EN).format(fix=_fix_text(f.rubric)))
        if rng.random() < 0.6:
            out.append(" ".join(rng.sample(filler, k=rng.randint(1, 2))))
        out.append("")
    for t in case.traps:
        r = rng.random()
        if r < 0.6:
            continue
        anchor = rng.choice(t.anchors)
        lo, hi = t.location.lines
        ref = _ref(t.location.file, lo, hi, rng, ja)
        if r < 0.9:
            tmpl = rng.choice(PRAISE_JA if ja else PRAISE_EN)
        else:
            tmpl = rng.choice(FLAG_JA if ja else FLAG_EN)
        out.append(tmpl.format(anchor=anchor, ref=ref, title=t.title, title_lc=_lc(t.title),
                               kw=_kw(rng, t.keywords, ja)))
        out.append("")
    if rng.random() < 0.7:
        out.append("## その他" if ja else "## Other suggestions")
        for line in rng.sample(CHECKLIST_JA if ja else CHECKLIST_EN, k=rng.randint(2, 6)):
            out.append(f"- {line}")
        out.append("")
    if rng.random() < 0.5:
        out.append("## テスト" if ja else "## Tests")
        for f in rng.sample(chosen, k=min(len(chosen), rng.randint(1, 3))):
            kw = _kw(rng, f.keywords, ja)
            out.append(f"- {kw}を再現するテストを追加してください。" if ja else
                       f"- Add a test that reproduces the {kw} before fixing it.")
        out.append("")
    if rng.random() < 0.5:
        out.append(" ".join(rng.sample(filler, k=rng.randint(1, 3))))
    return "\n".join(out).rstrip() + "\n"


def generate_reviews(cases: Sequence, n: int, *, seed: int = 0) -> list[tuple[object, str]]:
    """``n`` (case, review) pairs cycling through ``cases``, deterministic for ``seed``."""
    rng = random.Random(seed)
    return [(cases[i % len(cases)], generate_review(cases[i % len(cases)], rng)) for i in range(n)]
