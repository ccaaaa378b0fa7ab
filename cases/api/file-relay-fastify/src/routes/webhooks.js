'use strict';

const crypto = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');

const SIGNATURE_TOLERANCE_SECONDS = 300;
const DELIVERY_ATTEMPTS = 3;
const EVENT_TYPES = ['file.uploaded', 'file.deleted', 'link.created'];

function signPayload(secret, timestamp, body) {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

async function deliverEvent(db, log, tenantId, type, data) {
  const { rows: subscriptions } = await db.query(
    'SELECT id, url, secret FROM webhook_subscriptions WHERE tenant_id = $1 AND active AND $2 = ANY(events)',
    [tenantId, type],
  );
  const body = JSON.stringify({ id: crypto.randomUUID(), type, created_at: new Date().toISOString(), data });

  for (const sub of subscriptions) {
    for (let attempt = 1; attempt <= DELIVERY_ATTEMPTS; attempt++) {
      const timestamp = Math.floor(Date.now() / 1000);
      try {
        const res = await fetch(sub.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-filebox-signature': `t=${timestamp},v1=${signPayload(sub.secret, timestamp, body)}`,
          },
          body,
        });
        if (res.ok) break;
        log.warn({ subscription: sub.id, status: res.status, attempt }, 'webhook delivery rejected');
      } catch (err) {
        log.warn({ subscription: sub.id, err: err.message, attempt }, 'webhook delivery failed');
      }
      if (attempt < DELIVERY_ATTEMPTS) await sleep(2000 * attempt);
    }
  }
}

function verifyBillingSignature(header, rawBody, secret) {
  if (typeof header !== 'string' || typeof rawBody !== 'string' || !secret) return false;
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.trim().split('=')));
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > SIGNATURE_TOLERANCE_SECONDS) {
    return false;
  }
  const expected = Buffer.from(signPayload(secret, parts.t, rawBody), 'hex');
  const given = Buffer.from(parts.v1 || '', 'hex');
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

async function webhookRoutes(app) {
  const { db, config } = app;

  app.post('/webhooks/subscriptions', {
    onRequest: [app.authenticate, app.requireAdmin],
    schema: {
      body: {
        type: 'object',
        required: ['url', 'events'],
        additionalProperties: false,
        properties: {
          url: { type: 'string', format: 'uri', maxLength: 2048 },
          events: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: EVENT_TYPES } },
        },
      },
    },
  }, async (req, reply) => {
    const { url, events } = req.body;
    if (!['https:', 'http:'].includes(new URL(url).protocol)) {
      return reply.code(400).send({ error: 'INVALID_URL', message: 'url must be http or https' });
    }
    const secret = crypto.randomBytes(32).toString('hex');
    const { rows } = await db.query(
      `INSERT INTO webhook_subscriptions (id, tenant_id, url, events, secret, active)
       VALUES ($1, $2, $3, $4, $5, true) RETURNING id, url, events, created_at`,
      [crypto.randomUUID(), req.user.tenantId, url, events, secret],
    );
    return reply.code(201).send({ ...rows[0], secret });
  });

  app.delete('/webhooks/subscriptions/:id', { onRequest: [app.authenticate, app.requireAdmin] }, async (req, reply) => {
    const { rowCount } = await db.query(
      'UPDATE webhook_subscriptions SET active = false WHERE id = $1 AND tenant_id = $2',
      [req.params.id, req.user.tenantId],
    );
    return rowCount ? reply.code(204).send() : reply.code(404).send({ error: 'NOT_FOUND', message: 'subscription not found' });
  });

  // 決済サービスはバッチ処理後に固定IPレンジからまとめて送ってくるため、レート制限の対象外にする。
  // 送信元の真正性は下の HMAC 署名で確認している。
  app.post('/billing/webhook', { config: { rawBody: true, rateLimit: false } }, async (req, reply) => {
    if (!verifyBillingSignature(req.headers['x-billing-signature'], req.rawBody, config.billingWebhookSecret)) {
      return reply.code(401).send({ error: 'INVALID_SIGNATURE', message: 'signature verification failed' });
    }
    const event = req.body;
    if (event.type === 'invoice.paid') {
      const { tenant_id: tenantId, plan, storage_bytes: storageBytes } = event.data;
      await db.query(
        'UPDATE tenants SET plan = $1, quota_bytes = quota_bytes + $2, updated_at = now() WHERE id = $3',
        [plan, storageBytes, tenantId],
      );
      await db.query(
        'INSERT INTO billing_events (event_id, tenant_id, type, received_at) VALUES ($1, $2, $3, now())',
        [event.id, tenantId, event.type],
      );
      req.log.info({ eventId: event.id, tenantId, storageBytes }, 'storage quota extended');
    }
    return { received: true };
  });
}

module.exports = webhookRoutes;
module.exports.deliverEvent = deliverEvent;
module.exports.verifyBillingSignature = verifyBillingSignature;
