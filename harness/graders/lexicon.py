"""Generic linguistic resources of the deterministic grader (English and Japanese).

Nothing here is specific to one case: synonym groups of common code-review vocabulary, markers of praise or
approval, markers that a sentence reports a defect, negation cues, and markers of generic (checklist) advice.
"""

from __future__ import annotations

# Each group lists interchangeable ways to name one review concept, in English and Japanese. When a case keyword
# equals (in word form) a member of a group, every member becomes an alternative spelling of that keyword; when a
# keyword contains a member as a part, the part may be replaced by the other members (at most two replacements).
SYNONYM_GROUPS: list[list[str]] = [
    ["hard-coded", "hardcoded", "hard coded", "hard-coding", "ハードコード", "直書き", "ベタ書き"],
    ["hard-coded secret", "hardcoded secret", "hardcoded key", "hard-coded key", "hardcoded credential",
     "hard-coded credential", "secret in source code", "secret in source", "committed secret",
     "committed to source", "out of source", "out of the source", "out of the code", "out of the repo",
     "in source control", "in version control", "committed to git", "committed to the repo", "in the repository",
     "ハードコードされた認証情報", "ハードコードされた秘密", "ソースに直書き", "コードに直書き", "ソースコードに直書き"],
    ["secret in configmap", "password in configmap", "secrets in configmaps", "credentials in a configmap",
     "secrets out of configmaps", "plaintext password", "plain-text password", "password in plain text",
     "平文パスワード", "configmap に平文"],
    ["secret management", "secrets manager", "secret manager", "secret store", "シークレット管理",
     "シークレットマネージャ"],
    ["full table scan", "full scan", "table scan", "sequential scan", "seq scan", "フルスキャン", "全件走査",
     "全件スキャン", "シーケンシャルスキャン", "フルテーブルスキャン", "全表走査"],
    ["missing index", "no index", "unindexed", "not indexed", "lacks an index", "インデックス不足",
     "インデックスがない", "インデックスなし", "インデックスが無い", "インデックスがありません"],
    ["rate limiting", "rate limit", "throttling", "throttle", "レート制限", "レートリミット", "流量制限"],
    ["brute force", "brute-force", "ブルートフォース", "総当たり"],
    ["account lockout", "lockout", "アカウントロック", "ロックアウト"],
    ["idempotency key", "idempotency-key", "冪等キー", "べき等キー"],
    ["idempotency", "idempotent", "冪等性", "冪等", "べき等"],
    ["double charge", "duplicate charge", "charged twice", "charge twice", "charge again", "charged again",
     "charges again", "二重課金", "二重請求", "二重に課金",
     "再課金"],
    ["race condition", "data race", "競合状態", "レースコンディション", "競合"],
    ["lost update", "ロストアップデート", "更新の消失"],
    ["timeout", "time out", "timed out", "タイムアウト"],
    ["circuit breaker", "サーキットブレーカー", "サーキットブレーカ"],
    ["dead letter queue", "dead-letter queue", "dead letter topic", "dead-letter topic", "dlq", "dlt",
     "parking topic", "dead letter exchange", "dead-letter exchange", "dlx", "デッドレターキュー",
     "デッドレタートピック", "デッドレター"],
    ["poison message", "poison pill", "poison record", "ポイズンメッセージ", "ポイズンピル"],
    ["infinite retry", "endless retry", "retry forever", "retries forever", "infinite redelivery",
     "redelivered forever", "requeued forever", "無限リトライ", "無限に再試行", "無限再配信", "無限に再配信"],
    ["exponential backoff", "backoff", "back-off", "指数バックオフ", "バックオフ"],
    ["retry limit", "max retries", "maximum retries", "retry cap", "リトライ上限", "再試行回数の上限"],
    ["pagination", "paging", "paginate", "ページネーション", "ページング"],
    ["keyset pagination", "cursor pagination", "cursor-based pagination", "seek method", "keyset",
     "キーセットページネーション", "キーセットページング", "カーソルページング", "カーソルページネーション"],
    ["offset pagination", "offset paging", "オフセットページネーション", "オフセットページング"],
    ["n+1", "n + 1", "n+1 query", "n+1 queries", "one query per row", "a query per row", "one query per item",
     "a query per item", "query per parent", "one query per parent", "a query for each", "one query for each",
     "queries in a loop", "query in a loop", "n+1問題", "n+1 問題", "親ごとに", "1件ごとにクエリ", "行ごとにクエリ",
     "ループ内でクエリ", "ループの中でクエリ"],
    ["sql injection", "sqli", "sqlインジェクション", "sql インジェクション"],
    ["injection", "インジェクション"],
    ["idor", "bola", "insecure direct object reference", "broken object level authorization",
     "broken object-level authorization", "認可漏れ", "認可チェック漏れ"],
    ["missing authorization", "no authorization check", "no ownership check", "ownership check",
     "認可チェックがない", "所有者チェック", "所有者の確認"],
    ["cors", "cross-origin", "cross origin", "クロスオリジン"],
    ["any origin", "every origin", "all origins", "arbitrary origin", "any website", "任意のオリジン",
     "すべてのオリジン", "全オリジン", "任意のサイト"],
    ["allow credentials", "allows credentials", "with credentials", "credentials true", "credentials 付き",
     "認証情報付き", "認証付き"],
    ["privileged container", "privileged mode", "特権コンテナ", "特権モード"],
    ["runs as root", "run as root", "running as root", "root user", "root実行", "rootで実行", "root 権限"],
    ["least privilege", "最小権限"],
    ["container escape", "node escape", "コンテナエスケープ", "コンテナブレイクアウト"],
    ["readiness probe", "readinessprobe", "レディネスプローブ", "readiness"],
    ["liveness probe", "livenessprobe", "ライブネスプローブ", "liveness"],
    ["health check", "healthcheck", "ヘルスチェック"],
    ["unique constraint", "unique index", "uniqueness", "unique", "一意制約", "ユニーク制約", "一意インデックス",
     "ユニークインデックス", "一意性"],
    ["duplicate accounts", "duplicate account", "duplicate email", "duplicate emails", "重複アカウント",
     "メール重複", "アカウントの重複"],
    ["case-insensitive", "case insensitive", "大文字小文字"],
    ["cross-tenant", "cross tenant", "other tenants", "another tenant", "tenant isolation", "他テナント",
     "テナント間", "テナント分離"],
    ["certificate verification disabled", "tls verification disabled", "skips certificate verification",
     "disables certificate verification", "insecure skip verify", "certificate validation disabled",
     "証明書検証の無効化", "証明書の検証を無効"],
    ["not null", "not null constraint", "not null制約", "not null 制約"],
    ["nullable", "null許容", "null を許", "null可"],
    ["floating point", "float", "floats", "binary floating point", "浮動小数点", "浮動小数点数"],
    ["rounding error", "rounding errors", "precision loss", "丸め誤差", "端数誤差"],
    ["time zone", "timezone", "タイムゾーン"],
    ["timestamp without time zone", "timestamp without timezone", "タイムゾーンなし"],
    ["on delete cascade", "cascade delete", "cascading delete", "delete cascade", "カスケード削除"],
    ["cache stampede", "stampede", "thundering herd", "dogpile", "キャッシュスタンピード", "スタンピード"],
    ["hot key", "ホットキー"],
    ["transactional outbox", "outbox pattern", "outbox", "アウトボックス", "トランザクショナルアウトボックス"],
    ["dual write", "dual-write", "デュアルライト", "二重書き込み"],
    ["auto commit", "auto-commit", "autocommit", "自動コミット"],
    ["offset commit", "commit offset", "commits offset", "オフセットコミット", "オフセットのコミット"],
    ["consumer lag", "consumer group lag", "コンシューマラグ", "コンシューマーラグ"],
    ["token expiry", "token expiration", "expiry", "expiration", "有効期限", "never expire", "never expires",
     "no expiry", "no expiration", "does not expire", "無期限", "期限なし", "期限切れにならない"],
    ["expired token", "期限切れトークン", "期限切れのトークン"],
    ["signature verification", "verify signature", "verifies the signature", "signature check",
     "署名検証", "署名を検証"],
    ["forged token", "token forgery", "forge tokens", "forge a token", "トークン偽造", "偽造トークン"],
    ["predictable", "guessable", "予測可能"],
    ["csprng", "cryptographically secure", "暗号論的に安全", "暗号学的に安全"],
    ["mass assignment", "over-posting", "overposting", "マスアサインメント", "一括代入"],
    ["privilege escalation", "権限昇格"],
    ["allowlist", "allow list", "whitelist", "許可リスト", "ホワイトリスト"],
    ["latest tag", ":latest", "latestタグ", "latest タグ"],
    ["persistent volume", "persistentvolumeclaim", "pvc", "persistent volume claim", "永続ボリューム"],
    ["data loss", "lose data", "loses data", "lost data", "data is lost", "lose all data", "loses all data",
     "deletes the database", "database is deleted", "wipes the data", "data is wiped", "データ消失", "データ損失",
     "データが消え", "データが失われ", "データを失う"],
    ["resource requests", "resource limits", "resources", "requests and limits", "リソース要求", "リソース制限"],
    ["besteffort", "best effort", "best-effort"],
    ["eviction", "evicted", "evict"],
    ["information disclosure", "information leak", "leaks internal details", "internal error details",
     "exposes internal details", "情報漏えい", "情報漏洩", "内部情報の漏洩", "内部情報を漏らす", "内部情報が漏れ"],
    ["cannot scale", "can not scale", "never scale", "will never scale", "won't scale",
     "does not scale", "unable to scale", "スケールしない", "スケールできない"],
    ["stack trace", "スタックトレース"],
    ["logout", "log out", "sign out", "ログアウト"],
    ["session invalidation", "invalidate session", "invalidate the session", "revoke the session",
     "セッション無効化", "セッションの無効化", "セッションを無効"],
    ["revocation", "revoke", "失効"],
    ["refresh token", "リフレッシュトークン"],
    ["password hash", "password hashing", "パスワードハッシュ"],
    ["partition key", "partitioning key", "message key", "パーティションキー"],
    ["random number", "random numbers", "乱数"],
    ["sensitive data in logs", "pii in logs", "logging sensitive data", "ログへの機密情報出力"],
    ["input validation", "入力検証", "入力チェック", "バリデーション"],
    ["negative quantity", "負の数量"],
    ["content security policy", "csp"],
    ["security headers", "セキュリティヘッダー", "セキュリティヘッダ"],
    ["network policy", "networkpolicy", "ネットワークポリシー"],
    ["autoscaling", "auto scaling", "autoscale", "hpa", "horizontal pod autoscaler", "オートスケール"],
    ["disabled", "switched off", "turned off", "無効", "無効化"],
    ["thread pool exhaustion", "thread exhaustion", "スレッド枯渇", "スレッドプール枯渇"],
    ["cascading failure", "cascade failure", "連鎖障害", "障害の連鎖"],
    ["error message", "エラーメッセージ"],
    ["status 200", "http 200", "200 ok", "returns 200", "status code 200", "ステータス 200"],
    ["deduplication", "dedupe", "dedup", "重複排除"],
]

