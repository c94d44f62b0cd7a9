'use strict';
// @billium/node against a running gateway. Started by test/suites/sdk_node.sh:
//   GATEWAY_URL                 the gateway
//   GATEWAY_FIXTURES            test/lib/clients.sh's fixtures (merchants, keys, a product)
//   GATEWAY_RATE_LIMIT          "1" when Limited Co has its rate limit (1 request per 5 s, burst 1)
//   CATALOG_ACTIONS             billium.actions' names, comma-separated
//   CATALOG_PUBLIC_ACTIONS      those a pk key may call (NOT secret_only)
// Run: node --test --test-reporter=tap test/

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { Billium, BilliumError, PUBLIC_ACTIONS, ROUTES } = require('..');

const BASE = process.env.GATEWAY_URL;
const fx = JSON.parse(fs.readFileSync(process.env.GATEWAY_FIXTURES, 'utf8'));
const RATE_LIMITER = process.env.GATEWAY_RATE_LIMIT === '1';
const list = (v) => (v ?? '').split(',').filter(Boolean).sort();

const client = (apiKey, more = {}) => new Billium({ apiKey, merchantId: fx.merchant, baseUrl: BASE, ...more });

// A fetch that counts the requests it passes on.
function countingFetch() {
  const f = (...args) => { f.calls++; return fetch(...args); };
  f.calls = 0;
  return f;
}

async function refusal(promise) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof BilliumError, `a BilliumError, not ${err?.name}: ${err?.message}`);
    return err;
  }
  assert.fail('the call succeeded');
}

// --- generated from the one list and the catalog ------------------------------------------------

test('the pk-allowed actions shipped in the SDK are the catalog\'s (billium.actions WHERE NOT secret_only)', () => {
  assert.deepEqual([...PUBLIC_ACTIONS].sort(), list(process.env.CATALOG_PUBLIC_ACTIONS));
});

test('one method per action of the catalog, named as routes.json says', () => {
  assert.deepEqual(ROUTES.map((r) => r.action).sort(), list(process.env.CATALOG_ACTIONS));
  const b = client(fx.sk);
  for (const r of ROUTES) {
    const [resource, method] = r.sdk.split('.');
    assert.equal(typeof b[resource]?.[method], 'function', r.sdk);
  }
  assert.equal(typeof b.invoices.create, 'function');
  assert.equal(typeof b.webhooks.create, 'function');
});

test('the constructor refuses what is not a key or a merchant', () => {
  assert.throws(() => new Billium({ apiKey: 'hunter2', merchantId: fx.merchant }), TypeError);
  assert.throws(() => new Billium({ apiKey: fx.sk }), TypeError);
  assert.throws(() => client(fx.sk, { maxRetries: -1 }), TypeError);
  assert.ok(!JSON.stringify(client(fx.sk)).includes(fx.sk), 'the key is not in the object\'s JSON');
});

// --- calls that succeed --------------------------------------------------------------------------

let invoiceId;

test('sk key: invoices.create, retrieve, list and cancel', async () => {
  const b = client(fx.sk);
  const invoice = await b.invoices.create({ amount: 4200, currency: 'eur', description: 'from the SDK' });
  assert.equal(Number(invoice.amount), 4200);
  assert.equal(invoice.status, 'open');
  invoiceId = invoice.id;
  assert.equal((await b.invoices.retrieve(invoiceId)).description, 'from the SDK');
  assert.ok((await b.invoices.list()).some((i) => i.id === invoiceId));
  assert.equal((await b.invoices.cancel(invoiceId)).status, 'cancelled');
});

test('pk key: invoices.create and retrieve, products.retrieve', async () => {
  const b = client(fx.pk);
  const invoice = await b.invoices.create({ product_id: fx.product }); // a pk key sells a product at its price
  assert.equal(Number(invoice.amount), 2500);
  assert.equal((await b.invoices.retrieve(invoice.id)).id, invoice.id);
  assert.equal((await b.products.retrieve(fx.product)).name, 'T-shirt');
});

// --- refusals ----------------------------------------------------------------------------------------

test('pk key: every method whose action needs a secret key throws SECRET_KEY_REQUIRED without a request', async () => {
  const counting = countingFetch();
  const b = client(fx.pk, { fetch: counting });
  const secret = ROUTES.filter((r) => !PUBLIC_ACTIONS.includes(r.action));
  assert.ok(secret.some((r) => r.action === 'invoices.cancel') && secret.some((r) => r.action === 'webhooks.create'));
  for (const r of secret) {
    const [resource, method] = r.sdk.split('.');
    const args = [...r.params.map(() => '00000000-0000-0000-0000-000000000000'), ...(r.body ? [{}] : [])];
    const err = await refusal(b[resource][method](...args));
    assert.equal(err.status, 403, r.sdk);
    assert.equal(err.code, 'SECRET_KEY_REQUIRED', r.sdk);
    assert.equal(err.action, r.action);
  }
  assert.equal(counting.calls, 0, 'no request went out');
});

