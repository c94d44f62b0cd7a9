'use strict';
// The HTTP conformance suite (issue 14): every action of billium.actions, over real HTTP, against
// the running gateway. Started by test/suites/gateway.sh after test/gateway.test.js, with:
//   GATEWAY_URL, GATEWAY_FIXTURES       as for gateway.test.js (the strict merchant, its member
//                                       without 2FA, the owner, a full sk key of Gateway Co)
//   CONFORMANCE_PGUSER                  a superuser of the cluster (PGHOST, PGPORT, PGDATABASE as
//                                       the gateway's): opens a fresh merchant per action and
//                                       reads the audit trail; every call under test is HTTP.
//
// Per action, on a merchant of its own (owned by the fixtures' owner, whose dashboard session
// mints every key over HTTP with POST .../api-keys):
//   - a key holding exactly what the request needs succeeds with the documented status and body
//     (the gate's permission; for a request that finds a stored row by id, also the domain's view:
//     PostgreSQL applies SELECT policies to an UPDATE or DELETE that names a row);
//   - the same grant without the gate's permission: 403 PERMISSION_DENIED naming it, nothing changed;
//   - a pk key: success where the catalog lets one in, else 403 SECRET_KEY_REQUIRED;
//   - no key: 401, naming the action; another merchant's key: 403 MERCHANT_MISMATCH;
//   - a dashboard session missing a factor the merchant enforces: 403 with missing.
// Run: node --test --test-reporter=tap test/conformance.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { Client } = require('pg');
const { signSession } = require('../sign-session.js');
const { spec } = require('../routes.js');

const BASE = process.env.GATEWAY_URL;
const fx = JSON.parse(fs.readFileSync(process.env.GATEWAY_FIXTURES, 'utf8'));
const OWNER = signSession(fx.owner, fx.jwt_secret, 3600);
const PK_PERMISSIONS = ['invoice:create', 'invoice:view', 'product:view'];
const VIEWER_CAP = ['merchant:view', 'invoice:view', 'product:view', 'customer:view', 'team:view',
  'api_key:view', 'webhook:view', 'checkout:view', 'wallet:view', 'report:view'];

const prefix = (merchant) => spec.prefix.replace('{merchantId}', merchant);

