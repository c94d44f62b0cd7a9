'use strict';
// billium reference gateway: REST requests in, one SQL transaction each, the database's verdict out.
//
// The gateway decides nothing about who may do what. Per request it opens a transaction as an
// ordinary login role (granted billium_api), presents the caller's key or session token, asks
// billium_authorize(action, merchant) once, runs the request's query under row-level security
// and commits. Refusals come back as the JSON envelope billium put in the error's DETAIL, passed
// to the client with its HTTP status and the request's id added.
//
// Routes: every action of billium.actions, from examples/api/routes.json (routes.js), each run
// by its handler in actions.js; GET /openapi.json describes them (OpenAPI 3.1). The order of
// checks is the credentials (401), the gate (403, 429), then the input (400): nothing of the path
// or the body is looked at before the database has accepted the caller. A known path with
// another method is 405 with Allow.
//
// Every response carries x-request-id (the client's when well-formed, else a new uuid), echoed
// as request_id in error bodies and set as billium.request_id for the transaction, so the audit
// rows it writes lead back to the request. Key requests carry RateLimit-Policy and RateLimit
// (draft-ietf-httpapi-ratelimit-headers-12) from billium's bucket, and Retry-After on 429.
//
// POST /secret-scanning/verify takes GitHub's secret scanning reports (docs/secret-scanning.md):
// the signature is checked here, the tokens are judged and leaked keys revoked by the database,
// over a pool of its own that logs in as a role granted billium_scanner only.
//
// Environment: PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD (read by the pg package);
// PORT (default 8080; 0 picks a free one); for secret scanning, SECRET_SCANNING_KEYS_FILE (GitHub's
// public_keys document, read at each report so that keys rotate without a restart) and
// SCANNER_PGUSER, SCANNER_PGPASSWORD (the route answers 404 unless both the file and the user are
// set); for pages calling it with pk keys, CORS_ALLOWED_ORIGINS, CORS_MERCHANT_ORIGINS_FILE and
// SECRET_KEY_IN_BROWSER (cors.js). Listens on 127.0.0.1 only.

const crypto = require('node:crypto');
const fs = require('node:fs/promises');
const http = require('node:http');
const { Pool } = require('pg');

const { handlers, Reply, UUID } = require('./actions.js');
const routeList = require('./routes.js');
const { createCors } = require('./cors.js');

const MAX_BODY = 64 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// As billium.request_id refuses (src/request.c): sk_ or pk_ and 16 base62 characters, anywhere.
const KEY_FRAGMENT = /[sp]k_[A-Za-z0-9]{16}/;
const RATELIMIT_POLICY = 'billium'; // the policy's name in RateLimit-Policy and RateLimit
// A statement running longer is cancelled (a 500): a stuck lock must not hold a request forever.
const STATEMENT_TIMEOUT_MS = Number(process.env.PG_STATEMENT_TIMEOUT_MS || 10000);
const pool = new Pool({
  max: Number(process.env.PG_POOL_SIZE || 10),
  application_name: 'billium-gateway',
  connectionTimeoutMillis: 5000, // a saturated pool or a down server: a 500, not a hung request
  statement_timeout: STATEMENT_TIMEOUT_MS,
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
  statement_timeout: STATEMENT_TIMEOUT_MS,
}) : null;
scannerPool?.on('error', (err) => console.error(`scanner pool: idle connection lost (${err.code || err.message})`));


