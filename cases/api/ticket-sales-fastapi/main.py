"""チケット販売 API (公演一覧・購入・マイチケット・キャンセル)."""
from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import httpx
import redis.asyncio as redis
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from auth import CurrentUser, current_user, require_scope
from models import Event, Order, Ticket

log = logging.getLogger("tickets")

STATEMENT_TIMEOUT_MS = 5_000
EVENT_CACHE_SECONDS = 15
MY_TICKETS_CACHE_SECONDS = 300
MAX_TICKETS_PER_ORDER = 8
CANCEL_DEADLINE = timedelta(days=3)

engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=10, max_overflow=5, pool_pre_ping=True)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
cache = redis.from_url(os.environ["REDIS_URL"], decode_responses=True)

payments = httpx.AsyncClient(
    base_url=os.environ["PAYMENT_API_URL"],
    headers={"Authorization": f"Bearer {os.environ['PAYMENT_API_KEY']}"},
    timeout=httpx.Timeout(10.0, connect=3.0),
)

app = FastAPI(title="Ticket API", version="1.6.0")


@event.listens_for(engine.sync_engine, "begin")
def _apply_statement_timeout(conn) -> None:
    # SET LOCAL はバインド変数を受け付けないため定数を埋め込む
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}")


async def get_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


class OrderIn(BaseModel):
    event_id: int
    quantity: int = Field(ge=1, le=MAX_TICKETS_PER_ORDER)
    card_token: str = Field(min_length=8, max_length=128)


class PaymentDeclined(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def event_to_dict(ev: Event, now: datetime) -> dict:
    return {
        "id": ev.id,
        "title": ev.title,
        "venue": ev.venue,
        "starts_at": ev.starts_at.isoformat(),
        "price_yen": ev.price_yen,
        "seats_remaining": ev.seats_remaining,
        "on_sale": ev.sale_starts_at <= now < ev.sale_ends_at and ev.seats_remaining > 0,
    }


@app.get("/v1/events")
async def list_events(
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1),
    session: AsyncSession = Depends(get_session),
):
    now = datetime.now(timezone.utc)
    stmt = (
        select(Event)
        .where(Event.starts_at >= now)
        .order_by(Event.starts_at, Event.id)
        .offset(offset)
        .limit(limit)
    )
    events = (await session.scalars(stmt)).all()
    return {"items": [event_to_dict(ev, now) for ev in events], "offset": offset, "limit": limit}


@app.get("/v1/events/{event_id}")
async def get_event(event_id: int, session: AsyncSession = Depends(get_session)):
    key = f"event:{event_id}"
    if (hit := await cache.get(key)) is not None:
        return json.loads(hit)
    ev = await session.get(Event, event_id)
    if ev is None:
        raise HTTPException(status_code=404, detail="event not found")
    body = event_to_dict(ev, datetime.now(timezone.utc))
    await cache.set(key, json.dumps(body), ex=EVENT_CACHE_SECONDS)
    return body


@app.get("/v1/events/{event_id}/my-tickets")
async def my_tickets(
    event_id: int,
    user: CurrentUser = Depends(current_user),
    session: AsyncSession = Depends(get_session),
):
    key = f"my-tickets:{event_id}"
    if (hit := await cache.get(key)) is not None:
        return json.loads(hit)
    stmt = (
        select(Ticket)
        .where(Ticket.event_id == event_id, Ticket.user_sub == user.sub, Ticket.status == "valid")
        .order_by(Ticket.id)
    )
    tickets = (await session.scalars(stmt)).all()
    body = {
        "event_id": event_id,
        "tickets": [{"code": t.code, "issued_at": t.issued_at.isoformat()} for t in tickets],
    }
    await cache.set(key, json.dumps(body), ex=MY_TICKETS_CACHE_SECONDS)
    return body


