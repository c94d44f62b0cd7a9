'use strict';
// billium reference gateway: REST requests in, one SQL transaction each, the database's verdict out.
//
// The gateway decides nothing about who may do what. Per request it opens a transaction as an
// ordinary login role (granted billium_api), presents the caller's key or session token, asks
// billium_authorize(action, merchant) once, runs the request's query under row-level security
// and commits. Refusals come back as the JSON envelope billium put in the error's DETAIL, which
// is passed to the client as it is, with its HTTP status.
//
// POST /secret-scanning/verify takes GitHub's secret scanning reports (docs/secret-scanning.md):
// the signature is checked here, the tokens are judged and leaked keys revoked by the database,
// over a pool of its own that logs in as a role granted billium_scanner only.
//
// Environment: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD (read by the pg package);
// PORT (default 8080; 0 picks a free one); for secret scanning, SECRET_SCANNING_KEYS_FILE (GitHub's
// public_keys document, read at each report so that keys rotate without a restart) and
// SCANNER_PGUSER, SCANNER_PGPASSWORD (the route answers 404 unless both the file and the user are
// set). Listens on 127.0.0.1 only.

const crypto = require('node:crypto');
const fs = require('node:fs/promises');
const http = require('node:http');
const { Pool } = require('pg');
const { createCors } = require('./cors.js');

const MAX_BODY = 64 * 1024;
const PREFIX = /^\/api\/v1\/merchants\/merchant\/([^/]+)(\/.*)$/;
const pool = new Pool({
  max: Number(process.env.PG_POOL_SIZE || 10),
  application_name: 'billium-gateway',
  connectionTimeoutMillis: 5000, // a saturated pool or a down server: a 500, not a hung request
  statement_timeout: 10000,
});
// An idle connection that dies (server restart) must not take the process down with it.
pool.on('error', (err) => console.error(`pool: idle connection lost (${err.code || err.message})`));

const SCANNING_PATH = '/secret-scanning/verify';
const SCANNING_MAX_BODY = 1024 * 1024; // GitHub batches many matches in one report
const SCANNING_KEYS_FILE = process.env.SECRET_SCANNING_KEYS_FILE;
const scannerPool = SCANNING_KEYS_FILE && process.env.SCANNER_PGUSER ? new Pool({
  user: process.env.SCANNER_PGUSER,
  password: process.env.SCANNER_PGPASSWORD,
  max: 2,
  application_name: 'billium-gateway-scanner',
  connectionTimeoutMillis: 5000,
  statement_timeout: 10000,
}) : null;
scannerPool?.on('error', (err) => console.error(`scanner pool: idle connection lost (${err.code || err.message})`));

// A reply decided by the gateway itself (bad body, no such row), raised from inside a transaction.
class Reply extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.body = { status, code, message };
  }
}

const INVOICE = 'id, merchant_id, amount, currency, status, description, created_at';
const PRODUCT = 'id, merchant_id, name, price, currency, created_at';
const WEBHOOK = 'id, merchant_id, url, events, created_at';

async function one(db, sql, params, what) {
  const { rows } = await db.query(sql, params);
  // No row: it does not exist, or row-level security hides it (a pk key sees only its own
  // invoices). The two look the same on purpose.
  if (rows.length === 0) throw new Reply(404, 'NOT_FOUND', `no such ${what}`);
  return rows[0];
}

async function list(db, sql, params) {
  return (await db.query(sql, params)).rows;
}

// Browsers: CORS grants and the refusal of a secret key sent from a page (cors.js).
const cors = createCors({ reply: (status, code, message) => new Reply(status, code, message) });