// Statuses for errors without an envelope: bad input is the client's; the rest is ours.
function mapError(err) {
  if (err instanceof Reply) return [err.status, JSON.stringify(err.body), {}];
  let envelope;
  try { envelope = JSON.parse(err.detail); } catch { /* not billium's */ }
  if (envelope && Number.isInteger(envelope.status)) {
    const headers = {};
    if (envelope.status === 429 && Number.isFinite(envelope.retry_after_ms)) {
      const wait = Math.max(1, Math.ceil(envelope.retry_after_ms / 1000));
      headers['retry-after'] = String(wait);
      // The reset names the same moment as Retry-After (the draft asks for it).
      headers.ratelimit = `${RATELIMIT_POLICY};r=0;t=${wait}`;
    }
    return [envelope.status, err.detail, headers]; // billium's envelope, byte for byte
  }
  if (err.code === '22P02' || err.code === '22023' || err.code === '22007' || err.code === '22008')
    return [400, JSON.stringify({ status: 400, code: 'INVALID_INPUT', message: err.message }), {}];
  if (err.code === 'P0002') // a key management function's "the API key does not exist"
    return [404, JSON.stringify({ status: 404, code: 'NOT_FOUND', message: err.message }), {}];
  if (err.code === '23505')
    return [409, JSON.stringify({ status: 409, code: 'CONFLICT', message: 'it exists already' }), {}];
  if (err.code === '23503')
    return [400, JSON.stringify({ status: 400, code: 'INVALID_INPUT', message: 'it names something that does not exist' }), {}];
  // A server-owned column or a price a pk key may not choose (billium's triggers), or a row the
  // policies refuse to write: the caller's own request, refused.
  if (err.code === '42501')
    return [403, JSON.stringify({ status: 403, code: 'PERMISSION_DENIED', message: err.message }), {}];
  if (/^2[23]/.test(err.code || ''))
    return [400, JSON.stringify({ status: 400, code: 'INVALID_INPUT', message: 'a value was refused' }), {}];
  // Internals stay in our log (SQLSTATE and message; billium never puts a key in either).
  console.error(`internal error: ${err.code || ''} ${err.message}`);
  return [500, JSON.stringify({ status: 500, code: 'INTERNAL_ERROR', message: 'internal error' }), {}];
}

// An error body gains the request's id; billium's envelope keeps its bytes and gains it last.
function withRequestId(text, requestId) {
  if (!requestId || !text.endsWith('}')) return text;
  return `${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"request_id":${JSON.stringify(requestId)}}`;
}

