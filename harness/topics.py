"""The topic vocabulary: every area the agent prompt claims to review. Findings and traps may list ``topics``
(an extension of case format v1); ``harness suite`` reports coverage per topic and the validator rejects
unknown topics."""

from __future__ import annotations

TOPICS: dict[str, str] = {
    "rest-design": "REST resource and HTTP semantics design",
    "graphql": "GraphQL schema and resolver design",
    "versioning": "API versioning and backward compatibility",
    "pagination": "pagination of list endpoints",
    "error-format": "standardised error responses and error handling",
    "rate-limiting": "rate limiting and abuse prevention",
    "oauth": "OAuth 2.0 / OIDC flows and scopes",
    "jwt": "JWT issuance and verification",
    "rbac": "role-based access control",
    "object-level-access": "object-level authorization (IDOR/BOLA)",
    "injection": "SQL/NoSQL/command/template injection",
    "owasp-other": "other OWASP Top 10 risks (SSRF, XSS, secrets, misconfiguration, deserialization...)",
    "security-headers": "CORS, CSP, HSTS and other security headers",
    "encryption-in-transit": "TLS and encryption in transit",
    "encryption-at-rest": "encryption at rest and secrets storage",
    "schema-design": "schema design, constraints and normalisation",
    "indexing": "indexing strategy and query plans",
    "n-plus-one": "N+1 queries",
    "transactions": "transaction boundaries, isolation and races",
    "connection-pooling": "connection pooling",
    "caching": "caching strategy, invalidation and stampedes",
    "message-queues": "message queues and event-driven delivery",
    "idempotency": "idempotency of retried operations",
    "timeouts-retries": "timeouts, retries, backoff and circuit breakers",
    "containers-kubernetes": "containers and Kubernetes",
    "backup-dr": "backup and disaster recovery",
    "migrations": "schema and data migrations",
    "observability": "logging, metrics, tracing and alerting",
}