# Phrases by which a reviewer approves of code. Matched on the word form (see textnorm.words).
APPROVING = ["safe", "fine", "correct", "ok", "okay", "good", "sound", "appropriate", "acceptable", "right",
              "reasonable", "solid", "adequate", "sufficient", "great", "secure", "valid", "intentional",
              "well designed", "well implemented", "well done", "the right choice", "the right call", "a good choice",
              "a good call", "the recommended", "recommended", "standard practice", "best practice", "idiomatic",
              "by design", "as intended", "as expected", "deliberate", "not a problem", "not an issue",
              "not vulnerable", "not injectable", "harmless", "a good idea", "the right way", "the right design"]
COPULA = ["is", "are", "was", "were", "looks", "look", "seems", "seem", "is perfectly", "is already",
           "is actually", "is entirely", "is completely", "are already", "are perfectly", "remains", "stays",
           "which is", "that is", "it s", "that s", "this is", "is also", "are also", "is still", "are still",
           "be", "is exactly", "is really"]
# the praise matcher (graders/rubric/lexmatch.py, _LEX_PRAISE) = (COPULA) (APPROVING) | PRAISE
PRAISE = [
    # English
    "correctly", "well done", "good choice", "good call", "right call", "nice", "no issue", "no issues",
    "no problem", "no problems", "nothing to fix", "nothing to change", "no change needed", "no changes needed",
    "no action needed", "keep it", "keep this", "keep them", "leave it", "leave as is", "leave it as is",
    "good to see", "glad to see", "done well", "as it should", "works as intended", "not a bug",
    "cannot be injected", "can not be injected", "no injection risk", "no risk", "is in place", "are in place",
    "good practice", "well handled", "handled correctly", "handled well", "praise", "kudos", "i like",
    "nicely", "properly", "sensible", "is fine as", "fine as is", "ok as is", "which avoids", "which prevents",
    "this prevents", "that prevents", "which protects", "this protects", "protects against", "guards against",
    # Japanese
    "適切です", "適切でした", "適切だと", "適切と", "適切に設定されて", "適切に実装されて", "適切に処理されて",
    "適切に扱われて", "問題ありません", "問題ない", "問題はない", "問題はありません", "問題なし", "問題は無い",
    "安全です", "安全だ", "安全に", "安全な設計", "正しいです", "正しく", "正しい", "正しい設計", "正しい判断", "正しい選択",
    "良い選択", "良い判断", "良い設計", "良い点", "よい点", "良い構成", "良いです", "よいです", "良好", "妥当です",
    "妥当な", "妥当", "十分です", "評価でき", "よくできて", "良くできて", "優れて", "推奨どおり", "推奨通り",
    "このままで", "そのままで", "そのまま活か", "正解", "大丈夫", "懸念はありません", "懸念なし", "残してください",
    "維持してください", "変更不要", "修正不要", "対応不要", "必要ありません", "必要はありません", "心配ありません",
    "余地はありません", "余地はない", "余地がない", "余地がありません", "余地はなく", "余地がなく",
]