function send(res, status, body, headers = {}) {
  let text = typeof body === 'string' ? body : JSON.stringify(body);
  if (status >= 400) text = withRequestId(text, res.requestId);
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

// --- the API ----------------------------------------------------------------------------------

// Parsed only after the gate, so a caller without a key learns 401, not that their JSON is bad.
// No body at all is an empty object: the handler says which fields it needs.
function jsonBody(raw) {
  return () => {
    if (!raw) return {};
    let value;
    try { value = JSON.parse(raw); } catch { value = undefined; }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Reply(400, 'INVALID_REQUEST', 'the body must be a JSON object');
    return value;
  };
}

// RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-12) from the bucket the
// key was charged to: the quota is the burst, refilled over the window; r the requests left, t
// the seconds until the bucket is full again.
function rateLimitHeaders(row) {
  if (!row) return {};
  return {
    'ratelimit-policy': `${RATELIMIT_POLICY};q=${row.quota};w=${row.window_seconds}`,
    ratelimit: `${RATELIMIT_POLICY};r=${row.remaining};t=${row.reset_seconds}`,
  };
}

// billium.actions as the OpenAPI document names each action's rule; read once.
let catalog;
async function actionCatalog() {
  if (!catalog) {
    const { rows } = await pool.query('SELECT name, permission, role, secret_only FROM billium.actions');
    catalog = new Map(rows.map((r) => [r.name, r]));
  }
  return catalog;
}

// Browsers: CORS grants and the refusal of a secret key sent from a page (cors.js).
const cors = createCors({
  reply: (status, code, message) => new Reply(status, code, message),
  send: (...args) => send(...args),
  methodsFor: (rest) => routeList.match('OPTIONS', rest)?.allow ?? null, // no route has OPTIONS
});

async function handleApi(req, res, scoped) {
  if (cors.preflight(req, res, scoped.merchantId, scoped.rest)) return;
  cors.grant(req, res, scoped.merchantId);
  const found = routeList.match(req.method, scoped.rest);
  if (!found) return send(res, 404, { status: 404, code: 'NOT_FOUND', message: 'no such route' });
  if (found.allow) {
    return send(res, 405, { status: 405, code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed here` },
      { allow: found.allow.join(', ') });
  }
  const { route, params } = found;
  const run = handlers[route.action];

  const bytes = await readBody(req, MAX_BODY);
  if (bytes === null) return send(res, 413, { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `the body is over ${MAX_BODY} bytes` });
  const raw = bytes.toString('utf8');

  // The credentials go to the database as bind parameters, never into SQL text or our log.
  const apiKey = req.headers['x-api-key'] ?? '';
  const session = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');

  const db = await pool.connect();
  let broken;
  let limits = {};
  try {
    await db.query('BEGIN');
    // For this transaction only (is_local). An empty value means none; both present is refused
    // by the database (PRINCIPAL_CONFLICT), neither by the gate (API_KEY_MISSING).
    await db.query(`SELECT set_config('billium.api_key', $1, true), set_config('billium.session', $2, true),
      set_config('billium.request_id', $3, true)`, [apiKey, session, res.requestId]);
    // 1. The credentials: the key is verified (401) and charged (429) here, the action named in
    //    the envelope; the bucket it drew from gives the RateLimit headers, refusals included.
    const { rows: [bucket] } = await db.query('SELECT * FROM billium.billium_rate_limit_current($1)', [route.action]);
    limits = rateLimitHeaders(bucket);
    // A valid sk key sent from a page (an Origin header): refused before the gate (cors.js).
    const inBrowser = cors.secretKeyInBrowser(req, apiKey, route.action);
    if (inBrowser) throw inBrowser;
    // 2. The gate, on the merchant of the path.  A merchant id that is not a uuid names no
    //    merchant: the gate is asked without one (a missing key is still 401, a key on another
    //    merchant is refused), then the id is 400.
    const merchantId = UUID.test(scoped.merchantId) ? scoped.merchantId : null;
    const { rows: [{ principal }] } = await db.query(
      'SELECT billium.billium_authorize($1, $2) AS principal', [route.action, merchantId]);
    if (merchantId === null) throw new Reply(400, 'INVALID_INPUT', 'merchantId must be a uuid');
    // 3. The input, then the work.
    const payload = await run(db, { m: merchantId, params, body: jsonBody(raw), principal });
    await db.query('COMMIT');
    send(res, route.status, payload, limits);
  } catch (err) {
    // The principal ends with the transaction, so nothing of this caller stays on the connection.
    await db.query('ROLLBACK').catch((e) => { broken = e; });
    const [status, body, headers] = mapError(err);
    send(res, status, body, { ...limits, ...headers });
  } finally {
    db.release(broken); // a connection that could not roll back is discarded, not reused
  }
}

async function handle(req, res) {
  const path = new URL(req.url, 'http://gateway').pathname;
  if (path === SCANNING_PATH && req.method === 'POST' && scannerPool) return handleScanning(req, res);
  if (path === '/openapi.json') {
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { status: 405, code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed here` }, { allow: 'GET, HEAD' });
    return send(res, 200, routeList.openapi(await actionCatalog()), { 'cache-control': 'public, max-age=300' });
  }
  const scoped = routeList.splitPath(path);
  if (!scoped) return send(res, 404, { status: 404, code: 'NOT_FOUND', message: 'no such route' });
  return handleApi(req, res, scoped);
}

const server = http.createServer((req, res) => {
  const started = Date.now();
  const given = req.headers['x-request-id'];
  // A key pasted into the wrong header is not kept: it would reach the log and the audit trail.
  res.requestId = typeof given === 'string' && REQUEST_ID.test(given) && !KEY_FRAGMENT.test(given) ? given : crypto.randomUUID();
  res.setHeader('x-request-id', res.requestId);
  // Only method, path, status and the request id are logged: never a header value but that id,
  // so never a key or a token.
  res.on('finish', () => console.log(`${req.method} ${req.url.split('?')[0]} ${res.statusCode} ${Date.now() - started}ms ${res.requestId}`));
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
