from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint("seats_remaining >= 0", name="events_seats_remaining_nonnegative"),
        CheckConstraint("seats_remaining <= capacity", name="events_seats_remaining_le_capacity"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    sale_starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sale_ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    price_yen: Mapped[int]
    capacity: Mapped[int]
    seats_remaining: Mapped[int]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_user_sub_created_at", "user_sub", "created_at"),
        CheckConstraint(
            "status IN ('pending', 'paid', 'failed', 'refund_pending', 'refunded')", name="orders_status_valid"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_sub: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), index=True)
    quantity: Mapped[int]
    amount_yen: Mapped[int]
    # pending -> paid | failed, paid -> refund_pending -> refunded
    status: Mapped[str] = mapped_column(String(20), default="pending")
    charge_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_event_id_user_sub", "event_id", "user_sub"),
        CheckConstraint("status IN ('valid', 'void', 'used')", name="tickets_status_valid"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    user_sub: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="valid")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