# Cues that a sentence reports a problem (judgements, negations, consequences).
DEFECT = [
    # English
    "not", "no", "never", "without", "missing", "lack", "lacks", "broken", "wrong", "incorrect", "bug",
    "flaw", "issue", "problem", "risk", "vulnerable", "vulnerability", "insecure", "unsafe", "weak", "fail",
    "failure", "leak", "lose", "lost", "loss", "race", "can not", "will not", "dangerous", "too", "block",
    "hang", "break", "expose", "attacker", "exploit", "bypass", "violate", "stale", "silently", "forever",
    "unbounded", "overwrite", "duplicate", "twice", "reorder", "blocker", "critical", "danger", "concern",
    "mismatch", "only", "nothing", "none", "unless", "however", "but",
    # states that are faults in themselves
    "plaintext", "cleartext", "in clear", "hardcoded", "hard coded", "unencrypted", "unauthenticated", "slow",
    "expensive",
    # Japanese
    "ない", "なし", "ません", "無い", "欠如", "不足", "漏れ", "漏洩", "漏えい", "失敗", "壊れ", "崩れ", "誤り",
    "間違", "不適切", "リスク", "恐れ", "おそれ", "危険", "脆弱", "問題", "危ない", "不十分", "不備", "課題", "懸念",
    "できない", "できません", "消え", "失われ", "止まり", "止まる", "詰まる", "してしまい", "てしまう", "しまいます",
    "向きません", "向かない", "不可", "防げ", "突破", "偽造", "改ざん", "弱い", "低い", "遅い", "遅く", "枯渇",
    "増え続け", "二重", "入れ替わ", "取りこぼ", "競合", "合っていない", "効かない", "使えない",
    # the continuative negative (〜ず) of the same: "インデックスが効かずフルスキャンになります"
    "効かず", "使えず", "できず", "防げず", "届かず", "機能せず", "守れず", "追いつかず",
    # the Japanese of the English cues above (attacker, exploit, bypass, expose, forever, unbounded, overwrite,
    # duplicate, silently), and 温床 ("a breeding ground for" a defect)
    "攻撃者", "悪用", "すり抜け", "迂回", "露出", "無限", "無制限", "上書き", "重複", "黙って", "温床",
    "平文", "ハードコード", "重い", "重く",
]