// Routes under /api/v1/merchants/merchant/{merchantId}: method, path, the action's name in
// billium.actions, the status of a success, and run(db, merchantId, pathParams, body()) giving
// the payload, inside the transaction.
const routes = [
  ['GET', /^\/invoices$/, 'invoices.list', 200, (db, m) =>
    list(db, `SELECT ${INVOICE} FROM billium.invoices WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 100`, [m])],
  ['POST', /^\/invoices$/, 'invoices.create', 201, async (db, m, _, body) => {
    const b = body();
    if (!Number.isSafeInteger(b.amount) || b.amount < 0)
      throw new Reply(400, 'INVALID_REQUEST', 'amount must be a non-negative integer (minor units)');
    if (b.currency !== undefined && !/^[a-z]{3}$/.test(b.currency))
      throw new Reply(400, 'INVALID_REQUEST', 'currency must be three lowercase letters');
    if (b.description !== undefined && typeof b.description !== 'string')
      throw new Reply(400, 'INVALID_REQUEST', 'description must be a string');
    // created_by_key / created_by_user are filled by the database from the principal.
    return one(db, `INSERT INTO billium.invoices (merchant_id, amount, currency, description)
      VALUES ($1, $2, coalesce($3, 'usd'), coalesce($4, '')) RETURNING ${INVOICE}`,
    [m, b.amount, b.currency ?? null, b.description ?? null], 'invoice');
  }],
  ['GET', /^\/invoices\/([^/]+)$/, 'invoices.retrieve', 200, (db, m, [id]) =>
    one(db, `SELECT ${INVOICE} FROM billium.invoices WHERE merchant_id = $1 AND id = $2`, [m, id], 'invoice')],
  ['POST', /^\/invoices\/([^/]+)\/cancel$/, 'invoices.cancel', 200, async (db, m, [id]) => {
    const { rows } = await db.query(`UPDATE billium.invoices SET status = 'cancelled'
      WHERE merchant_id = $1 AND id = $2 AND status <> 'paid' RETURNING ${INVOICE}`, [m, id]);
    if (rows.length > 0) return rows[0];
    await one(db, 'SELECT 1 FROM billium.invoices WHERE merchant_id = $1 AND id = $2', [m, id], 'invoice');
    throw new Reply(409, 'INVOICE_NOT_CANCELLABLE', 'a paid invoice cannot be cancelled');
  }],
  ['GET', /^\/products$/, 'products.list', 200, (db, m) =>
    list(db, `SELECT ${PRODUCT} FROM billium.products WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 100`, [m])],
  ['GET', /^\/products\/([^/]+)$/, 'products.retrieve', 200, (db, m, [id]) =>
    one(db, `SELECT ${PRODUCT} FROM billium.products WHERE merchant_id = $1 AND id = $2`, [m, id], 'product')],
  ['POST', /^\/webhooks$/, 'webhooks.create', 201, async (db, m, _, body) => {
    const b = body();
    if (typeof b.url !== 'string' || b.url.length > 2048 || !/^https?:\/\/[^\s]+$/.test(b.url))
      throw new Reply(400, 'INVALID_REQUEST', 'url must be an http(s) URL');
    const events = b.events ?? [];
    if (!Array.isArray(events) || !events.every((e) => typeof e === 'string'))
      throw new Reply(400, 'INVALID_REQUEST', 'events must be an array of strings');
    return one(db, `INSERT INTO billium.webhooks (merchant_id, url, events) VALUES ($1, $2, $3)
      RETURNING ${WEBHOOK}`, [m, b.url, events], 'webhook');
  }],
  ['GET', /^\/webhooks$/, 'webhooks.list', 200, (db, m) =>
    list(db, `SELECT ${WEBHOOK} FROM billium.webhooks WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 100`, [m])],
  // LEFT JOIN: the users table has its own policy; a member whose user row is hidden still shows.
  ['GET', /^\/team$/, 'team.list', 200, (db, m) =>
    list(db, `SELECT t.user_id, u.email, t.role, t.permissions::text AS permissions, t.created_at
      FROM billium.team_members t LEFT JOIN billium.users u ON u.id = t.user_id
      WHERE t.merchant_id = $1 ORDER BY t.created_at, t.user_id`, [m])],
];