test('pk key: the local refusal is the one the server sends (invoices.list, invoices.cancel, webhooks.create)', async () => {
  const prefix = `${BASE}/api/v1/merchants/merchant/${fx.merchant}`;
  const b = client(fx.pk);
  for (const [call, method, path] of [
    [() => b.invoices.list(), 'GET', '/invoices'],
    [() => b.invoices.cancel(invoiceId), 'POST', `/invoices/${invoiceId}/cancel`],
    [() => b.webhooks.create({ url: 'https://example.com/hook' }), 'POST', '/webhooks'],
  ]) {
    const local = await refusal(call());
    const res = await fetch(prefix + path, { method, headers: { 'x-api-key': fx.pk, 'content-type': 'application/json' }, body: method === 'POST' ? '{"url":"https://example.com/hook"}' : undefined });
    const server = await res.json();
    assert.equal(res.status, local.status, path);
    assert.equal(server.code, local.code, path);
    assert.equal(server.message, local.message, path);
    assert.equal(server.action, local.action, path);
  }
});

test('a key without the permission: BilliumError 403 PERMISSION_DENIED with the action and the request id', async () => {
  const err = await refusal(client(fx.narrow).invoices.create({ amount: 1 }, { requestId: 'sdk-test-permission-1' }));
  assert.equal(err.status, 403);
  assert.equal(err.code, 'PERMISSION_DENIED');
  assert.equal(err.action, 'invoices.create');
  assert.equal(err.required, 'invoice:create');
  assert.deepEqual(err.missing, ['invoice:create']);
  assert.equal(err.retryAfterMs, null);
  assert.equal(err.requestId, 'sdk-test-permission-1');
  assert.equal(typeof err.message, 'string');
});

test('another merchant\'s key: 403 MERCHANT_MISMATCH; no such key: 401', async () => {
  const other = await refusal(client(fx.other_sk).invoices.list());
  assert.equal(other.status, 403);
  assert.equal(other.code, 'MERCHANT_MISMATCH');
  const unknown = await refusal(client(`sk_${'0'.repeat(fx.sk.length - 3)}`).invoices.list());
  assert.equal(unknown.status, 401);
  assert.match(unknown.code, /^API_KEY_/);
});

test('an unreachable gateway: BilliumError CONNECTION_ERROR, status 0', async () => {
  const err = await refusal(new Billium({ apiKey: fx.sk, merchantId: fx.merchant, baseUrl: 'http://127.0.0.1:1' }).invoices.list());
  assert.equal(err.status, 0);
  assert.equal(err.code, 'CONNECTION_ERROR');
});

// --- 429 and Retry-After ------------------------------------------------------------------------------

const limited = (more) => new Billium({ apiKey: fx.limited_sk, merchantId: fx.limited, baseUrl: BASE, ...more });

test('429: thrown by default, with retryAfterMs; retried after Retry-After when asked (maxRetries)',
  { todo: RATE_LIMITER ? undefined : 'the rate limiter is not installed' }, async () => {
    const once = limited();
    await once.invoices.list(); // the burst of 1
    const err = await refusal(once.invoices.list());
    assert.equal(err.status, 429);
    assert.equal(err.code, 'RATE_LIMITED');
    assert.ok(err.retryAfterMs > 0 && err.retryAfterMs <= 6000, String(err.retryAfterMs));

    const counting = countingFetch();
    const patient = limited({ maxRetries: 3, fetch: counting });
    const started = Date.now();
    assert.ok(Array.isArray(await patient.invoices.list()));
    assert.ok(counting.calls >= 2, `retried (${counting.calls} requests)`);
    assert.ok(Date.now() - started >= 1000, 'waited for Retry-After before retrying');
  });

test('429 with a wait longer than maxRetryDelayMs is thrown, not waited for',
  { todo: RATE_LIMITER ? undefined : 'the rate limiter is not installed' }, async () => {
    const counting = countingFetch();
    const hasty = limited({ maxRetries: 5, maxRetryDelayMs: 1, fetch: counting });
    await hasty.invoices.list().catch(() => {});
    const err = await refusal(hasty.invoices.list());
    assert.equal(err.status, 429);
    assert.ok(counting.calls <= 2, `no retry (${counting.calls} requests)`);
  });
