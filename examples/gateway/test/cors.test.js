'use strict';
// CORS and the refusal of a secret key sent from a browser (cors.js), over plain HTTP: the
// headers a browser acts on, checked one by one. Started by test/suites/browser.sh:
//   GATEWAY_URL        a gateway with CORS_ALLOWED_ORIGINS=$CORS_EVERYWHERE and a merchant origins
//                      file giving Shop Co (fixtures' merchant) $CORS_SHOP_ORIGIN
//   GATEWAY_ALLOW_URL  a gateway with CORS_ALLOWED_ORIGINS=* and SECRET_KEY_IN_BROWSER=allow
//   GATEWAY_FIXTURES   test/lib/clients.sh's fixtures

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');

const BASE = process.env.GATEWAY_URL;
const ALLOW_BASE = process.env.GATEWAY_ALLOW_URL;
const EVERYWHERE = process.env.CORS_EVERYWHERE;
const SHOP = process.env.CORS_SHOP_ORIGIN;
const STRANGER = 'https://evil.example';
const fx = JSON.parse(fs.readFileSync(process.env.GATEWAY_FIXTURES, 'utf8'));
const M = fx.merchant;
const path = (merchant, rest) => `/api/v1/merchants/merchant/${merchant}${rest}`;

async function call(method, urlPath, { origin, key, body, headers = {}, base = BASE } = {}) {
  const h = { ...headers };
  if (origin !== undefined) h.origin = origin; // node's fetch sends none of its own
  if (key !== undefined) h['x-api-key'] = key;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(base + urlPath, { method, headers: h, body: body && JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const preflight = (urlPath, origin, method, base) => call('OPTIONS', urlPath, { origin, base,
  headers: { 'access-control-request-method': method, 'access-control-request-headers': 'content-type,x-api-key' } });

function noGrant(res) {
  assert.equal(res.headers.get('access-control-allow-origin'), null, 'no CORS grant');
  assert.equal(res.headers.get('access-control-allow-credentials'), null);
}

function granted(res, origin) {
  assert.equal(res.headers.get('access-control-allow-origin'), origin);
  assert.equal(res.headers.get('access-control-allow-credentials'), null, 'never credentials');
  assert.match(res.headers.get('vary') ?? '', /origin/i);
}

// --- preflights -------------------------------------------------------------------------------

test('preflight from a gateway-wide origin: 204 with the path\'s methods and the key headers, no credentials', async () => {
  const res = await preflight(path(M, '/invoices'), EVERYWHERE, 'POST');
  assert.equal(res.status, 204, res.text);
  granted(res, EVERYWHERE);
  assert.equal(res.headers.get('access-control-allow-methods'), 'GET, POST');
  const allowed = res.headers.get('access-control-allow-headers').split(/,\s*/);
  for (const h of ['content-type', 'x-api-key', 'x-request-id']) assert.ok(allowed.includes(h), h);
  assert.ok(!allowed.includes('authorization'), 'dashboard sessions are not for other origins');
  assert.ok(Number(res.headers.get('access-control-max-age')) > 0);
});

test('preflight answers for a path with parameters, with that path\'s methods', async () => {
  const res = await preflight(path(M, `/products/${fx.product}`), EVERYWHERE, 'GET');
  assert.equal(res.status, 204, res.text);
  assert.equal(res.headers.get('access-control-allow-methods'), 'DELETE, GET, PATCH');
});

test('preflight from a merchant\'s own origin: granted for that merchant, refused for another', async () => {
  const mine = await preflight(path(M, '/invoices'), SHOP, 'POST');
  assert.equal(mine.status, 204, mine.text);
  granted(mine, SHOP);
  const other = await preflight(path(fx.other, '/invoices'), SHOP, 'POST');
  assert.equal(other.status, 403, other.text);
  assert.equal(other.json.code, 'CORS_ORIGIN_NOT_ALLOWED');
  noGrant(other);
});

test('preflight from an origin not allowed: 403 CORS_ORIGIN_NOT_ALLOWED and no grant', async () => {
  for (const origin of [STRANGER, 'null', `${EVERYWHERE}.evil.example`, EVERYWHERE.replace('http:', 'https:')]) {
    const res = await preflight(path(M, '/invoices'), origin, 'POST');
    assert.equal(res.status, 403, `${origin}: ${res.text}`);
    assert.equal(res.json.code, 'CORS_ORIGIN_NOT_ALLOWED');
    noGrant(res);
  }
});

test('preflight for a path that is no route: 404 and no grant', async () => {
  const res = await preflight(path(M, '/nothing-here'), EVERYWHERE, 'GET');
  assert.equal(res.status, 404, res.text);
  noGrant(res);
});

// --- requests from a page ----------------------------------------------------------------------------

test('pk key from an allowed origin: the answer carries the grant and exposes x-request-id', async () => {
  const res = await call('GET', path(M, `/products/${fx.product}`), { origin: EVERYWHERE, key: fx.pk });
  assert.equal(res.status, 200, res.text);
  granted(res, EVERYWHERE);
  const exposed = res.headers.get('access-control-expose-headers').split(/,\s*/);
  assert.ok(exposed.includes('x-request-id') && exposed.includes('retry-after'));
  assert.equal(res.headers.get('set-cookie'), null, 'no cookie, ever');
});

test('pk key refused by the catalog from an allowed origin: the page can read the 403 SECRET_KEY_REQUIRED', async () => {
  const res = await call('GET', path(M, '/invoices'), { origin: EVERYWHERE, key: fx.pk });
  assert.equal(res.status, 403, res.text);
  assert.equal(res.json.code, 'SECRET_KEY_REQUIRED');
  granted(res, EVERYWHERE);
});

test('a request from an origin not allowed gets no grant (the browser withholds the answer)', async () => {
  const res = await call('GET', path(M, `/products/${fx.product}`), { origin: STRANGER, key: fx.pk });
  noGrant(res);
  assert.match(res.headers.get('vary') ?? '', /origin/i);
});

// --- secret keys from a browser --------------------------------------------------------------------------

async function invoiceCount() {
  const res = await call('GET', path(M, '/invoices'), { key: fx.sk });
  assert.equal(res.status, 200, res.text);
  return res.json.length;
}

test('sk key with an Origin header: 403 SECRET_KEY_IN_BROWSER naming the action, and nothing written', async () => {
  const before = await invoiceCount();
  const res = await call('POST', path(M, '/invoices'), { origin: EVERYWHERE, key: fx.sk, body: { amount: 100 } });
  assert.equal(res.status, 403, res.text);
  assert.equal(res.json.status, 403);
  assert.equal(res.json.code, 'SECRET_KEY_IN_BROWSER');
  assert.equal(res.json.action, 'invoices.create');
  assert.equal(typeof res.json.message, 'string');
  granted(res, EVERYWHERE); // the page's developer can read why
  assert.equal(await invoiceCount(), before);
});

test('sk key with an Origin header from any origin, even one not allowed, is refused the same way', async () => {
  const res = await call('GET', path(M, '/invoices'), { origin: STRANGER, key: fx.sk });
  assert.equal(res.status, 403, res.text);
  assert.equal(res.json.code, 'SECRET_KEY_IN_BROWSER');
  noGrant(res);
});

test('the refusal is not a leak report: the sk key goes on working from a server', async () => {
  await call('GET', path(M, '/invoices'), { origin: EVERYWHERE, key: fx.sk });
  const res = await call('GET', path(M, '/invoices'), { key: fx.sk });
  assert.equal(res.status, 200, res.text);
});

test('credentials first: an sk_ string that is no key, with an Origin header, gets 401', async () => {
  const fake = `sk_${'0'.repeat(fx.sk.length - 3)}`;
  const res = await call('GET', path(M, '/invoices'), { origin: EVERYWHERE, key: fake });
  assert.equal(res.status, 401, res.text);
  assert.match(res.json.code, /^API_KEY_/);
});

test('an sk key lacking the permission, from a browser: SECRET_KEY_IN_BROWSER comes before PERMISSION_DENIED', async () => {
  const res = await call('POST', path(M, '/invoices'), { origin: EVERYWHERE, key: fx.narrow, body: { amount: 1 } });
  assert.equal(res.status, 403, res.text);
  assert.equal(res.json.code, 'SECRET_KEY_IN_BROWSER');
});

test('a pk key with an Origin header is not refused for being in a browser', async () => {
  const res = await call('POST', path(M, '/invoices'), { origin: EVERYWHERE, key: fx.pk, body: { product_id: fx.product } });
  assert.equal(res.status, 201, res.text);
});

test('SECRET_KEY_IN_BROWSER=allow turns the refusal off; CORS_ALLOWED_ORIGINS=* grants any origin', async () => {
  const res = await call('GET', path(M, '/invoices'), { origin: STRANGER, key: fx.sk, base: ALLOW_BASE });
  assert.equal(res.status, 200, res.text);
  granted(res, STRANGER);
  const pre = await preflight(path(M, '/invoices'), STRANGER, 'GET', ALLOW_BASE);
  assert.equal(pre.status, 204, pre.text);
  granted(pre, STRANGER);
  assert.equal(pre.headers.get('access-control-allow-origin'), STRANGER, 'the origin itself, never *');
});