async function call(method, urlPath, { key, bearer, body, headers = {} } = {}) {
  const h = { ...headers };
  if (key !== undefined) h['x-api-key'] = key;
  if (bearer !== undefined) h.authorization = `Bearer ${bearer}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(BASE + urlPath, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const owner = (method, merchant, rest, body) => call(method, prefix(merchant) + rest, { bearer: OWNER, body });

async function ownerOk(method, merchant, rest, body) {
  const res = await owner(method, merchant, rest, body);
  assert.ok(res.status < 300, `owner ${method} ${rest}: ${res.status} ${res.text}`);
  return res.json;
}

// --- the database, as a superuser: merchants to test on, users to invite, the audit trail ------

let admin;
let catalog; // name -> { permission, role, secret_only }

test.before(async () => {
  admin = new Client({ user: process.env.CONFORMANCE_PGUSER });
  await admin.connect();
  const { rows } = await admin.query('SELECT name, permission, role, secret_only FROM billium.actions');
  catalog = new Map(rows.map((r) => [r.name, r]));
});
test.after(() => admin?.end());

async function freshMerchant(label) {
  const { rows } = await admin.query(`SELECT merchant_id FROM billium.billium_test_merchant($1, 'owner@gateway.test')`,
    [`Conformance ${label}`]);
  return rows[0].merchant_id;
}

async function freshUser() {
  await admin.query('SET ROLE billium_provisioner');
  try {
    const { rows } = await admin.query('SELECT billium.billium_provision_user($1) AS id', [`${crypto.randomUUID()}@conformance.test`]);
    return rows[0].id;
  } finally {
    await admin.query('RESET ROLE');
  }
}

// A key of the merchant, minted by its owner over HTTP.
async function mint(merchant, permissions, type = 'sk') {
  const res = await owner('POST', merchant, '/api-keys', { type, name: `conformance ${permissions.join(' ')}`, permissions });
  assert.equal(res.status, 201, res.text);
  return res.json.secret;
}

// --- per action: what to act on, and what success looks like ------------------------------------

const CREATES = {
  invoices: { amount: 1500, currency: 'usd', description: 'conformance' },
  products: { name: 'Mug', price: 900 },
  customers: { name: 'Ada', email: 'ada@example.test' },
  wallets: { address: 'bc1qconformance', currency: 'btc' },
  webhooks: { url: 'https://example.test/hook', events: ['invoice.paid'] },
};
const UPDATES = {
  invoices: { description: 'changed' },
  products: { name: 'Big mug' },
  customers: { name: 'Ada L.' },
  wallets: { address: 'bc1qchanged' },
  webhooks: { url: 'https://example.test/changed' },
};
const VIEW = { invoices: 'invoice:view', products: 'product:view', customers: 'customer:view',
  wallets: 'wallet:view', webhooks: 'webhook:view' };
const ID = { invoices: 'invoiceId', products: 'productId', customers: 'customerId', wallets: 'walletId', webhooks: 'webhookId' };

// plan(merchant) -> { params, body, check(json), state() (what a refused write must leave as it
// was), also (permissions the request needs besides the gate's) }.
const plans = {
  'merchants.retrieve': async (m) => ({ check: (j) => assert.equal(j.id, m) }),
  'merchants.update': async (m) => ({
    body: { name: 'Renamed Co' }, also: ['merchant:view'],
    check: (j) => assert.equal(j.name, 'Renamed Co'),
    state: async () => (await ownerOk('GET', m, '')).name,
  }),
  'merchants.delete': async (m) => ({
    also: ['merchant:view'], check: (j) => assert.deepEqual(j, { id: m, deleted: true }),
    state: async () => (await owner('GET', m, '')).status,
  }),
  'billing.retrieve': async (m) => ({ check: (j) => assert.equal(j.merchant_id, m) }),
  'billing.update': async (m) => ({
    body: { plan: 'pro' }, check: (j) => assert.equal(j.plan, 'pro'),
    state: async () => (await ownerOk('GET', m, '/billing')).plan,
  }),
  'checkout.retrieve': async (m) => ({ check: (j) => assert.equal(j.merchant_id, m) }),
  'checkout.update': async (m) => ({
    body: { settings: { theme: 'dark' } }, also: ['checkout:view'],
    check: (j) => assert.deepEqual(j.settings, { theme: 'dark' }),
    state: async () => JSON.stringify((await ownerOk('GET', m, '/checkout-settings')).settings),
  }),
  'reports.list': async () => ({ check: (j) => assert.ok(j.some((r) => r.id === 'invoice_totals'), JSON.stringify(j)) }),
  'reports.retrieve': async (m) => {
    await ownerOk('POST', m, '/invoices', { amount: 700 });
    return {
      params: { reportId: 'invoice_totals' },
      check: (j) => assert.deepEqual(j.rows, [{ currency: 'usd', status: 'open', count: '1', sum: '700' }]),
    };
  },
  'team.list': async () => ({ check: (j) => assert.deepEqual(j.map((t) => t.role), ['OWNER']) }),
  'team.retrieve': async () => ({ params: { userId: fx.owner }, check: (j) => assert.equal(j.role, 'OWNER') }),
  // Nobody grants above their own: a key inviting a VIEWER holds the VIEWER's cap itself.
  'team.invite': async (m) => {
    const user = await freshUser();
    return {
      body: { user_id: user, role: 'VIEWER' }, also: VIEWER_CAP,
      check: (j) => assert.deepEqual([j.user_id, j.role], [user, 'VIEWER']),
      state: async () => (await ownerOk('GET', m, '/team')).length,
    };
  },
  'team.update_role': async (m) => {
    const user = await freshUser();
    await ownerOk('POST', m, '/team', { user_id: user, role: 'VIEWER' });
    return {
      params: { userId: user }, body: { permissions: ['invoice:view'] }, also: VIEWER_CAP,
      check: (j) => assert.deepEqual(j.permissions, ['invoice:view']),
      state: async () => JSON.stringify((await ownerOk('GET', m, `/team/${user}`)).permissions),
    };
  },
  'team.remove': async (m) => {
    const user = await freshUser();
    await ownerOk('POST', m, '/team', { user_id: user, role: 'VIEWER' });
    return {
      params: { userId: user }, also: ['team:view'],
      check: (j) => assert.deepEqual(j, { id: user, deleted: true }),
      state: async () => (await owner('GET', m, `/team/${user}`)).status,
    };
  },
  'api_keys.list': async () => ({ check: (j) => assert.ok(Array.isArray(j) && j.length >= 1) }),
  'api_keys.retrieve': async (m) => {
    const made = await ownerOk('POST', m, '/api-keys', { type: 'sk', name: 'target', permissions: ['invoice:view'] });
    return { params: { keyId: made.id }, check: (j) => assert.deepEqual([j.id, j.name, j.type], [made.id, 'target', 'sk']) };
  },
  'api_keys.create': async (m) => ({
    body: { type: 'sk', name: 'minted', permissions: ['api_key:create'] },
    check: (j, res) => {
      assert.match(j.secret, /^sk_/);
      assert.equal(j.hint, `sk_...${j.secret.slice(-4)}`);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    },
    state: async () => (await ownerOk('GET', m, '/api-keys')).length,
  }),
  'api_keys.update': async (m) => {
    const made = await ownerOk('POST', m, '/api-keys', { type: 'sk', name: 'target', permissions: ['invoice:view'] });
    return {
      params: { keyId: made.id }, body: { name: 'renamed' }, also: ['api_key:view'],
      check: (j) => assert.equal(j.name, 'renamed'),
      state: async () => (await ownerOk('GET', m, `/api-keys/${made.id}`)).name,
    };
  },
  // The replacement's grant may not exceed the caller's own (issue 12): the target holds what the
  // rolling key holds.
  'api_keys.roll': async (m) => {
    const made = await ownerOk('POST', m, '/api-keys', { type: 'sk', name: 'target', permissions: ['api_key:view'] });
    return {
      params: { keyId: made.id }, body: { grace_seconds: 60 },
      check: (j) => { assert.match(j.secret, /^sk_/); assert.notEqual(j.id, made.id); },
      state: async () => (await ownerOk('GET', m, `/api-keys/${made.id}`)).expires_at,
    };
  },
  'api_keys.revoke': async (m) => {
    const made = await ownerOk('POST', m, '/api-keys', { type: 'sk', name: 'target', permissions: ['invoice:view'] });
    return {
      params: { keyId: made.id }, also: ['api_key:view'],
      check: (j) => assert.ok(j.revoked_at),
      state: async () => (await ownerOk('GET', m, `/api-keys/${made.id}`)).revoked_at,
    };
  },
  'team.transfer_ownership': async (m) => {
    const user = await freshUser();
    await ownerOk('POST', m, '/team', { user_id: user, role: 'MEMBER' });
    return {
      params: { userId: user },
      state: async () => (await ownerOk('GET', m, `/team/${user}`)).role,
    };
  },
  'invoices.cancel': async (m) => {
    const made = await ownerOk('POST', m, '/invoices', CREATES.invoices);
    return {
      params: { invoiceId: made.id }, also: ['invoice:view'],
      check: (j) => assert.equal(j.status, 'cancelled'),
      state: async () => (await ownerOk('GET', m, `/invoices/${made.id}`)).status,
    };
  },
};

for (const resource of Object.keys(CREATES)) {
  const idName = ID[resource];
  const made = (m) => ownerOk('POST', m, `/${resource}`, CREATES[resource]);
  plans[`${resource}.list`] = async (m) => {
    const row = await made(m);
    return { check: (j) => assert.deepEqual(j.map((r) => r.id), [row.id]) };
  };
  plans[`${resource}.create`] = async (m) => ({
    body: CREATES[resource],
    check: (j) => { assert.equal(j.merchant_id, m); for (const [k, v] of Object.entries(CREATES[resource])) assert.deepEqual(String(j[k]), String(v)); },
    state: async () => (await ownerOk('GET', m, `/${resource}`)).length,
  });
  plans[`${resource}.retrieve`] = async (m) => {
    const row = await made(m);
    return { params: { [idName]: row.id }, check: (j) => assert.equal(j.id, row.id) };
  };
  plans[`${resource}.update`] = async (m) => {
    const row = await made(m);
    const [[field, value]] = Object.entries(UPDATES[resource]);
    return {
      params: { [idName]: row.id }, body: UPDATES[resource], also: [VIEW[resource]],
      check: (j) => assert.equal(j[field], value),
      state: async () => (await ownerOk('GET', m, `/${resource}/${row.id}`))[field],
    };
  };
  plans[`${resource}.delete`] = async (m) => {
    const row = await made(m);
    return {
      params: { [idName]: row.id }, also: [VIEW[resource]],
      check: (j) => assert.deepEqual(j, { id: row.id, deleted: true }),
      state: async () => (await owner('GET', m, `/${resource}/${row.id}`)).status,
    };
  };
}

const fill = (template, params = {}) => template.replace(/\{(\w+)\}/g, (_, n) => params[n] ?? crypto.randomUUID());

// --- the list itself ------------------------------------------------------------------------------

test('every action of billium.actions has exactly one route, and every route one action', () => {
  const routed = spec.routes.map((r) => r.action);
  assert.deepEqual([...routed].sort(), [...catalog.keys()].sort());
  assert.equal(new Set(routed).size, routed.length, 'an action routed twice');
  const seen = new Set(spec.routes.map((r) => `${r.method} ${r.path}`));
  assert.equal(seen.size, spec.routes.length, 'a method and path given to two actions');
  assert.deepEqual(Object.keys(plans).sort(), [...catalog.keys()].sort(), 'this suite plans every action');
});

test('GET /openapi.json: OpenAPI 3.1, one operation per route, each naming its action and rule', async () => {
  const res = await call('GET', '/openapi.json');
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.openapi, '3.1.0');
  const ops = Object.entries(res.json.paths).flatMap(([p, item]) =>
    Object.entries(item).filter(([k]) => k !== 'parameters').map(([method, op]) => ({ p, method, op })));
  assert.equal(ops.length, spec.routes.length);
  for (const r of spec.routes) {
    const op = res.json.paths[spec.prefix + r.path][r.method.toLowerCase()];
    assert.equal(op.operationId, r.action);
    const rule = catalog.get(r.action);
    assert.equal(op['x-billium-permission'], rule.permission ?? undefined);
    assert.equal(op['x-billium-public-key'], !rule.secret_only);
    assert.ok(op.responses[String(r.status)], `${r.action}: its status`);
  }
  assert.equal((await call('POST', '/openapi.json')).status, 405);
});

// --- the order of checks, 405, request ids -------------------------------------------------------

test('nothing is validated before the credentials: a bad merchant id, a bad id, a bad body are 401 without a key', async () => {
  for (const [method, p, body] of [['GET', `${prefix('not-a-uuid')}/invoices`], ['GET', `${prefix(fx.merchant)}/invoices/42`],
    ['POST', `${prefix('x')}/invoices`, { amount: -1 }], ['PATCH', `${prefix(fx.merchant)}/team/nope`, { role: 'KING' }]]) {
    const res = await call(method, p, { body });
    assert.equal(res.status, 401, `${method} ${p}: ${res.text}`);
    assert.equal(res.json.code, 'API_KEY_MISSING');
  }
  // With a key: the bad merchant id is 400 after the key is accepted; a bad key is 401 first.
  assert.equal((await call('GET', `${prefix('not-a-uuid')}/invoices`, { key: fx.sk })).status, 400);
  assert.equal((await call('GET', `${prefix('not-a-uuid')}/invoices`, { key: 'sk_bad' })).status, 401);
});

test('a known path with a method it lacks is 405 with Allow', async () => {
  const res = await call('DELETE', `${prefix(fx.merchant)}/invoices`, { key: fx.sk });
  assert.equal(res.status, 405, res.text);
  assert.equal(res.headers.get('allow'), 'GET, POST');
  assert.equal(res.json.code, 'METHOD_NOT_ALLOWED');
  const other = await call('PUT', `${prefix(fx.merchant)}/api-keys/${crypto.randomUUID()}`);
  assert.equal(other.status, 405);
  assert.equal(other.headers.get('allow'), 'GET, PATCH');
});

test('x-request-id: a well-formed one is kept, another replaced; echoed in error bodies; written with the audit rows', async () => {
  const kept = await call('GET', `${prefix(fx.merchant)}/invoices`, { headers: { 'x-request-id': 'req-conformance.1' } });
  assert.equal(kept.headers.get('x-request-id'), 'req-conformance.1');
  assert.equal(kept.json.request_id, 'req-conformance.1');
  const replaced = await call('GET', `${prefix(fx.merchant)}/invoices`, { headers: { 'x-request-id': 'bad id; drop' } });
  assert.match(replaced.headers.get('x-request-id'), /^[0-9a-f-]{36}$/);
  assert.equal(replaced.json.request_id, replaced.headers.get('x-request-id'));
  const keyShaped = await call('GET', `${prefix(fx.merchant)}/invoices`, { headers: { 'x-request-id': fx.sk } });
  assert.notEqual(keyShaped.headers.get('x-request-id'), fx.sk, 'a key sent as a request id is not kept');
  // A key behind a prefix, as billium.request_id refuses it: replaced, never echoed, logged or stored.
  const prefixed = await call('GET', `${prefix(fx.merchant)}/invoices`, { headers: { 'x-request-id': `x-${fx.sk}` } });
  assert.match(prefixed.headers.get('x-request-id'), /^[0-9a-f-]{36}$/, 'a key behind a prefix is not kept');
  assert.equal(prefixed.status, keyShaped.status, 'and the request is served as with no request id');
  assert.ok(!keyShaped.text.includes(fx.sk));
  const ok = await call('GET', `${prefix(fx.merchant)}/invoices`, { key: fx.sk });
  assert.match(ok.headers.get('x-request-id'), /^[0-9a-f-]{36}$/);
  // A key made over HTTP: its audit row carries the request's id.
  const m = await freshMerchant('request id');
  const made = await call('POST', `${prefix(m)}/api-keys`, { bearer: OWNER, headers: { 'x-request-id': 'req-audit-42' },
    body: { type: 'sk', name: 'audited', permissions: ['invoice:view'] } });
  assert.equal(made.status, 201, made.text);
  const { rows } = await admin.query(`SELECT action, request_id FROM billium.audit_log WHERE merchant_id = $1
    AND action = 'api_keys.create' AND after->>'id' = $2`, [m, made.json.id]);
  assert.deepEqual(rows, [{ action: 'api_keys.create', request_id: 'req-audit-42' }]);
});

// --- every action --------------------------------------------------------------------------------

// A grant that writes in a domain holds the domain's view too (issue 12, decision 3: billium
// refuses a key without it), but for the create-like permissions.
const viewFor = (permission) => {
  const [domain, verb] = permission.split(':');
  return verb === 'view' || verb === 'create' || permission === 'team:invite' ? [] : [`${domain}:view`];
};
// What a key needs for this plan: the gate's permission, the view its grant must hold, and the
// plan's extras (never the role rule).
const needs = (rule, plan) => [...new Set([rule.permission, ...viewFor(rule.permission), ...(plan.also ?? [])])];
const without = (rule, plan) => needs(rule, plan).filter((p) => p !== rule.permission);
const ALL = ['*'];

for (const route of spec.routes) {
  const { action } = route;
  test(`${action}: ${route.method} ${route.path || '/'}`, async (t) => {
    const rule = catalog.get(action);
    const url = (m, plan) => prefix(m) + fill(route.path, plan.params);
    const send = (m, plan, auth) => call(route.method, url(m, plan), { ...auth, body: plan.body });

    await t.test('no key: 401 API_KEY_MISSING naming the action', async () => {
      const m = await freshMerchant(action);
      const res = await send(m, await plans[action](m), {});
      assert.equal(res.status, 401, res.text);
      assert.equal(res.json.code, 'API_KEY_MISSING');
      assert.equal(res.json.action, action);
    });

    await t.test('another merchant\'s key: 403 MERCHANT_MISMATCH', async () => {
      const m = await freshMerchant(action);
      const res = await send(m, await plans[action](m), { key: fx.sk });
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.code, 'MERCHANT_MISMATCH');
    });

    await t.test('a session missing a factor the merchant enforces: 403 with missing', async () => {
      const res = await send(fx.strict, { params: {}, body: (await plans[action](await freshMerchant(action))).body },
        { bearer: signSession(fx.member, fx.jwt_secret) });
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.code, 'SECURITY_REQUIREMENT_NOT_MET');
      assert.deepEqual(res.json.missing, ['tfa']);
    });

    if (rule.role) {
      // Ruled by a role: no key may, a member with another role may not, the OWNER may.
      await t.test(`an sk key holding every permission: 403 naming the role ${rule.role}`, async () => {
        const m = await freshMerchant(action);
        const plan = await plans[action](m);
        const key = await mint(m, ALL);
        const before = plan.state && await plan.state();
        const res = await send(m, plan, { key });
        assert.equal(res.status, 403, res.text);
        assert.equal(res.json.required_role, rule.role);
        if (plan.state) assert.deepEqual(await plan.state(), before);
      });
      return;
    }

    await t.test(`a key holding exactly ${rule.permission} (and what finding the row needs): ${route.status}`, async () => {
      const m = await freshMerchant(action);
      const plan = await plans[action](m);
      const res = await send(m, plan, { key: await mint(m, needs(rule, plan)) });
      assert.equal(res.status, route.status, res.text);
      await plan.check(res.json, res);
    });

    await t.test(`the same key without ${rule.permission}: 403 PERMISSION_DENIED naming it, nothing changed`, async () => {
      const m = await freshMerchant(action);
      const plan = await plans[action](m);
      const rest = without(rule, plan);
      // A key needs some permission: one the action does not ask for.
      const other = rule.permission === 'report:view' ? 'merchant:view' : 'report:view';
      const key = await mint(m, rest.length ? rest : [other]);
      const before = plan.state && await plan.state();
      const res = await send(m, plan, { key });
      assert.equal(res.status, 403, res.text);
      assert.equal(res.json.code, 'PERMISSION_DENIED');
      assert.equal(res.json.required, rule.permission);
      if (plan.state) assert.deepEqual(await plan.state(), before);
    });

    if (rule.secret_only) {
      await t.test('a pk key: 403 SECRET_KEY_REQUIRED, nothing changed', async () => {
        const m = await freshMerchant(action);
        const plan = await plans[action](m);
        const key = await mint(m, PK_PERMISSIONS, 'pk');
        const before = plan.state && await plan.state();
        const res = await send(m, plan, { key });
        assert.equal(res.status, 403, res.text);
        assert.equal(res.json.code, 'SECRET_KEY_REQUIRED');
        if (plan.state) assert.deepEqual(await plan.state(), before);
      });
    } else {
      await t.test(`a pk key: ${route.status}, as the catalog allows`, async () => {
        const m = await freshMerchant(action);
        const pk = await mint(m, PK_PERMISSIONS, 'pk');
        let plan = await plans[action](m);
        // A pk key sells a product at its price (issue 12), and sees only the invoices it created
        // (row-level security).
        const product = action.startsWith('invoices.') ? await ownerOk('POST', m, '/products', CREATES.products) : null;
        if (action === 'invoices.create') {
          plan = { body: { product_id: product.id },
            check: (j) => assert.deepEqual([j.product_id, String(j.amount)], [product.id, String(product.price)]) };
        }
        if (action === 'invoices.retrieve') {
          const mine = await call('POST', `${prefix(m)}/invoices`, { key: pk, body: { product_id: product.id } });
          assert.equal(mine.status, 201, mine.text);
          plan = { params: { invoiceId: mine.json.id }, check: (j) => assert.equal(j.id, mine.json.id) };
        }
        const res = await send(m, plan, { key: pk });
        assert.equal(res.status, route.status, res.text);
        await plan.check(res.json, res);
      });
    }
  });
}

// The write-only key of the spec's example (a build server): it reads back what it created.
test('an sk key holding only invoice:create creates an invoice: 201 with the invoice', async () => {
  const m = await freshMerchant('create only');
  const res = await call('POST', `${prefix(m)}/invoices`, { key: await mint(m, ['invoice:create']), body: { amount: 4200 } });
  assert.equal(res.status, 201, res.text);
  assert.deepEqual([res.json.merchant_id, String(res.json.amount), res.json.status], [m, '4200', 'open']);
  assert.match(res.json.id, /^[0-9a-f-]{36}$/);
});

// The role rule, with sessions.
test('team.transfer_ownership: an ADMIN\'s session is refused naming the role; the OWNER\'s hands the merchant on', async () => {
  const m = await freshMerchant('transfer');
  const admin1 = await freshUser();
  await ownerOk('POST', m, '/team', { user_id: admin1, role: 'ADMIN' });
  const other = await freshUser();
  await ownerOk('POST', m, '/team', { user_id: other, role: 'MEMBER' });
  const refused = await call('POST', `${prefix(m)}/team/${other}/transfer-ownership`, { bearer: signSession(admin1, fx.jwt_secret) });
  assert.equal(refused.status, 403, refused.text);
  assert.equal(refused.json.required_role, 'OWNER');
  assert.equal((await ownerOk('GET', m, `/team/${other}`)).role, 'MEMBER');
  const res = await owner('POST', m, `/team/${admin1}/transfer-ownership`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.role, 'OWNER');
  assert.equal((await ownerOk('GET', m, `/team/${fx.owner}`)).role, 'ADMIN');
});