async def charge_card(amount_yen: int, card_token: str, order_id: int) -> str:
    payload = {
        "amount": amount_yen,
        "currency": "jpy",
        "source": card_token,
        "description": f"ticket order {order_id}",
    }
    last_error: Exception | None = None
    for attempt in range(1, 4):
        try:
            resp = await payments.post("/v1/charges", json=payload)
        except httpx.TransportError as exc:
            last_error = exc
            log.warning("charge attempt %d for order %s failed: %r", attempt, order_id, exc)
            continue
        if resp.status_code == 402:
            err = resp.json().get("error", {})
            raise PaymentDeclined(err.get("code", "card_declined"), err.get("message", "card was declined"))
        resp.raise_for_status()
        return resp.json()["id"]
    raise RuntimeError(f"payment provider unreachable for order {order_id}") from last_error


@app.post("/v1/orders", status_code=201)
async def create_order(
    body: OrderIn,
    user: CurrentUser = Depends(require_scope("tickets:purchase")),
    session: AsyncSession = Depends(get_session),
):
    now = datetime.now(timezone.utc)
    async with session.begin():
        ev = await session.get(Event, body.event_id)
        if ev is None:
            raise HTTPException(status_code=404, detail="event not found")
        if not (ev.sale_starts_at <= now < ev.sale_ends_at):
            raise HTTPException(status_code=409, detail="event is not on sale")
        if ev.seats_remaining < body.quantity:
            raise HTTPException(status_code=409, detail="not enough seats left")
        ev.seats_remaining -= body.quantity
        order = Order(user_sub=user.sub, event_id=ev.id, quantity=body.quantity,
                      amount_yen=ev.price_yen * body.quantity, status="pending")
        session.add(order)

    try:
        charge_id = await charge_card(order.amount_yen, body.card_token, order.id)
    except PaymentDeclined as exc:
        async with session.begin():
            order.status = "failed"
            await session.execute(
                update(Event).where(Event.id == ev.id)
                .values(seats_remaining=Event.seats_remaining + order.quantity)
            )
        return JSONResponse({"order_id": order.id, "status": "failed", "reason": exc.code, "message": exc.message})
    except (RuntimeError, httpx.HTTPStatusError):
        # pending のまま残った注文は payments-reconcile ジョブが決済側と突き合わせて確定/解放する
        log.exception("charge for order %s did not complete", order.id)
        raise HTTPException(status_code=503, detail="payment is temporarily unavailable")

    async with session.begin():
        order.status = "paid"
        order.charge_id = charge_id
        order.paid_at = datetime.now(timezone.utc)
        session.add_all(
            Ticket(order_id=order.id, event_id=ev.id, user_sub=user.sub, code=uuid.uuid4().hex)
            for _ in range(order.quantity)
        )
    await cache.delete(f"my-tickets:{ev.id}", f"event:{ev.id}")
    log.info("order %s paid (event=%s qty=%s)", order.id, ev.id, order.quantity)
    return {"order_id": order.id, "status": order.status, "amount_yen": order.amount_yen}


@app.post("/v1/orders/{order_id}/cancel")
async def cancel_order(
    order_id: int,
    user: CurrentUser = Depends(current_user),
    session: AsyncSession = Depends(get_session),
):
    async with session.begin():
        order = await session.scalar(
            select(Order).where(Order.id == order_id, Order.user_sub == user.sub).with_for_update()
        )
        if order is None:
            # 他人の注文 ID の存在を推測させないため 403 ではなく 404 を返す
            raise HTTPException(status_code=404, detail="order not found")
        if order.status != "paid":
            raise HTTPException(status_code=409, detail=f"order is {order.status}")
        ev = await session.get(Event, order.event_id)
        if ev.starts_at - datetime.now(timezone.utc) < CANCEL_DEADLINE:
            raise HTTPException(status_code=409, detail="cancellation period has ended")
        order.status = "refund_pending"
        await session.execute(update(Ticket).where(Ticket.order_id == order.id).values(status="void"))
        await session.execute(
            update(Event).where(Event.id == order.event_id)
            .values(seats_remaining=Event.seats_remaining + order.quantity)
        )
    await cache.delete(f"my-tickets:{order.event_id}", f"event:{order.event_id}")
    return {"order_id": order.id, "status": order.status}