// Statuses for errors without an envelope: bad input is the client's; the rest is ours.
function mapError(err) {
  if (err instanceof Reply) return [err.status, JSON.stringify(err.body), {}];
  let envelope;
  try { envelope = JSON.parse(err.detail); } catch { /* not billium's */ }
  if (envelope && Number.isInteger(envelope.status)) {
    const headers = {};
    if (envelope.status === 429 && Number.isFinite(envelope.retry_after_ms))
      headers['retry-after'] = String(Math.max(1, Math.ceil(envelope.retry_after_ms / 1000)));
    return [envelope.status, err.detail, headers]; // billium's envelope, byte for byte
  }
  if (err.code === '22P02' || err.code === '22023')
    return [400, JSON.stringify({ status: 400, code: 'INVALID_INPUT', message: err.message }), {}];
  if (/^2[23]/.test(err.code || ''))
    return [400, JSON.stringify({ status: 400, code: 'INVALID_INPUT', message: 'a value was refused' }), {}];
  // Internals stay in our log (SQLSTATE and message; billium never puts a key in either).
  console.error(`internal error: ${err.code || ''} ${err.message}`);
  return [500, JSON.stringify({ status: 500, code: 'INTERNAL_ERROR', message: 'internal error' }), {}];
}

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

// The raw body's bytes, at most limit of them; null when it is larger.
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// --- secret scanning (GitHub's partner protocol) ---------------------------------------------

const unauthorized = (message) => new Reply(401, 'SIGNATURE_INVALID', message);

// The P-256 public key GitHub names in Github-Public-Key-Identifier, from the operator's copy of
// GitHub's public_keys document: {"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}.
// A key no longer current still verifies: GitHub rotates by adding the new key first.
async function scanningKey(identifier) {
  const doc = JSON.parse(await fs.readFile(SCANNING_KEYS_FILE, 'utf8'));
  const entry = (Array.isArray(doc?.public_keys) ? doc.public_keys : [])
    .find((k) => typeof k?.key_identifier === 'string' && k.key_identifier === identifier);
  if (!entry) return null;
  const key = crypto.createPublicKey(entry.key);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new Error(`secret scanning key ${identifier} is not an ECDSA P-256 key`);
  return key;
}

// ECDSA P-256 with SHA-256 over the raw body; the signature is base64 of its DER encoding.
async function verifyScanningSignature(req, raw) {
  const identifier = req.headers['github-public-key-identifier'];
  const signature = req.headers['github-public-key-signature'];
  if (typeof identifier !== 'string' || typeof signature !== 'string' || !identifier || !signature)
    throw unauthorized('the report is not signed');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) throw unauthorized('the signature is not base64');
  const key = await scanningKey(identifier);
  if (!key) throw unauthorized('unknown signing key');
  let ok;
  try {
    ok = crypto.verify('sha256', raw, { key, dsaEncoding: 'der' }, Buffer.from(signature, 'base64'));
  } catch { ok = false; } // not DER at all
  if (!ok) throw unauthorized('the signature does not match the body');
}

// [{token, type, url, source}], checked after the signature.
function scanningMatches(raw) {
  let value;
  try { value = JSON.parse(raw.toString('utf8')); } catch { value = undefined; }
  const str = (v, max) => typeof v === 'string' && v.length <= max;
  if (!Array.isArray(value) || !value.every((m) => m !== null && typeof m === 'object' &&
      str(m.token, 1000) && str(m.type, 200) && (m.url === undefined || str(m.url, 2048))))
    throw new Reply(400, 'INVALID_REQUEST', 'the body must be an array of {token, type, url, source}');
  return value;
}

// One transaction; one call per source URL (the function records one URL per call). The answer
// follows the report's order: {token_raw, token_type, label}.
async function handleScanning(req, res) {
  const raw = await readBody(req, SCANNING_MAX_BODY);
  if (raw === null) return send(res, 413, { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `the body is over ${SCANNING_MAX_BODY} bytes` });
  let db, broken;
  try {
    await verifyScanningSignature(req, raw);
    const matches = scanningMatches(raw);
    const byUrl = new Map();
    matches.forEach((m, i) => {
      const url = m.url ?? null;
      if (!byUrl.has(url)) byUrl.set(url, []);
      byUrl.get(url).push(i);
    });
    const labels = [];
    db = await scannerPool.connect();
    await db.query('BEGIN');
    for (const [url, indexes] of byUrl) {
      const { rows } = await db.query('SELECT label FROM billium.billium_report_leaked_keys($1::text[], $2)',
        [indexes.map((i) => matches[i].token), url]);
      indexes.forEach((i, n) => { labels[i] = rows[n].label; });
    }
    await db.query('COMMIT');
    send(res, 200, matches.map((m, i) => ({ token_raw: m.token, token_type: m.type, label: labels[i] })));
  } catch (err) {
    if (db) await db.query('ROLLBACK').catch((e) => { broken = e; });
    const [status, body, headers] = mapError(err);
    send(res, status, body, headers);
  } finally {
    db?.release(broken);
  }
}

