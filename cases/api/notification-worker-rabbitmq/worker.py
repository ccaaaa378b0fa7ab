"""Notification worker.

Consumes jobs from the notifications.send queue. A job names a tenant template and a list of users; the
worker renders the template for each user and delivers it by e-mail or SMS. Templates are written by each
tenant's administrators in the console and stored per channel.

Job body: {"job_id": "...", "tenant_id": 7, "channel": "sms", "template_id": 12, "user_ids": [...], "data": {...}}
"""
from __future__ import annotations

import json
import logging
import os
import signal

import pika
from jinja2 import Environment, StrictUndefined
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from senders import (EmailSender, PermanentDeliveryError, SmsConfig, SmsSender, SmtpConfig)

log = logging.getLogger("notify.worker")

QUEUE = "notifications.send"
PREFETCH = 10
TEMPLATE_TABLES = {"email": "email_templates", "sms": "sms_templates"}

pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=1, max_size=4,
                      kwargs={"row_factory": dict_row}, open=True)
templates = Environment(undefined=StrictUndefined, keep_trailing_newline=True)

sms = SmsSender(SmsConfig(
    base_url=os.environ.get("TEXTWAVE_URL", "https://api.textwave.example"),
    account_id=os.environ["TEXTWAVE_ACCOUNT"],
    api_token=os.environ["TEXTWAVE_TOKEN"],
    sender_id=os.environ.get("SMS_SENDER_ID", "ACME"),
))
email = EmailSender(SmtpConfig(
    host=os.environ.get("SMTP_HOST", "smtp-relay.acme-mail.net"),
    port=int(os.environ.get("SMTP_PORT", "587")),
    username=os.environ["SMTP_USER"],
    password=os.environ["SMTP_PASSWORD"],
    from_addr=os.environ.get("MAIL_FROM", "no-reply@acme.example"),
))


def load_template(tenant_id: int, channel: str, template_id: int) -> dict:
    table = TEMPLATE_TABLES[channel]
    query = sql.SQL("SELECT subject, body FROM {} WHERE id = %s AND tenant_id = %s AND active").format(
        sql.Identifier(table))
    with pool.connection() as conn:
        row = conn.execute(query, (template_id, tenant_id)).fetchone()
    if row is None:
        raise LookupError(f"no active {channel} template {template_id} for tenant {tenant_id}")
    return row


def load_recipient(tenant_id: int, user_id: int) -> dict | None:
    with pool.connection() as conn:
        return conn.execute(
            "SELECT id, first_name, email, phone, locale, sms_opt_out, email_opt_out"
            "  FROM users WHERE id = %s AND tenant_id = %s",
            (user_id, tenant_id),
        ).fetchone()


def already_processed(job_id: str) -> bool:
    with pool.connection() as conn:
        return conn.execute("SELECT 1 FROM processed_jobs WHERE job_id = %s", (job_id,)).fetchone() is not None


def mark_processed(job_id: str, delivered: list[int], failed: list[int]) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO processed_jobs (job_id, delivered_user_ids, failed_user_ids) VALUES (%s, %s, %s)"
            " ON CONFLICT (job_id) DO NOTHING",
            (job_id, Jsonb(delivered), Jsonb(failed)),
        )


def render(source: str, context: dict) -> str:
    return templates.from_string(source).render(**context)


def deliver(channel: str, recipient: dict, subject: str, text: str) -> str:
    if channel == "sms":
        return sms.send(recipient["phone"], text)
    return email.send(recipient["email"], subject, text)


def deliver_all(job: dict, template: dict) -> tuple[list[int], list[int]]:
    job_id, tenant_id, channel = job["job_id"], job["tenant_id"], job["channel"]
    delivered: list[int] = []
    failed: list[int] = []
    for user_id in job["user_ids"]:
        recipient = load_recipient(tenant_id, user_id)
        if recipient is None or recipient[f"{channel}_opt_out"]:
            continue
        context = {**job.get("data", {}), "user": recipient}
        text = render(template["body"], context)
        subject = render(template["subject"] or "", context)
        try:
            message_id = deliver(channel, recipient, subject, text)
        except PermanentDeliveryError as exc:
            log.warning("job %s: permanent failure for user %s: %s", job_id, user_id, exc)
            failed.append(user_id)
            continue
        log.info("job %s: sent %s to %s (%s): %s", job_id, channel,
                 recipient["phone"] if channel == "sms" else recipient["email"], message_id, text)
        delivered.append(user_id)
    return delivered, failed


def handle(job: dict) -> None:
    job_id = job["job_id"]
    if already_processed(job_id):
        log.info("job %s already processed, skipping", job_id)
        return
    template = load_template(job["tenant_id"], job["channel"], job["template_id"])
    delivered, failed = deliver_all(job, template)
    mark_processed(job_id, delivered, failed)
    log.info("job %s done: %d delivered, %d failed", job_id, len(delivered), len(failed))


def on_message(ch, method, properties, body: bytes) -> None:
    try:
        handle(json.loads(body))
    except Exception:
        log.exception("job failed, returning it to the queue")
        ch.basic_nack(delivery_tag=method.delivery_tag, requeue=True)
        return
    ch.basic_ack(delivery_tag=method.delivery_tag)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    params = pika.URLParameters(os.environ["AMQP_URL"])
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.queue_declare(queue=QUEUE, durable=True)
    channel.basic_qos(prefetch_count=PREFETCH)
    channel.basic_consume(queue=QUEUE, on_message_callback=on_message)

    def shutdown(signum, frame):
        log.info("signal %s received, stopping consumer", signum)
        channel.stop_consuming()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("consuming %s", QUEUE)
    try:
        channel.start_consuming()
    finally:
        connection.close()
        pool.close()


if __name__ == "__main__":
    main()