# Cues that a sentence asks for a change (imperatives and recommendations).
ACTION = [
    "should", "must", "instead", "replace", "remove", "switch", "disable", "fix", "change", "move", "add",
    "set", "avoid", "stop", "rather than", "rebuild", "lower", "raise", "increase", "reduce", "drop", "rotate",
    "pin", "enforce", "require", "need", "needs", "use", "consider", "recommend",
    "べき", "してください", "ください", "必要", "変更", "修正", "置き換え", "推奨します", "見直", "作り直", "外して",
    "削除", "追加", "しましょう", "にする", "に変え", "を使",
]

# How advice opens (an imperative or a rule), in English; Japanese advice is told by its ending (ADVICE_JA_END).
# An item that names no place and opens this way reads the same for any codebase (graders/rubric/semantic_stage.py, semantic
# stage): "Don't expose internal error details", "List endpoints should be paginated".
ADVICE_EN_START = [
    "add", "adopt", "always", "apply", "avoid", "be", "check", "configure", "consider", "decide", "define",
    "disable", "do", "don't", "document", "enable", "encrypt", "enforce", "ensure", "follow", "handle",
    "implement", "introduce", "keep", "limit", "log", "make", "monitor", "move", "never", "paginate", "plan",
    "prefer", "protect", "put", "rate-limit", "remove", "replace", "require", "restrict", "retry", "review",
    "rotate", "run", "sanitize", "set", "store", "support", "switch", "test", "use", "validate", "verify",
]
ADVICE_EN_MODAL = ["should", "must", "ought to", "it is recommended", "is recommended", "are recommended"]
ADVICE_JA_END = ["ください", "べき", "べきです", "しましょう", "すること", "こと", "推奨します", "推奨", "望ましい",
                 "望ましいです", "ましょう"]