// Parsed only after the gate, so a caller without a key learns 401, not that their JSON is bad.
function jsonBody(raw) {
  return () => {
    let value;
    try { value = JSON.parse(raw || 'null'); } catch { value = undefined; }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Reply(400, 'INVALID_REQUEST', 'the body must be a JSON object');
    return value;
  };
}

async function handle(req, res) {
  const path = new URL(req.url, 'http://gateway').pathname;
  if (path === SCANNING_PATH && req.method === 'POST' && scannerPool) return handleScanning(req, res);
  const scoped = PREFIX.exec(path);
  if (scoped) {
    if (cors.preflight(req, res, scoped[1], scoped[2])) return;
    cors.grant(req, res, scoped[1]);
  }
  let route, params;
  for (const r of scoped ? routes : []) {
    const match = r[0] === req.method && r[1].exec(scoped[2]);
    if (match) { route = r; params = match.slice(1); break; }
  }
  if (!route) return send(res, 404, { status: 404, code: 'NOT_FOUND', message: 'no such route' });
  const [, , action, success, run] = route;
  const merchantId = scoped[1]; // as sent: the database parses it (not a uuid: 22P02, a 400)

  const bytes = await readBody(req, MAX_BODY);
  const raw = bytes?.toString('utf8');
  if (bytes === null) return send(res, 413, { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `the body is over ${MAX_BODY} bytes` });

  // The credentials go to the database as bind parameters, never into SQL text or our log.
  const apiKey = req.headers['x-api-key'] ?? '';
  const session = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');

  const db = await pool.connect();
  let broken;
  try {
    await db.query('BEGIN');
    // Both for this transaction only (is_local). An empty value means none; both present is
    // refused by the database (PRINCIPAL_CONFLICT), neither by the gate (API_KEY_MISSING).
    // Settings rather than billium_authenticate($1): the gate then verifies the caller itself,
    // so even a 401 names the action, and the conflict check sees key and session together.
    await db.query("SELECT set_config('billium.api_key', $1, true), set_config('billium.session', $2, true)",
      [apiKey, session]);
    const refusal = cors.secretKeyInBrowser(req, apiKey, action,
      await db.query('SELECT billium.billium_authorize($1, $2)', [action, merchantId]).then(() => undefined, (e) => e));
    if (refusal) throw refusal;
    const payload = await run(db, merchantId, params, jsonBody(raw));
    await db.query('COMMIT');
    send(res, success, payload);
  } catch (err) {
    // The principal ends with the transaction, so nothing of this caller stays on the connection.
    await db.query('ROLLBACK').catch((e) => { broken = e; });
    const [status, body, headers] = mapError(err);
    send(res, status, body, headers);
  } finally {
    db.release(broken); // a connection that could not roll back is discarded, not reused
  }
}

const server = http.createServer((req, res) => {
  const started = Date.now();
  // Only method, path and status are logged: never a header, so never a key or a token.
  res.on('finish', () => console.log(`${req.method} ${req.url.split('?')[0]} ${res.statusCode} ${Date.now() - started}ms`));
  handle(req, res).catch((err) => {
    console.error(`unhandled: ${err.code || ''} ${err.message}`);
    if (!res.headersSent) send(res, 500, { status: 500, code: 'INTERNAL_ERROR', message: 'internal error' });
    else res.destroy();
  });
});
server.headersTimeout = 10000;
server.requestTimeout = 30000;

server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  // Scripts wait for this line and read the port from it (PORT=0 picks a free one).
  console.log(`billium gateway listening on http://127.0.0.1:${server.address().port}`);
});

function shutdown() {
  server.close(() => Promise.all([pool.end(), scannerPool?.end()]).then(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
