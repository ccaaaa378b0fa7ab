'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const { pipeline } = require('node:stream/promises');
const jwt = require('jsonwebtoken');
const { deliverEvent } = require('./webhooks');

const LINK_TTL_SECONDS = 7 * 24 * 3600;
const MAX_PAGE_SIZE = 200;
const FILE_COLUMNS = 'id, folder, name, mime_type, size_bytes, created_at';

async function fileRoutes(app) {
  const { db, config } = app;

  async function findFile(id, tenantId) {
    const { rows } = await db.query(
      `SELECT ${FILE_COLUMNS}, storage_path FROM files WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`,
      [id, tenantId],
    );
    return rows[0];
  }

  app.post('/files', { onRequest: [app.authenticate] }, async (req, reply) => {
    const data = await req.file();
    if (!data) {
      return reply.code(400).send({ error: 'FILE_REQUIRED', message: 'multipart field "file" is required' });
    }
    const id = randomUUID();
    const folder = String(data.fields.folder?.value ?? '').trim();
    const dir = path.join(config.uploadRoot, req.user.tenantId, folder);
    await fs.promises.mkdir(dir, { recursive: true });
    const target = path.join(dir, `${id}-${data.filename}`);

    await pipeline(data.file, fs.createWriteStream(target));
    if (data.file.truncated) {
      await fs.promises.rm(target, { force: true });
      return reply.code(413).send({ error: 'FILE_TOO_LARGE', message: 'file exceeds the 200 MB limit' });
    }
    const { size } = await fs.promises.stat(target);

    const quota = await db.query(
      `UPDATE tenants SET used_bytes = used_bytes + $1
       WHERE id = $2 AND used_bytes + $1 <= quota_bytes RETURNING used_bytes`,
      [size, req.user.tenantId],
    );
    if (quota.rowCount === 0) {
      await fs.promises.rm(target, { force: true });
      return reply.code(409).send({ error: 'QUOTA_EXCEEDED', message: 'storage quota exceeded' });
    }

    const { rows } = await db.query(
      `INSERT INTO files (id, tenant_id, owner_id, folder, name, mime_type, size_bytes, storage_path)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${FILE_COLUMNS}`,
      [id, req.user.tenantId, req.user.id, folder, data.filename, data.mimetype, size, target],
    );
    await deliverEvent(db, req.log, req.user.tenantId, 'file.uploaded', rows[0]);
    return reply.code(201).send(rows[0]);
  });

  app.get('/files', { onRequest: [app.authenticate] }, async (req) => {
    const folder = String(req.query.folder ?? '');
    const limit = Math.min(Math.max(Number.parseInt(req.query.limit, 10) || 50, 1), MAX_PAGE_SIZE);
    const params = [req.user.tenantId, folder, limit + 1];
    let keyset = '';
    if (req.query.after) {
      const [createdAt, id] = Buffer.from(String(req.query.after), 'base64url').toString().split('|');
      keyset = 'AND (created_at, id) < ($4, $5)';
      params.push(createdAt, id);
    }
    const { rows } = await db.query(
      `SELECT ${FILE_COLUMNS} FROM files
       WHERE tenant_id = $1 AND folder = $2 AND deleted_at IS NULL ${keyset}
       ORDER BY created_at DESC, id DESC LIMIT $3`,
      params,
    );
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    const next = rows.length > limit
      ? Buffer.from(`${last.created_at.toISOString()}|${last.id}`).toString('base64url')
      : null;
    return { items, next };
  });

  app.post('/files/:id/links', { onRequest: [app.authenticate] }, async (req, reply) => {
    const file = await findFile(req.params.id, req.user.tenantId);
    if (!file) return reply.code(404).send({ error: 'NOT_FOUND', message: 'file not found' });
    const token = jwt.sign(
      { sub: req.user.id, tid: req.user.tenantId, fid: file.id },
      config.jwtSecret,
      { algorithm: 'HS256', expiresIn: LINK_TTL_SECONDS },
    );
    await deliverEvent(db, req.log, req.user.tenantId, 'link.created', { file_id: file.id, created_by: req.user.id });
    return reply.code(201).send({ url: `${config.publicBaseUrl}/d/${file.id}?token=${token}`, expires_in: LINK_TTL_SECONDS });
  });

  app.get('/d/:id', async (req, reply) => {
    let claims;
    try {
      claims = jwt.verify(String(req.query.token ?? ''), config.jwtSecret, { algorithms: ['HS256'] });
    } catch {
      return reply.code(401).send({ error: 'INVALID_LINK', message: 'the link is invalid or has expired' });
    }
    if (claims.fid !== req.params.id) {
      return reply.code(403).send({ error: 'INVALID_LINK', message: 'the link does not match this file' });
    }
    const file = await findFile(req.params.id, claims.tid);
    if (!file) return reply.code(404).send({ error: 'NOT_FOUND', message: 'file not found' });

    reply.header('Content-Type', file.mime_type);
    reply.header('Content-Length', file.size_bytes);
    reply.header('Content-Disposition', `inline; filename*=UTF-8''${encodeURIComponent(file.name)}`);
    reply.header('Cache-Control', 'private, max-age=300');
    return reply.send(fs.createReadStream(file.storage_path));
  });
}

module.exports = fileRoutes;
