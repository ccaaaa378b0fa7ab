"""Public status page API.

GET  /v1/status         public: current state of every component, served from an in-memory snapshot
GET  /v1/incidents      public: published incidents
POST /v1/hooks/monitor  signed check results pushed by the monitoring vendor (Pingwatch)
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from datetime import datetime, timezone
from typing import Literal

import asyncpg
import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.middleware import SlowAPIMiddleware
from slowapi.util import get_remote_address
from starlette.responses import JSONResponse

log = logging.getLogger("statuspage")

DATABASE_URL = os.environ["DATABASE_URL"]
PINGWATCH_SECRET = os.environ["PINGWATCH_WEBHOOK_SECRET"].encode()
PINGWATCH_API = os.environ.get("PINGWATCH_API", "https://api.pingwatch.example/v3")
PINGWATCH_TOKEN = os.environ["PINGWATCH_API_TOKEN"]
SIGNATURE_TOLERANCE_S = 300
MAX_HOOK_BYTES = 64 * 1024
SNAPSHOT_EVERY_S = 30
HISTORY_EVERY_S = 600

INCIDENT_SORTS = {
    "newest": "started_at DESC, id DESC",
    "oldest": "started_at ASC, id ASC",
    "impact": "impact_rank DESC, started_at DESC, id DESC",
}

# The status page is public by design: it only ever serves the snapshot of component states and
# published incidents. Requests are limited per client IP (uvicorn runs with --proxy-headers behind the
# load balancer, so the address is the real client's) in Redis shared by all replicas.
limiter = Limiter(key_func=get_remote_address, storage_uri=os.environ["RATELIMIT_REDIS_URL"],
                  default_limits=["120/minute"], swallow_errors=True, in_memory_fallback_enabled=True)

state: dict = {"components": [], "history": {}, "refreshed_at": None}


async def refresh_snapshot(pool: asyncpg.Pool) -> None:
    while True:
        try:
            rows = await pool.fetch(
                "SELECT id, name, status, updated_at FROM components WHERE visible ORDER BY position")
            state["components"] = [dict(r) for r in rows]
            state["refreshed_at"] = datetime.now(timezone.utc)
        except Exception:
            log.exception("snapshot refresh failed; serving the previous snapshot")
        await asyncio.sleep(SNAPSHOT_EVERY_S)


async def refresh_history(client: httpx.AsyncClient) -> None:
    while True:
        try:
            resp = await client.get("/uptime/history", params={"days": 90})
            resp.raise_for_status()
            state["history"] = resp.json()["components"]
        except Exception:
            log.exception("uptime history refresh failed; keeping the previous history")
        await asyncio.sleep(HISTORY_EVERY_S)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool(DATABASE_URL, min_size=2, max_size=10, command_timeout=5)
    # Only the background history refresh uses this client, never a request handler. Pingwatch builds the
    # 90-day history on demand and documents up to 60 s for accounts with many checks, hence the read limit.
    app.state.pingwatch = httpx.AsyncClient(
        base_url=PINGWATCH_API,
        headers={"Authorization": f"Bearer {PINGWATCH_TOKEN}"},
        timeout=httpx.Timeout(connect=3.0, read=90.0, write=10.0, pool=5.0),
    )
    tasks = [asyncio.create_task(refresh_snapshot(app.state.pool)),
             asyncio.create_task(refresh_history(app.state.pingwatch))]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.state.pingwatch.aclose()
        await app.state.pool.close()


app = FastAPI(title="Status page", lifespan=lifespan)
app.state.limiter = limiter
app.add_middleware(SlowAPIMiddleware)


@app.exception_handler(RateLimitExceeded)
async def rate_limited(request: Request, exc: RateLimitExceeded) -> JSONResponse:
    return JSONResponse({"detail": "too many requests"}, status_code=429, headers={"Retry-After": "60"})


@app.get("/healthz")
@limiter.exempt
async def healthz() -> dict:
    return {"status": "ok"}


@app.get("/v1/status")
async def get_status() -> dict:
    if state["refreshed_at"] is None:
        raise HTTPException(status_code=503, detail="status not loaded yet")
    return {
        "components": state["components"],
        "uptime_90d": state["history"],
        "refreshed_at": state["refreshed_at"],
    }


@app.get("/v1/incidents")
async def list_incidents(request: Request,
                         sort: Literal["newest", "oldest", "impact"] = "newest",
                         limit: int = Query(20, ge=1, le=100),
                         offset: int = Query(0, ge=0, le=1000)) -> dict:
    order_by = INCIDENT_SORTS[sort]
    rows = await request.app.state.pool.fetch(
        f"""SELECT id, title, impact, status, started_at, resolved_at, summary
              FROM incidents
             WHERE published
             ORDER BY {order_by}
             LIMIT $1 OFFSET $2""",
        limit, offset)
    return {"incidents": [dict(r) for r in rows], "limit": limit, "offset": offset}


def verify_signature(header: str, body: bytes, now: float) -> bool:
    """Pingwatch signs "<unix ts>.<raw body>" with HMAC-SHA256; header: "t=<ts>,v1=<hex digest>"."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        signed_ts, given = parts["t"], parts["v1"]
        ts = int(signed_ts)
    except (KeyError, ValueError):
        return False
    if abs(now - ts) > SIGNATURE_TOLERANCE_S:
        return False
    expected = hmac.new(PINGWATCH_SECRET, signed_ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode())


# Pingwatch delivers bursts from a handful of addresses; this route is authenticated by its signature instead.
@app.post("/v1/hooks/monitor", status_code=202)
@limiter.exempt
async def monitor_hook(request: Request) -> dict:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_HOOK_BYTES:
            raise HTTPException(status_code=413, detail="payload too large")
    body = bytes(body)
    if not verify_signature(request.headers.get("x-pingwatch-signature", ""), body, time.time()):
        raise HTTPException(status_code=401, detail="invalid signature")
    try:
        event = json.loads(body)
        event_id, check_id, status = str(event["id"]), str(event["check_id"]), event["status"]
        observed_at = datetime.fromisoformat(event["observed_at"])
    except (ValueError, KeyError, TypeError):
        raise HTTPException(status_code=400, detail="malformed event") from None
    if observed_at.tzinfo is None:
        raise HTTPException(status_code=400, detail="observed_at must carry a UTC offset")
    if status not in ("up", "degraded", "down"):
        raise HTTPException(status_code=400, detail="unknown status")

    async with request.app.state.pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO monitor_events (event_id, check_id, status, observed_at)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (event_id) DO NOTHING
               RETURNING event_id""",
            event_id, check_id, status, observed_at)
        if inserted is None:
            return {"result": "duplicate"}
        await conn.execute(
            """UPDATE components SET status = $1, updated_at = $2
                WHERE check_id = $3 AND updated_at <= $2""",
            status, observed_at, check_id)
    log.info("monitor event %s: check %s is %s", event_id, check_id, status)
    return {"result": "accepted"}