# Action cues that recommend something rather than find fault with it ("use X"): they do not flag a trap.
RECOMMEND = ["use", "consider", "recommend", "を使", "しましょう"]

# Words just before a mention that make it the remedy ("use X", "switch to X", "like X does"), and particles just
# after a mention in Japanese ("X に変えて", "X を使って", "X と同様に").
REMEDY_BEFORE = ["use", "using", "with", "like", "via", "adopt", "prefer", "switch to", "replace with",
                 "migrate to", "move to", "such as", "e g", "for example", "as", "recommend", "favour", "favor"]
REMEDY_AFTER = ["に変え", "へ変え", "に置き換", "へ置き換", "に切り替", "へ切り替", "に移行", "を使", "を使用", "と同様",
                "と同じ", "のように", "を採用", "で生成", "already", "does", "instead"]

# Cues of a negation (for keywords such as "no timeout" / "インデックス不足").
NEGATION = [
    "no", "not", "never", "without", "missing", "lack", "lacks", "lacking", "none", "absent", "doesn't",
    "doesn t", "isn't", "isn t", "aren't", "aren t", "nothing", "unset", "omit", "omits", "omitted",
    "ない", "なし", "ません", "無い", "欠如", "不足", "漏れ", "未設定", "未指定", "ず", "なく",
]

# Markers of generic advice (a checklist line that would read the same for any codebase).
GENERIC = [
    "every", "all", "always", "any", "each", "everywhere", "make sure", "ensure", "consider", "in general",
    "avoid", "apply", "wherever", "where possible", "whenever", "should always", "never trust",
    "generally", "best practice", "best practices", "as needed", "where appropriate", "if needed",
    "すべて", "全て", "常に", "適切に", "適切な", "検討", "必要に応じて", "一般的", "徹底", "しましょう",
    "ようにしましょう", "確認してください", "見直して",
]

# Markers that a change is asked for as optional hardening, not as a defect to fix ("if possible, narrow it to
# the FQDN", "可能であれば egress プロキシ経由に"). CASE_FORMAT.md: a trap is flagged only when it is reported as a
# defect to fix; a review that offers hardening on sound code has not flagged it.
OPTIONAL = ["if possible", "where possible", "where feasible", "if feasible", "if practical", "optionally",
            "optional", "nice to have", "nice-to-have", "as hardening", "further hardening", "additional hardening",
            "extra hardening", "defense in depth", "defence in depth", "as a refinement", "not required",
            "not a blocker", "not blocking", "可能であれば", "可能なら", "できれば", "余裕があれば", "任意で",
            "多層防御", "さらなる堅牢化", "追加の堅牢化", "必須ではありません", "必須ではない", "ブロッカーではありません"]

# Openings of a paragraph that raises a further problem inside another problem's section ("There is also a
# resource problem: …"): extras.py counts it apart from the section's own problem.
ANOTHER_PROBLEM = ["there is also", "there are also", "also", "another", "separately", "in addition",
                   "additionally", "a second", "a further", "unrelated", "on top of this", "on top of that",
                   "別の", "別件", "もう一つ", "もうひとつ", "加えて", "また"]

# Markers that a sentence is hedged or only asks a question (used to soften trap flags).
HEDGE = ["might", "may", "could", "perhaps", "consider", "if you", "double-check", "double check", "verify that",
         "check that", "confirm that", "かもしれ", "検討", "確認して", "念のため"]
