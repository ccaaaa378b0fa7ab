'use strict';

const Fastify = require('fastify');
const jwt = require('jsonwebtoken');
const { Pool } = require('pg');

const config = {
  port: Number(process.env.PORT || 8080),
  databaseUrl: process.env.DATABASE_URL,
  jwtSecret: process.env.JWT_SECRET,
  uploadRoot: process.env.UPLOAD_ROOT || '/var/lib/filebox/uploads',
  publicBaseUrl: process.env.PUBLIC_BASE_URL || 'https://app.filebox.example',
  billingWebhookSecret: process.env.BILLING_WEBHOOK_SECRET,
  maxFileBytes: 200 * 1024 * 1024,
};

function buildApp() {
  const app = Fastify({
    logger: { level: process.env.LOG_LEVEL || 'info', redact: ['req.headers.authorization'] },
    trustProxy: 1,
    bodyLimit: 1024 * 1024,
  });

  const db = new Pool({ connectionString: config.databaseUrl, max: 20, idleTimeoutMillis: 30_000 });
  app.decorate('db', db);
  app.decorate('config', config);
  app.addHook('onClose', async () => db.end());

  app.register(require('@fastify/rate-limit'), { max: 300, timeWindow: '1 minute' });
  app.register(require('@fastify/multipart'), {
    limits: { fileSize: config.maxFileBytes, files: 1, fields: 5 },
    throwFileSizeLimit: false,
  });
  app.register(require('fastify-raw-body'), { field: 'rawBody', global: false, encoding: 'utf8', runFirst: true });

  app.decorate('authenticate', async (req, reply) => {
    const header = req.headers.authorization || '';
    if (!header.startsWith('Bearer ')) {
      return reply.code(401).send({ error: 'UNAUTHORIZED', message: 'bearer token required' });
    }
    try {
      const claims = jwt.verify(header.slice('Bearer '.length), config.jwtSecret, { algorithms: ['HS256'] });
      req.user = { id: claims.sub, tenantId: claims.tid, role: claims.role || 'member' };
    } catch (err) {
      req.log.info({ reason: err.message }, 'token rejected');
      return reply.code(401).send({ error: 'UNAUTHORIZED', message: 'invalid or expired token' });
    }
  });

  app.decorate('requireAdmin', async (req, reply) => {
    if (req.user.role !== 'admin') {
      return reply.code(403).send({ error: 'FORBIDDEN', message: 'tenant admin role required' });
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const status = err.statusCode && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
    }
    reply.code(status).send({ error: err.code || 'INTERNAL_ERROR', message: err.message });
  });

  app.get('/healthz', { config: { rateLimit: false } }, async () => {
    await db.query('SELECT 1');
    return { status: 'ok' };
  });

  app.register(require('./routes/files'));
  app.register(require('./routes/webhooks'));
  return app;
}

if (require.main === module) {
  const app = buildApp();
  app.listen({ port: config.port, host: '0.0.0.0' }).catch((err) => {
    app.log.error(err);
    process.exit(1);
  });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => app.close().then(() => process.exit(0)));
  }
}

module.exports = { buildApp, config };
