'use strict';
// What each action of billium.actions does, inside the request's transaction, after the gate has
// let it through: run(db, { m, params, body, principal }) gives the response's payload.  The
// input is validated here, after the credentials and the gate (a caller without a key learns
// 401, not that its JSON is bad).  Row-level security still applies to every statement: a row
// the caller may not see is a 404, whatever the gate said.

// A reply decided by the gateway itself (bad input, no such row), raised inside a transaction.
class Reply extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.body = { status, code, message, ...extra };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CURRENCY = /^[a-z]{3}$/;
const PERMISSION = /^[a-z_]+:[a-z_]+$/;

const INVOICE = 'id, merchant_id, product_id, amount, currency, status, description, created_at';
const PRODUCT = 'id, merchant_id, name, price, currency, created_at';
const CUSTOMER = 'id, merchant_id, name, email, created_at';
const WALLET = 'id, merchant_id, currency, address, created_at';
const WEBHOOK = 'id, merchant_id, url, events, created_at';
const MERCHANT = `id, name, enforce_tfa, enforce_passkey, enforce_google_login, enforce_github_login,
  enforce_email_verified, created_at`;
const MEMBER = `t.user_id, u.email, t.role, billium.billium_permset_names(t.permissions) AS permissions, t.created_at`;
const API_KEY = `id, merchant_id, key_type AS type, name, hint, billium.billium_permset_names(permissions) AS permissions,
  created_by, created_by_key, created_at, expires_at, revoked_at, leaked_at IS NOT NULL AS leaked`;

const invalid = (message) => new Reply(400, 'INVALID_REQUEST', message);

async function one(db, sql, params, what) {
  const { rows } = await db.query(sql, params);
  // No row: it does not exist, or row-level security hides it (a pk key sees only its own
  // invoices). The two look the same on purpose.
  if (rows.length === 0) throw new Reply(404, 'NOT_FOUND', `no such ${what}`);
  return rows[0];
}

const list = async (db, sql, params) => (await db.query(sql, params)).rows;

function id(params, name) {
  const value = params[name];
  if (!UUID.test(value)) throw new Reply(400, 'INVALID_INPUT', `${name} must be a uuid`);
  return value;
}

// Checks a JSON object against allowed fields: { field: check(value) -> error message or null }.
// Unknown fields are refused, so a typo is not silently ignored; required names must be present.
function fields(b, allowed, required = []) {
  for (const k of Object.keys(b))
    if (!(k in allowed)) throw invalid(`unknown field ${k}`);
  for (const k of required)
    if (b[k] === undefined) throw invalid(`${k} is required`);
  for (const [k, check] of Object.entries(allowed)) {
    if (b[k] === undefined) continue;
    const problem = check(b[k]);
    if (problem) throw invalid(`${k} ${problem}`);
  }
  return b;
}

const str = (min, max) => (v) => (typeof v === 'string' && v.length >= min && v.length <= max ? null
  : `must be a string of ${min} to ${max} characters`);
const money = (v) => (Number.isSafeInteger(v) && v >= 0 ? null : 'must be a non-negative integer (minor units)');
const currency = (v) => (typeof v === 'string' && CURRENCY.test(v) ? null : 'must be three lowercase letters');
const bool = (v) => (typeof v === 'boolean' ? null : 'must be true or false');
const url = (v) => (typeof v === 'string' && v.length <= 2048 && /^https?:\/\/[^\s]+$/.test(v) ? null : 'must be an http(s) URL');
const strings = (v) => (Array.isArray(v) && v.length <= 100 && v.every((e) => typeof e === 'string' && e.length <= 200) ? null
  : 'must be an array of strings');
const permissions = (v) => (Array.isArray(v) && v.length <= 64 && v.every((p) => typeof p === 'string' && (PERMISSION.test(p) || p === '*')) ? null
  : 'must be an array of permission names (domain:verb)');
const role = (v) => (['ADMIN', 'MEMBER', 'VIEWER'].includes(v) ? null : 'must be ADMIN, MEMBER or VIEWER');
const object = (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? null : 'must be a JSON object');
const timestamp = (v) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? null : 'must be an ISO 8601 timestamp');
const seconds = (v) => (Number.isSafeInteger(v) && v >= 0 ? null : 'must be a non-negative integer');

// SET a = $n, b = $n+1 ... for the fields present; null when none is.
function assignments(b, columns, first) {
  const names = columns.filter((c) => b[c] !== undefined);
  if (names.length === 0) throw invalid('nothing to change');
  return { sql: names.map((c, i) => `${c} = $${first + i}`).join(', '), values: names.map((c) => b[c]) };
}

const deleted = (row) => ({ id: row.id, deleted: true });

// The five resources with list, create, retrieve, update and delete over one table each.
function crud(resource, table, columns, what, { create, update, required = [] }) {
  const idName = `${what}Id`;
  return {
    [`${resource}.list`]: (db, { m }) =>
      list(db, `SELECT ${columns} FROM billium.${table} WHERE merchant_id = $1 ORDER BY created_at, id LIMIT 100`, [m]),
    [`${resource}.create`]: (db, { m, body }) => {
      const b = fields(body(), create, required);
      if (resource === 'invoices' && b.amount === undefined && b.product_id === undefined)
        throw invalid('give a product_id or an amount');
      const names = Object.keys(create).filter((c) => b[c] !== undefined);
      return one(db, `INSERT INTO billium.${table} (merchant_id${names.map((c) => `, ${c}`).join('')})
        VALUES ($1${names.map((_, i) => `, $${i + 2}`).join('')}) RETURNING ${columns}`,
      [m, ...names.map((c) => b[c])], what);
    },
    [`${resource}.retrieve`]: (db, { m, params }) =>
      one(db, `SELECT ${columns} FROM billium.${table} WHERE merchant_id = $1 AND id = $2`, [m, id(params, idName)], what),
    [`${resource}.update`]: (db, { m, params, body }) => {
      const target = id(params, idName);
      const set = assignments(fields(body(), update), Object.keys(update), 3);
      return one(db, `UPDATE billium.${table} SET ${set.sql} WHERE merchant_id = $1 AND id = $2 RETURNING ${columns}`,
        [m, target, ...set.values], what);
    },
    [`${resource}.delete`]: async (db, { m, params }) =>
      deleted(await one(db, `DELETE FROM billium.${table} WHERE merchant_id = $1 AND id = $2 RETURNING id`,
        [m, id(params, idName)], what)),
  };
}

// A key as the dashboard lists it: never its hash, its plaintext only when just made.
async function apiKey(db, m, keyId) {
  return one(db, `SELECT ${API_KEY} FROM billium.api_keys WHERE merchant_id = $1 AND id = $2`, [m, keyId], 'API key');
}

// The key's merchant as billium_key_merchant sees it: another merchant's key, or one the caller
// has no permission on, is no key at all.
async function ownKey(db, m, params) {
  const keyId = id(params, 'keyId');
  const { rows } = await db.query('SELECT billium.billium_key_merchant($1) AS merchant', [keyId]);
  if (rows[0].merchant !== m) throw new Reply(404, 'NOT_FOUND', 'no such API key');
  return keyId;
}

// The key just made: the row when the caller may read keys (api_key:view), else what it asked
// for; the plaintext once, as secret.
async function madeKey(db, m, made, asked) {
  const { rows } = await db.query(`SELECT ${API_KEY} FROM billium.api_keys WHERE merchant_id = $1 AND id = $2`, [m, made.id]);
  const key = rows[0] ?? { id: made.id, merchant_id: m, ...asked, hint: `${made.api_key.slice(0, 3)}...${made.api_key.slice(-4)}` };
  return { ...key, secret: made.api_key };
}

const handlers = {
  'merchants.retrieve': (db, { m }) => one(db, `SELECT ${MERCHANT} FROM billium.merchants WHERE id = $1`, [m], 'merchant'),
  'merchants.update': (db, { m, body }) => {
    const allowed = { name: str(1, 200), enforce_tfa: bool, enforce_passkey: bool, enforce_google_login: bool,
      enforce_github_login: bool, enforce_email_verified: bool };
    const set = assignments(fields(body(), allowed), Object.keys(allowed), 2);
    return one(db, `UPDATE billium.merchants SET ${set.sql} WHERE id = $1 RETURNING ${MERCHANT}`, [m, ...set.values], 'merchant');
  },
  'merchants.delete': async (db, { m }) =>
    deleted(await one(db, 'DELETE FROM billium.merchants WHERE id = $1 RETURNING id', [m], 'merchant')),

  // One row per merchant, made on first update; until then the table's defaults.
  'billing.retrieve': async (db, { m }) => {
    const { rows } = await db.query('SELECT merchant_id, plan, billing_email FROM billium.merchant_billing WHERE merchant_id = $1', [m]);
    return rows[0] ?? { merchant_id: m, plan: 'free', billing_email: '' };
  },
  'billing.update': (db, { m, body }) => {
    const b = fields(body(), { plan: str(1, 100), billing_email: str(0, 320) });
    if (b.plan === undefined && b.billing_email === undefined) throw invalid('nothing to change');
    return one(db, `INSERT INTO billium.merchant_billing AS b (merchant_id, plan, billing_email)
      VALUES ($1, coalesce($2, 'free'), coalesce($3, '')) ON CONFLICT (merchant_id) DO UPDATE
      SET plan = coalesce($2, b.plan), billing_email = coalesce($3, b.billing_email)
      RETURNING merchant_id, plan, billing_email`, [m, b.plan ?? null, b.billing_email ?? null], 'billing');
  },

  ...crud('invoices', 'invoices', INVOICE, 'invoice', {
    // With a product the database fills in its price and currency (and a pk key must name one:
    // a browser never chooses the price). id, status, created_at and the creator are the
    // server's: never sent.
    create: { product_id: (v) => (typeof v === 'string' && UUID.test(v) ? null : 'must be a uuid'), amount: money,
      currency, description: str(0, 5000) },
    update: { amount: money, currency, description: str(0, 5000) },
  }),
  'invoices.cancel': async (db, { m, params }) => {
    const target = id(params, 'invoiceId');
    const { rows } = await db.query(`UPDATE billium.invoices SET status = 'cancelled'
      WHERE merchant_id = $1 AND id = $2 AND status <> 'paid' RETURNING ${INVOICE}`, [m, target]);
    if (rows.length > 0) return rows[0];
    await one(db, 'SELECT 1 FROM billium.invoices WHERE merchant_id = $1 AND id = $2', [m, target], 'invoice');
    throw new Reply(409, 'INVOICE_NOT_CANCELLABLE', 'a paid invoice cannot be cancelled');
  },
  ...crud('products', 'products', PRODUCT, 'product', {
    create: { name: str(1, 500), price: money, currency }, required: ['name'],
    update: { name: str(1, 500), price: money, currency },
  }),
  ...crud('customers', 'customers', CUSTOMER, 'customer', {
    create: { name: str(1, 500), email: str(0, 320) }, required: ['name'],
    update: { name: str(1, 500), email: str(0, 320) },
  }),
  ...crud('wallets', 'wallets', WALLET, 'wallet', {
    create: { address: str(1, 500), currency }, required: ['address'],
    update: { address: str(1, 500), currency },
  }),
  ...crud('webhooks', 'webhooks', WEBHOOK, 'webhook', {
    create: { url, events: strings }, required: ['url'],
    update: { url, events: strings },
  }),

  // One row per merchant, made on first update; until then empty settings.
  'checkout.retrieve': async (db, { m }) => {
    const { rows } = await db.query('SELECT merchant_id, settings, updated_at FROM billium.checkout_settings WHERE merchant_id = $1', [m]);
    return rows[0] ?? { merchant_id: m, settings: {}, updated_at: null };
  },
  'checkout.update': (db, { m, body }) => {
    const b = fields(body(), { settings: object }, ['settings']);
    if (JSON.stringify(b.settings).length > 16384) throw invalid('settings must be at most 16 KiB of JSON');
    return one(db, `INSERT INTO billium.checkout_settings AS c (merchant_id, settings) VALUES ($1, $2)
      ON CONFLICT (merchant_id) DO UPDATE SET settings = EXCLUDED.settings
      RETURNING merchant_id, settings, updated_at`, [m, b.settings], 'checkout settings');
  },

  'reports.list': (db) => list(db, 'SELECT id, title FROM billium.billium_report_catalog() ORDER BY id', []),
  'reports.retrieve': async (db, { m, params }) => {
    const report = await one(db, 'SELECT id, title FROM billium.billium_report_catalog() WHERE id = $1',
      [params.reportId], 'report');
    const rows = await list(db, `SELECT currency, status, count, sum FROM billium.reports
      WHERE merchant_id = $1 ORDER BY currency, status`, [m]);
    return { ...report, rows };
  },

  // LEFT JOIN: the users table has its own policy; a member whose user row is hidden still shows.
  'team.list': (db, { m }) =>
    list(db, `SELECT ${MEMBER} FROM billium.team_members t LEFT JOIN billium.users u ON u.id = t.user_id
      WHERE t.merchant_id = $1 ORDER BY t.created_at, t.user_id`, [m]),
  'team.retrieve': (db, { m, params }) =>
    one(db, `SELECT ${MEMBER} FROM billium.team_members t LEFT JOIN billium.users u ON u.id = t.user_id
      WHERE t.merchant_id = $1 AND t.user_id = $2`, [m, id(params, 'userId')], 'team member'),
  'team.invite': async (db, { m, body }) => {
    const b = fields(body(), { user_id: (v) => (UUID.test(v) ? null : 'must be a uuid'), role, permissions }, ['user_id', 'role']);
    // No grant given: the role's cap (the database's default).
    const { rows } = await db.query(`INSERT INTO billium.team_members (merchant_id, user_id, role, permissions)
      VALUES ($1, $2, $3, $4::billium.billium_permset) RETURNING user_id`,
    [m, b.user_id, b.role, b.permissions ? `{${b.permissions.join(',')}}` : null]);
    return one(db, `SELECT ${MEMBER} FROM billium.team_members t LEFT JOIN billium.users u ON u.id = t.user_id
      WHERE t.merchant_id = $1 AND t.user_id = $2`, [m, rows[0].user_id], 'team member');
  },
  'team.update_role': (db, { m, params, body }) => {
    const target = id(params, 'userId');
    const b = fields(body(), { role, permissions });
    if (b.role === undefined && b.permissions === undefined) throw invalid('nothing to change');
    return one(db, `WITH changed AS (UPDATE billium.team_members t SET role = coalesce($3, t.role),
        permissions = coalesce($4::billium.billium_permset, t.permissions)
      WHERE t.merchant_id = $1 AND t.user_id = $2 RETURNING t.*)
      SELECT ${MEMBER} FROM changed t LEFT JOIN billium.users u ON u.id = t.user_id`,
    [m, target, b.role ?? null, b.permissions ? `{${b.permissions.join(',')}}` : null], 'team member');
  },
  'team.remove': async (db, { m, params }) => {
    const row = await one(db, 'DELETE FROM billium.team_members WHERE merchant_id = $1 AND user_id = $2 RETURNING user_id',
      [m, id(params, 'userId')], 'team member');
    return { id: row.user_id, deleted: true };
  },
  'team.transfer_ownership': async (db, { m, params }) => {
    const target = id(params, 'userId');
    await db.query('SELECT billium.billium_transfer_ownership($1, $2)', [m, target]);
    return one(db, `SELECT ${MEMBER} FROM billium.team_members t LEFT JOIN billium.users u ON u.id = t.user_id
      WHERE t.merchant_id = $1 AND t.user_id = $2`, [m, target], 'team member');
  },

  // Keys: the database's functions make, change, roll and revoke them (each asks the gate again
  // and audits); the list shows everything but the hash.
  'api_keys.list': (db, { m }) =>
    list(db, `SELECT ${API_KEY} FROM billium.api_keys WHERE merchant_id = $1 ORDER BY created_at, id`, [m]),
  'api_keys.retrieve': (db, { m, params }) => apiKey(db, m, id(params, 'keyId')),
  'api_keys.create': async (db, { m, body }) => {
    const b = fields(body(), { type: (v) => (v === 'sk' || v === 'pk' ? null : 'must be sk or pk'), name: str(0, 200),
      permissions, expires_at: timestamp }, ['type', 'permissions']);
    const { rows } = await db.query(`SELECT id, api_key FROM billium.billium_create_api_key($1, $2,
      $3::billium.billium_permset, $4, $5)`, [m, b.type, `{${b.permissions.join(',')}}`, b.name ?? '', b.expires_at ?? null]);
    return madeKey(db, m, rows[0], { type: b.type, name: b.name ?? '', permissions: b.permissions, expires_at: b.expires_at ?? null });
  },
  'api_keys.update': async (db, { m, params, body }) => {
    const keyId = await ownKey(db, m, params);
    const b = fields(body(), { name: str(0, 200), permissions });
    if (b.name === undefined && b.permissions === undefined) throw invalid('nothing to change');
    await db.query('SELECT billium.billium_update_api_key($1, $2::billium.billium_permset, $3)',
      [keyId, b.permissions ? `{${b.permissions.join(',')}}` : null, b.name ?? null]);
    return apiKey(db, m, keyId);
  },
  'api_keys.roll': async (db, { m, params, body }) => {
    const keyId = await ownKey(db, m, params);
    const b = fields(body(), { grace_seconds: seconds });
    const { rows } = await db.query('SELECT id, api_key FROM billium.billium_roll_api_key($1, make_interval(secs => $2))',
      [keyId, b.grace_seconds ?? 0]);
    return madeKey(db, m, rows[0], {});
  },
  'api_keys.revoke': async (db, { m, params }) => {
    const keyId = await ownKey(db, m, params);
    await db.query('SELECT billium.billium_revoke_api_key($1)', [keyId]);
    return apiKey(db, m, keyId);
  },
};

module.exports = { handlers, Reply, UUID };
