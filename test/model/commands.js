'use strict';
// The commands of a random sequence: each predicts billium's answer from the model, runs the real
// SQL on one of several backends, compares, and updates the model. A command's prediction names
// the rules it relies on (tags); see model.js.

const M = require('./model');
const { set, inter, minus, union, subset, sorted, eqSet, ALL, ROLE_CAP, TYPE_CAP, DAY } = M;

class Discrepancy extends Error {
  constructor(tags, message) {
    super(message);
    this.tags = tags.length ? [...new Set(tags)] : ['model'];
  }
}

const ROLES = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'];
const FLAG_COLS = ['enforce_tfa', 'enforce_passkey', 'enforce_google_login', 'enforce_github_login', 'enforce_email_verified'];
const FACTOR_COLS = ['tfa_enabled', 'passkey_enabled', 'google_linked', 'github_linked', 'email_verified'];
const NO_ROW = '00000000-0000-4000-8000-000000000000';

// A deterministic subset from a seed (so a shrunk or stored sequence replays exactly).
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function withViews(s) {
  const out = new Set(s);
  for (const perms of Object.values(M.DOMAINS)) if (perms.some((p) => out.has(p))) out.add(perms[0]);
  return out;
}
// mode 0: none given (null), 1: the base, 2: a subset closed under views, 3: a raw subset of the
// base, 4: a raw subset of all 34, 5: create-like permissions of the base only (no view).
function grantFrom(sel, base) {
  if (sel.mode === 0) return null;
  if (sel.mode === 1) return set(base);
  const rnd = prng(sel.seed);
  const createLike = (p) => p.endsWith(':create') || p === 'team:invite';
  const from = sel.mode === 4 ? ALL : sel.mode === 5 ? [...base].filter(createLike) : [...base];
  const s = set(from.filter(() => rnd() < 0.5));
  return sel.mode === 2 ? inter(withViews(s), set(base)) : s;
}
const text = (s) => `{${sorted(s).join(',')}}`;
const parsePerms = (t) => set(t.replace(/[{}]/g, '').split(',').filter(Boolean));

// --- outcomes ---------------------------------------------------------------------------------
function errOutcome(e) {
  let env;
  try { env = JSON.parse(e.detail); } catch { /* not an envelope */ }
  if (env && Number.isInteger(env.status))
    return { status: env.status, code: env.code, missing: env.missing, excess: env.excess, sqlstate: e.code, message: e.message };
  return { sqlstate: e.code, message: e.message };
}
function matches(actual, exp) {
  if (exp.ok) return !!actual.ok && (exp.rows === undefined || actual.rows === exp.rows);
  if (actual.ok && !exp.refused) return false;
  if (exp.refused) return actual.ok ? actual.rows === 0 : actual.sqlstate === '42501';
  if (exp.status) {
    if (actual.status !== exp.status || actual.code !== exp.code) return false;
    if (exp.missing && JSON.stringify(exp.missing) !== JSON.stringify(actual.missing)) return false;
    if (exp.excess && JSON.stringify(exp.excess) !== JSON.stringify(actual.excess)) return false;
    return true;
  }
  if (exp.sqlstate) return actual.sqlstate === exp.sqlstate;
  return false;
}
const show = (o) => JSON.stringify(o.ok ? { ok: true, rows: o.rows } : o);
function expect(actual, pred, what) {
  if (!pred.out.some((e) => matches(actual, e)))
    throw new Discrepancy(pred.tags, `${what}: billium ${show(actual)}, model ${JSON.stringify(pred.out)}`);
}

// --- the real side ------------------------------------------------------------------------------
// One transaction on backend c as principal p; fn(db) runs inside it. Commits when fn succeeds and
// commit is true, else rolls back. Returns {ok, rows, value} or an error outcome.
async function tx(real, model, c, p, fn, commit = true) {
  const db = real.conns[c % real.conns.length];
  const [key, session] = real.credentials(model, p);
  await db.query('BEGIN');
  try {
    await db.query("SELECT set_config('billium.api_key', $1, true), set_config('billium.session', $2, true)", [key, session]);
    const value = await fn(db);
    await db.query(commit ? 'COMMIT' : 'ROLLBACK');
    return { ok: true, rows: value && value.rowCount !== undefined ? value.rowCount : undefined, value };
  } catch (e) {
    await db.query('ROLLBACK');
    if (!e.code) throw e; // not the database's answer
    return errOutcome(e);
  }
}
const gateCall = (real, model, c, p, action, m) =>
  tx(real, model, c, p, (db) => db.query('SELECT billium.billium_authorize($1, $2)', [action, model.merchants[m].id]), false);

// --- the commands -------------------------------------------------------------------------------
class Cmd {
  constructor(d) { this.d = d; }
  check(model) {
    const known = model.known;
    if (!known || known.size === 0) return true;
    const tags = this.tags(model);
    return !tags.some((t) => known.has(t));
  }
  tags() { return []; }
  toString() { return JSON.stringify(this.d); }
  // m = 2: the principal's own merchant (a key's, or the first team of a session's user).
  mOf(model) {
    if (this.d.m !== 2) return this.d.m;
    const p = model.principal(this.d.p);
    if (p.kind === 'key') return model.keys[p.k].m;
    if (p.kind === 'session') return model.member(0, p.u) ? 0 : model.member(1, p.u) ? 1 : 0;
    return 0;
  }
  // The command in words, against the model's state before it runs (for stored regressions).
  story(model) {
    const d = this.d;
    const parts = [d.t];
    if (d.p !== undefined) parts.push(`by ${model.describe(model.principal(d.p))}`);
    if (d.a !== undefined) parts.push(model.actions[d.a % model.actions.length].name);
    if (d.m !== undefined) parts.push(`merchant ${'AB'[this.mOf(model)]}${d.m === 2 ? ' (its own)' : ''}`);
    if (d.u !== undefined) parts.push(`user ${model.users[d.u % model.users.length].name}`);
    if (d.k !== undefined) parts.push(`key#${d.k % model.keys.length}`);
    for (const f of ['type', 'role', 'grace', 'e', 'f', 'v', 'col', 'r']) if (d[f] !== undefined) parts.push(`${f}=${d[f]}`);
    if (d.g) parts.push(`grant mode ${d.g.mode}`);
    if (d.c !== undefined) parts.push(`backend ${d.c}`);
    return parts.join(' ');
  }
  async run(model, real) {
    model.step = (model.step || 0) + 1;
    (model.log = model.log || []).push(this.story(model));
    try {
      await this.exec(model, real);
      await real.invariants(model, this);
    } catch (e) {
      e.log = model.log;
      throw e;
    }
  }
}

// Every action of the catalog, through the gate and through its SQL path (the gateway's statement
// where it routes the action). Team and key management actions run their own commands below.
const UPDATE_COL = { invoices: "description = 'changed'", products: "name = 'renamed'", customers: "name = 'renamed'",
  webhooks: "url = 'https://changed.test/'", wallets: "address = 'moved'" };
const RESOURCE_TABLE = { invoices: 'invoices', products: 'products', customers: 'customers', webhooks: 'webhooks',
  wallets: 'wallets' };

class Act extends Cmd {
  action(model) { return model.actions[this.d.a % model.actions.length]; }
  delegate(model) {
    const name = this.action(model).name;
    const d = { ...this.d, m: this.mOf(model) };
    const r = d.r;
    switch (name) {
      case 'team.invite': return new Invite({ t: 'invite', p: d.p, m: d.m, u: r % 7, role: 1 + (r % 3), g: { mode: r % 3, seed: r }, c: d.c });
      case 'team.update_role': return new Role({ t: 'role', p: d.p, m: d.m, u: r % 7, role: r % 4, c: d.c });
      case 'team.remove': return new Remove({ t: 'remove', p: d.p, m: d.m, u: r % 7, c: d.c });
      case 'team.transfer_ownership': return new Transfer({ t: 'transfer', p: d.p, m: d.m, u: r % 7, c: d.c });
      case 'api_keys.create': return new KeyCreate({ t: 'kcreate', p: d.p, m: d.m, type: r % 3 ? 'sk' : 'pk', g: { mode: r % 4, seed: r }, e: r % 4, c: d.c });
      case 'api_keys.update': return new KeyUpdate({ t: 'kupdate', p: d.p, k: r, g: { mode: 2 + (r % 2), seed: r }, c: d.c });
      case 'api_keys.roll': return new KeyRoll({ t: 'kroll', p: d.p, k: r, grace: r % 4, c: d.c });
      case 'api_keys.revoke': return new KeyRevoke({ t: 'krevoke', p: d.p, k: r, c: d.c });
      default: return null;
    }
  }
  tags(model) {
    const del = this.delegate(model);
    if (del) return del.tags(model);
    const p = model.principal(this.d.p);
    const a = this.action(model);
    const [res, verb] = a.name.split('.');
    const tags = model.gate(p, a.name, this.mOf(model)).tags.slice();
    if (verb === 'create' && RESOURCE_TABLE[res]) {
      const dom = M.TABLE_DOMAIN[RESOURCE_TABLE[res]];
      const perms = model.permsOn(p, this.mOf(model));
      if (perms.has(a.permission) && !perms.has(`${dom}:view`)) tags.push('create-only');
      if (res === 'invoices' && p.kind === 'key' && model.keys[p.k].type === 'pk') tags.push('pk-price');
    }
    return tags;
  }
  toString() { return JSON.stringify({ ...this.d, action: undefined }); }
  async exec(model, real) {
    const p = model.principal(this.d.p);
    const a = this.action(model);
    const m = this.mOf(model);
    const mid = model.merchants[m].id;
    const gp = model.gate(p, a.name, m);
    const gate = await gateCall(real, model, this.d.c, p, a.name, m);
    expect(gate, gp, `gate ${a.name} on merchant ${m} as ${model.describe(p)}`);
    const del = this.delegate(model);
    if (del) return del.exec(model, real);

    const [res, verb] = a.name.split('.');
    const authFail = model.authFailure(p);
    if (authFail && p.kind !== 'none') {
      // An invalid credential: the policies refuse the statement with the same 401.
      const probe = RESOURCE_TABLE[res] ? `SELECT id FROM billium.${RESOURCE_TABLE[res]}` : 'SELECT id FROM billium.merchants';
      const got = await tx(real, model, this.d.c, p, (db) => db.query(probe));
      expect(got, authFail, `${probe} as ${model.describe(p)}`);
      return;
    }
    const perms = model.permsOn(p, m);
    const allowedByGate = gp.out.some((o) => o.ok);
    const tags = this.tags(model);
    const fail = (msg) => { throw new Discrepancy(tags, `${a.name} on merchant ${m} as ${model.describe(p)}: ${msg}`); };
    const run = (fn, commit = true) => tx(real, model, this.d.c, p, fn, commit);
    const table = RESOURCE_TABLE[res];

    if (table) {
      const dom = M.TABLE_DOMAIN[table];
      const rows = model.rows[table];
      const target = rows.length ? rows[this.d.r % rows.length] : null;
      const tid = target ? target.id : NO_ROW;
      const visible = model.visibleRows(p, table);
      // A row of the other merchant is asked for by id alone: row-level security by itself must
      // keep it out of reach. A row of this merchant, with the gateway's statement.
      const cross = !!target && target.m !== m;
      const q = (sql) => (cross ? sql.replace('merchant_id = $1 AND id = $2', 'id = $1') : sql);
      const qa = (id) => (cross ? [id] : [mid, id]);
      const tperms = target ? model.permsOn(p, target.m) : perms;
      const sees = !!target && visible.includes(target);
      if (verb === 'list') {
        const out = await run((db) => db.query(`SELECT id, merchant_id FROM billium.${table}`));
        if (!out.ok) fail(`the list statement failed: ${show(out)}`);
        const got = out.value.rows.map((r) => r.id).sort();
        const want = visible.map((r) => r.id).sort();
        if (JSON.stringify(got) !== JSON.stringify(want))
          fail(`sees ${got.length} rows (${got.filter((x) => !want.includes(x)).length} it should not), the model ${want.length}`);
        // The gate and row-level security agree: allowed means every row of the merchant.
        const all = rows.filter((r) => r.m === m).length;
        const here = visible.filter((r) => r.m === m).length;
        const pkOwn = table === 'invoices' || table === 'products';
        if (allowedByGate && here !== all) fail(`the gate allows the list but ${here} of ${all} rows are visible`);
        if (!allowedByGate && here > 0 && !(pkOwn && p.kind === 'key' && model.keys[p.k].type === 'pk'))
          fail(`the gate refuses the list but ${here} rows are visible`);
      } else if (verb === 'retrieve') {
        const out = await run((db) => db.query(q(`SELECT id FROM billium.${table} WHERE merchant_id = $1 AND id = $2`), qa(tid)));
        expect(out, { out: [{ ok: true, rows: sees ? 1 : 0 }], tags }, `${a.name} by id${cross ? ' (the other merchant\'s row)' : ''}`);
        if (allowedByGate && target && !cross && !sees && !(table === 'invoices' && p.kind === 'key' && model.keys[p.k].type === 'pk'))
          fail('the gate allows it but the row is not visible');
      } else if (verb === 'create') {
        const pk = p.kind === 'key' && model.keys[p.k].type === 'pk';
        let sql;
        let args;
        if (table === 'invoices' && pk && real.hasProductId) {
          const prods = model.rows.products.filter((r) => r.m === m);
          const prod = prods.length ? prods[this.d.r % prods.length] : null;
          sql = 'INSERT INTO billium.invoices (merchant_id, product_id) VALUES ($1, $2) RETURNING id, amount';
          args = [mid, prod ? prod.id : NO_ROW];
        } else {
          sql = {
            invoices: "INSERT INTO billium.invoices (merchant_id, amount, currency, description) VALUES ($1, 1234, 'usd', '') RETURNING id, amount",
            products: "INSERT INTO billium.products (merchant_id, name, price) VALUES ($1, 'new', 700) RETURNING id",
            customers: "INSERT INTO billium.customers (merchant_id, name) VALUES ($1, 'new') RETURNING id",
            webhooks: "INSERT INTO billium.webhooks (merchant_id, url, events) VALUES ($1, 'https://new.test/', '{}') RETURNING id",
            wallets: "INSERT INTO billium.wallets (merchant_id, address) VALUES ($1, 'new') RETURNING id",
          }[table];
          args = [mid];
        }
        let allowed = perms.has(a.permission);
        let out = [{ ok: true, rows: 1 }];
        if (allowed && table === 'invoices' && pk && !real.hasProductId) { allowed = false; out = [{ sqlstate: '42501' }]; }
        if (allowed && table === 'invoices' && pk && real.hasProductId && !model.rows.products.some((r) => r.m === m)) {
          allowed = false; out = [{ sqlstate: '42501' }, { sqlstate: '23503' }, { sqlstate: '22023' }];
        }
        const got = await run((db) => db.query(sql, args));
        expect(got, { out: allowed ? out : [{ sqlstate: '42501' }], tags }, `${a.name}: ${sql.split(' VALUES')[0]}`);
        if (allowedByGate && !got.ok) fail(`the gate allows it but the statement is refused (${show(got)})`);
        if (got.ok) {
          const row = got.value.rows[0];
          if (table === 'invoices' && pk && real.hasProductId) {
            const prods = model.rows.products.filter((r) => r.m === m);
            const prod = prods[this.d.r % prods.length];
            if (String(row.amount) !== String(prod.price)) fail(`a pk key's invoice has amount ${row.amount}, the product's price is ${prod.price}`);
          }
          rows.push({ id: row.id, m, createdByKey: model.callerKeyId(p), status: 'open', price: 700 });
        }
      } else if (verb === 'update' || verb === 'cancel') {
        let t = target;
        let ttid = tid;
        if (verb === 'cancel') {
          const cands = rows.filter((r) => r.status !== 'cancelled');
          t = cands.length ? cands[this.d.r % cands.length] : null;
          ttid = t ? t.id : NO_ROW;
        }
        const tcross = !!t && t.m !== m;
        const tsees = !!t && model.visibleRows(p, table).includes(t);
        const sql = verb === 'cancel'
          ? "UPDATE billium.invoices SET status = 'cancelled' WHERE merchant_id = $1 AND id = $2 AND status <> 'paid' RETURNING id"
          : `UPDATE billium.${table} SET ${UPDATE_COL[table]} WHERE merchant_id = $1 AND id = $2 RETURNING id`;
        const may = tsees && model.permsOn(p, t.m).has(`${dom}:edit`) && (verb !== 'cancel' || t.status !== 'paid');
        const got = await run((db) => db.query(tcross ? sql.replace('merchant_id = $1 AND id = $2', 'id = $1') : sql, tcross ? [ttid] : [mid, ttid]));
        expect(got, { out: [may ? { ok: true, rows: 1 } : { refused: true }], tags }, `${a.name} of ${t ? 'a' : 'no'} row`);
        if (allowedByGate && t && !tcross && !(verb === 'cancel' && t.status === 'paid') && got.ok && got.rows === 0)
          fail('the gate allows it but the statement touches no row');
        if (got.ok && got.rows === 1 && verb === 'cancel') t.status = 'cancelled';
      } else if (verb === 'delete') {
        const may = sees && tperms.has(`${dom}:delete`);
        const got = await run((db) => db.query(q(`DELETE FROM billium.${table} WHERE merchant_id = $1 AND id = $2 RETURNING id`), qa(tid)));
        expect(got, { out: [may ? { ok: true, rows: 1 } : { refused: true }], tags }, `${a.name} of a row`);
        if (allowedByGate && target && !cross && got.ok && got.rows === 0) fail('the gate allows it but the statement deletes no row');
        if (got.ok && got.rows === 1) rows.splice(rows.indexOf(target), 1);
      } else {
        throw new Error(`no SQL path for ${a.name}`);
      }
      return;
    }
    // Actions on one row per merchant, the merchant itself, reports, the team and the keys.
    const one = {
      'billing.retrieve': ['SELECT merchant_id FROM billium.merchant_billing WHERE merchant_id = $1', 'merchant:billing'],
      'billing.update': ["UPDATE billium.merchant_billing SET plan = 'pro' WHERE merchant_id = $1 RETURNING merchant_id", 'merchant:billing'],
      'checkout.retrieve': ['SELECT merchant_id FROM billium.checkout_settings WHERE merchant_id = $1', 'checkout:view'],
      'checkout.update': ["UPDATE billium.checkout_settings SET settings = '{\"x\":1}' WHERE merchant_id = $1 RETURNING merchant_id", 'checkout:edit'],
      'merchants.retrieve': ['SELECT id FROM billium.merchants WHERE id = $1', 'merchant:view'],
      'merchants.update': ["UPDATE billium.merchants SET name = 'renamed' WHERE id = $1 RETURNING id", 'merchant:edit'],
      'merchants.delete': ['DELETE FROM billium.merchants WHERE id = $1 RETURNING id', 'merchant:delete'],
    }[a.name];
    if (one) {
      const may = perms.has(one[1]) && perms.has(one[1].split(':')[0] + ':view') || (one[1] === 'merchant:billing' && perms.has(one[1]));
      // A merchant's deletion is rolled back: the rest of the sequence keeps its merchants.
      const got = await run((db) => db.query(one[0], [mid]), a.name !== 'merchants.delete');
      expect(got, { out: [may ? { ok: true, rows: 1 } : { refused: true }], tags }, `${a.name}: ${one[0]}`);
      if (allowedByGate && !(got.ok && got.rows === 1)) fail(`the gate allows it but the statement does not (${show(got)})`);
      return;
    }
    if (res === 'reports') {
      const got = await run((db) => db.query('SELECT coalesce(sum(count), 0)::int AS n FROM billium.reports WHERE merchant_id = $1', [mid]));
      const n = perms.has('report:view') ? model.rows.invoices.filter((r) => r.m === m).length : 0;
      if (!got.ok || got.value.rows[0].n !== n) fail(`reports count ${got.ok ? got.value.rows[0].n : show(got)} invoices, the model ${n}`);
      return;
    }
    if (res === 'team') {
      const got = await run((db) => db.query('SELECT merchant_id, user_id FROM billium.team_members'));
      const want = [];
      for (const [k] of model.team) {
        const [tm, u] = k.split('/').map(Number);
        if (model.permsOn(p, tm).has('team:view')) want.push(`${model.merchants[tm].id}/${model.users[u].id}`);
      }
      const gotIds = got.ok ? got.value.rows.map((r) => `${r.merchant_id}/${r.user_id}`).sort() : [];
      if (!got.ok || JSON.stringify(gotIds) !== JSON.stringify(want.sort()))
        fail(`team rows: billium ${got.ok ? gotIds.length : show(got)}, the model ${want.length}`);
      const here = gotIds.filter((x) => x.startsWith(`${mid}/`)).length;
      const all = [...model.team.keys()].filter((k) => k.startsWith(`${m}/`)).length;
      if (allowedByGate !== (here === all && all > 0)) fail(`the gate ${allowedByGate ? 'allows' : 'refuses'} ${a.name}; ${here} of ${all} team rows are visible`);
      const users = await run((db) => db.query('SELECT id FROM billium.users'));
      const wantUsers = new Set(p.kind === 'session' ? [model.users[p.u].id] : []);
      for (const [k] of model.team) {
        const [tm, u] = k.split('/').map(Number);
        if (model.permsOn(p, tm).has('team:view')) wantUsers.add(model.users[u].id);
      }
      const gotUsers = users.ok ? users.value.rows.map((r) => r.id).sort() : [];
      if (JSON.stringify(gotUsers) !== JSON.stringify([...wantUsers].sort()))
        fail(`users visible: billium ${gotUsers.length}, the model ${wantUsers.size}`);
      return;
    }
    if (res === 'api_keys') {
      const got = await run((db) => db.query('SELECT id FROM billium.api_keys'));
      const want = model.keys.filter((k) => model.permsOn(p, k.m).has('api_key:view')).map((k) => k.id).sort();
      const gotIds = got.ok ? got.value.rows.map((r) => r.id).sort() : [];
      if (JSON.stringify(gotIds) !== JSON.stringify(want)) fail(`api_keys visible: billium ${gotIds.length}, the model ${want.length}`);
      const here = model.keys.filter((k) => k.m === m && gotIds.includes(k.id)).length;
      const all = model.keys.filter((k) => k.m === m).length;
      if (allowedByGate !== (here === all && all > 0)) fail(`the gate ${allowedByGate ? 'allows' : 'refuses'} ${a.name}; ${here} of ${all} keys are visible`);
      return;
    }
    throw new Error(`no SQL path for ${a.name}`);
  }
}

// --- team ---------------------------------------------------------------------------------------
// Decision and README: nobody grants a role or permissions above their own (the role's whole cap
// and the grant within the caller's permissions); one OWNER, changed only by a transfer.
function teamVerdict(model, p, m, u, change) {
  const perms = model.permsOn(p, m);
  const cur = model.member(m, u);
  const out = [];
  const tags = p.kind === 'key' ? model.keyState(p.k).tags.slice() : [];
  if (model.authFailure(p)) return { out: [{ refused: true }, ...model.authFailure(p).out], tags };
  if (change.kind === 'invite') {
    if (!perms.has('team:invite')) return { out: [{ refused: true }], tags };
    if (cur) out.push({ sqlstate: '23505' }); // with any other reason the row is refused for
  } else {
    if (!perms.has('team:view') || !perms.has(change.kind === 'remove' ? 'team:remove' : 'team:manage_roles') || !cur)
      return { out: [{ refused: true }], tags };
  }
  if (change.kind === 'remove') return { out: cur.role === 'OWNER' ? [{ refused: true }] : [{ ok: true, rows: 1 }], tags };
  const role = change.role;
  const grant = change.grant;
  if (change.kind !== 'invite' && role === cur.role && eqSet(grant, cur.grant))
    return { out: [{ ok: true, rows: 1 }, { refused: true }], tags }; // nothing changes
  if (change.kind !== 'invite' && cur.role === 'OWNER') out.push({ refused: true });
  if (role === 'OWNER') out.push({ refused: true });
  if (!subset(grant, ROLE_CAP[role])) out.push({ sqlstate: '23514' });
  if (M.missingViews(grant).length) { out.push({ sqlstate: '22023' }); tags.push('grant-shape'); }
  if (!subset(union(grant, ROLE_CAP[role]), perms)) out.push({ refused: true });
  return { out: out.length ? out : [{ ok: true, rows: 1 }], tags };
}
function teamApply(model, m, u, change) {
  if (change.kind === 'remove') model.team.delete(`${m}/${u}`);
  else model.team.set(`${m}/${u}`, { role: change.role, grant: set(change.grant) });
}
async function teamRun(model, real, cmd, change, sql, args) {
  const { p: pi, m, u, c } = cmd.d;
  const p = model.principal(pi);
  const v = teamVerdict(model, p, m, u, change);
  const own = model.permsOn(p, m);
  const before = model.member(m, u);
  const same = before && change.kind !== 'remove' && before.role === change.role && eqSet(before.grant, change.grant);
  const got = await tx(real, model, c, p, (db) => db.query(sql, args));
  expect(got, v, `${change.kind} ${model.users[u].name} on merchant ${m} as ${model.describe(p)}`);
  if (got.ok && got.rows === 1) {
    teamApply(model, m, u, change);
    // Nobody grants more than they hold: the member's role cap and grant, as stored, within the caller's.
    if (change.kind !== 'remove' && !same) {
      const r = (await real.admin.query('SELECT role, permissions::text AS g FROM billium.team_members WHERE merchant_id = $1 AND user_id = $2',
        [model.merchants[m].id, model.users[u].id])).rows[0];
      const held = union(ROLE_CAP[r.role], parsePerms(r.g));
      if (!subset(held, own))
        throw new Discrepancy(['escalation', ...v.tags], `${model.describe(p)} made ${model.users[u].name} ${r.role} ${r.g} on merchant ${m}, beyond its own {${sorted(own).join(',')}}`);
    }
  }
}
function roleChange(model, m, u, role) {
  const cur = model.member(m, u);
  if (!cur) return { kind: 'role', role, grant: ROLE_CAP[role] };
  // README: a change of role keeps a narrowed grant narrowed and a full grant full, within the new cap.
  const full = eqSet(cur.grant, ROLE_CAP[cur.role]);
  return { kind: 'role', role, grant: full ? ROLE_CAP[role] : inter(cur.grant, ROLE_CAP[role]) };
}
class Invite extends Cmd {
  change() {
    const role = ROLES[this.d.role % 4];
    const g = grantFrom(this.d.g, ROLE_CAP[role]);
    return { kind: 'invite', role, grant: g === null ? ROLE_CAP[role] : g, given: g };
  }
  tags(model) { return teamVerdict(model, model.principal(this.d.p), this.d.m, this.d.u, this.change()).tags; }
  async exec(model, real) {
    const ch = this.change();
    const { m, u } = this.d;
    const args = [model.merchants[m].id, model.users[u].id, ch.role];
    const sql = ch.given === null
      ? 'INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES ($1, $2, $3)'
      : 'INSERT INTO billium.team_members (merchant_id, user_id, role, permissions) VALUES ($1, $2, $3, $4)';
    if (ch.given !== null) args.push(text(ch.given));
    await teamRun(model, real, this, ch, sql, args);
  }
}
class Role extends Cmd {
  tags(model) {
    return teamVerdict(model, model.principal(this.d.p), this.d.m, this.d.u, roleChange(model, this.d.m, this.d.u, ROLES[this.d.role % 4])).tags;
  }
  async exec(model, real) {
    const { m, u } = this.d;
    const ch = roleChange(model, m, u, ROLES[this.d.role % 4]);
    await teamRun(model, real, this, ch, 'UPDATE billium.team_members SET role = $3 WHERE merchant_id = $1 AND user_id = $2',
      [model.merchants[m].id, model.users[u].id, ch.role]);
  }
}
class Narrow extends Cmd {
  change(model) {
    const cur = model.member(this.d.m, this.d.u);
    const role = cur ? cur.role : 'VIEWER';
    const g = grantFrom({ ...this.d.g, mode: Math.max(1, this.d.g.mode) }, cur ? cur.grant : ROLE_CAP.VIEWER);
    return { kind: 'narrow', role, grant: g };
  }
  tags(model) { return teamVerdict(model, model.principal(this.d.p), this.d.m, this.d.u, this.change(model)).tags; }
  async exec(model, real) {
    const { m, u } = this.d;
    const ch = this.change(model);
    await teamRun(model, real, this, ch, 'UPDATE billium.team_members SET permissions = $3 WHERE merchant_id = $1 AND user_id = $2',
      [model.merchants[m].id, model.users[u].id, text(ch.grant)]);
  }
}
class Remove extends Cmd {
  async exec(model, real) {
    const { m, u } = this.d;
    await teamRun(model, real, this, { kind: 'remove' }, 'DELETE FROM billium.team_members WHERE merchant_id = $1 AND user_id = $2',
      [model.merchants[m].id, model.users[u].id]);
  }
}
class Transfer extends Cmd {
  async exec(model, real) {
    const { p: pi, m, u, c } = this.d;
    const p = model.principal(pi);
    const owner = model.ownerOf(m);
    // The spec gives the transfer to the OWNER alone: the gate's action team.transfer_ownership,
    // ruled by the OWNER role, answers first (as for any action); then the new owner must be
    // another member of the team.
    const gate = model.gate(p, 'team.transfer_ownership', m);
    let out = gate.out;
    if (out.length === 1 && out[0].ok) {
      if (!model.member(m, u) || u === owner) out = [{ sqlstate: '22023' }];
    }
    const got = await tx(real, model, c, p, (db) => db.query('SELECT billium.billium_transfer_ownership($1, $2)',
      [model.merchants[m].id, model.users[u].id]));
    expect(got, { out, tags: [] }, `transfer ownership of merchant ${m} to ${model.users[u].name} as ${model.describe(p)}`);
    if (got.ok) {
      // README: the old OWNER becomes ADMIN with the ADMIN's full grant.
      model.team.set(`${m}/${owner}`, { role: 'ADMIN', grant: set(ROLE_CAP.ADMIN) });
      model.team.set(`${m}/${u}`, { role: 'OWNER', grant: set(ROLE_CAP.OWNER) });
    }
  }
}
// Spec: "an OWNER can enforce team-wide security requirements"; README: the OWNER's dashboard
// session only, merchant:edit is not enough.
class Flags extends Cmd {
  async exec(model, real) {
    const { p: pi, m, f, c } = this.d;
    const p = model.principal(pi);
    const next = !model.merchants[m].flags[f];
    const perms = model.permsOn(p, m);
    const may = p.kind === 'session' && model.ownerOf(m) === p.u && perms.has('merchant:edit') && perms.has('merchant:view');
    const got = await tx(real, model, c, p, (db) => db.query(
      `UPDATE billium.merchants SET ${FLAG_COLS[f]} = $2 WHERE id = $1 RETURNING id`, [model.merchants[m].id, next]));
    const authFail = model.authFailure(p);
    const refusal = authFail && p.kind !== 'none' ? authFail.out : [{ refused: true }];
    expect(got, { out: may ? [{ ok: true, rows: 1 }] : refusal, tags: [] },
      `set ${FLAG_COLS[f]} = ${next} on merchant ${m} as ${model.describe(p)}`);
    if (got.ok && got.rows === 1) model.merchants[m].flags[f] = next;
  }
}
// Enabling a factor is the login service's business: the superuser writes it.
class Factor extends Cmd {
  async exec(model, real) {
    const { u, f, v } = this.d;
    await real.admin.query(`UPDATE billium.users SET ${FACTOR_COLS[f]} = $2 WHERE id = $1`, [model.users[u].id, v]);
    model.users[u].factors[f] = v;
  }
}

// --- keys ---------------------------------------------------------------------------------------
const EXPIRY = [() => null, () => Date.now() - 3600e3, () => Date.now() + DAY, () => Date.now() + 2 * DAY];
class KeyCreate extends Cmd {
  plan(model) {
    const { p: pi, type, g, e } = this.d;
    const m = this.mOf(model);
    const p = model.principal(pi);
    const perms = model.permsOn(p, m);
    const base = type === 'pk' ? inter(perms, TYPE_CAP.pk) : perms;
    let grant = grantFrom(g, base);
    if (grant === null) grant = type === 'pk' ? set(TYPE_CAP.pk) : set(perms);
    const gate = model.gate(p, 'api_keys.create', m);
    const tags = gate.tags.slice();
    const out = [];
    let expires = EXPIRY[e % 4]();
    if (gate.out.some((o) => o.ok)) {
      const overCaller = minus(grant, perms);
      const overType = minus(grant, TYPE_CAP[type]);
      if (M.missingViews(grant).length) { out.push({ sqlstate: '22023' }); tags.push('grant-shape'); }
      if (overCaller.size) out.push({ status: 403, code: 'PERMISSION_DENIED', excess: sorted(overCaller) });
      else if (overType.size) out.push({ status: 403, code: 'PERMISSION_DENIED', excess: sorted(overType) });
      if (p.kind === 'key') {
        // Decision 2: a child's expiry is capped at its parent's effective expiry.
        const cap = model.effectiveExpiry(p.k);
        if (cap !== null) {
          tags.push('child-keys');
          if (expires === null || expires > cap) expires = cap;
        }
      }
    }
    return { p, grant, out: gate.out.some((o) => o.ok) ? (out.length ? out : [{ ok: true }]) : gate.out, tags, expires };
  }
  tags(model) { return this.plan(model).tags; }
  async exec(model, real) {
    const { type, e, c } = this.d;
    const m = this.mOf(model);
    const plan = this.plan(model);
    const { p } = plan;
    const req = EXPIRY[e % 4]();
    const got = await tx(real, model, c, p, (db) => db.query(
      'SELECT id, api_key FROM billium.billium_create_api_key($1, $2, $3, $4, $5)',
      [model.merchants[m].id, type, text(plan.grant), 'model', req === null ? null : new Date(req)]));
    expect(got, plan, `create ${type} key ${text(plan.grant)} on merchant ${m} as ${model.describe(p)}`);
    if (!got.ok) return;
    const row = got.value.rows[0];
    await checkNotAbove(real, model, row.api_key, model.permsOn(p, m), p, plan.tags);
    const creator = p.kind === 'session' ? p.u : model.keys[p.k].creator;
    const parent = p.kind === 'key' ? p.k : null;
    model.keys.push({ name: `${type}#${model.keys.length}`, id: row.id, plain: row.api_key, m, type, grant: plan.grant,
      creator, parent, expires: plan.expires, revoked: false });
    await real.checkLineage(model, model.keys.length - 1, plan.tags, p);
  }
}
function keyTarget(model, k) { return k % model.keys.length; }
// No principal obtains a key more powerful than itself: the new key's verified permissions lie within
// what the caller held when it asked.
async function checkNotAbove(real, model, plain, own, p, tags) {
  let perms;
  try {
    perms = parsePerms((await real.admin.query('SELECT (billium.billium_key_verify($1)).permissions::text AS p', [plain])).rows[0].p);
  } catch { return; } // a key refused outright holds nothing
  if (!subset(perms, own))
    throw new Discrepancy(['escalation', ...tags], `${model.describe(p)} obtained a key holding ${sorted(minus(perms, own)).join(',')} beyond its own`);
}
// The management functions first find the key among the merchants the caller has any
// permission on (another merchant's key looks like none: P0002).
function keyLookup(model, p, ki) {
  const fail = model.authFailure(p);
  if (fail) return [...fail.out, { sqlstate: 'P0002' }];
  const perms = model.permsOn(p, model.keys[ki].m);
  if (perms.size === 0) {
    const out = [{ sqlstate: 'P0002' }];
    if (p.kind === 'session' && model.member(model.keys[ki].m, p.u)) out.push({ status: 403, code: 'SECURITY_REQUIREMENT_NOT_MET' });
    return out;
  }
  return null;
}
class KeyUpdate extends Cmd {
  plan(model) {
    const p = model.principal(this.d.p);
    const ki = keyTarget(model, this.d.k);
    const k = model.keys[ki];
    const grant = grantFrom(this.d.g, k.grant) || set(k.grant);
    const tags = p.kind === 'key' ? model.keyState(p.k).tags.slice() : [];
    const lookup = keyLookup(model, p, ki);
    if (lookup) return { p, ki, grant, out: lookup, tags };
    const gate = model.gate(p, 'api_keys.update', k.m);
    if (!gate.out.some((o) => o.ok)) return { p, ki, grant, out: gate.out, tags };
    const out = [];
    const perms = model.permsOn(p, k.m);
    if (M.missingViews(grant).length) { out.push({ sqlstate: '22023' }); tags.push('grant-shape'); }
    const overCaller = minus(grant, perms);
    const overType = minus(grant, TYPE_CAP[k.type]);
    if (overCaller.size) out.push({ status: 403, code: 'PERMISSION_DENIED', excess: sorted(overCaller) });
    else if (overType.size) out.push({ status: 403, code: 'PERMISSION_DENIED', excess: sorted(overType) });
    return { p, ki, grant, out: out.length ? out : [{ ok: true }], tags };
  }
  tags(model) { return this.plan(model).tags; }
  async exec(model, real) {
    const plan = this.plan(model);
    const k = model.keys[plan.ki];
    const got = await tx(real, model, this.d.c, plan.p, (db) => db.query('SELECT billium.billium_update_api_key($1, $2)', [k.id, text(plan.grant)]));
    expect(got, plan, `narrow key#${plan.ki} to ${text(plan.grant)} as ${model.describe(plan.p)}`);
    if (got.ok) k.grant = plan.grant;
  }
}
const GRACE = ['0', '1 day', '8 days', '-1 day'];
function descendants(model, ki) {
  const out = [];
  for (let i = 0; i < model.keys.length; i++) {
    for (let a = model.keys[i].parent; a !== null; a = model.keys[a].parent) if (a === ki) { out.push(i); break; }
  }
  return out;
}
class KeyRoll extends Cmd {
  plan(model) {
    const p = model.principal(this.d.p);
    const ki = keyTarget(model, this.d.k);
    const k = model.keys[ki];
    const tags = p.kind === 'key' ? model.keyState(p.k).tags.slice() : [];
    const lookup = keyLookup(model, p, ki);
    if (lookup) return { p, ki, out: lookup, tags };
    const gate = model.gate(p, 'api_keys.roll', k.m);
    if (!gate.out.some((o) => o.ok)) return { p, ki, out: gate.out, tags };
    const out = [];
    if (k.revoked) out.push({ sqlstate: 'P0002' });
    const g = this.d.grace % 4;
    if (g === 3) out.push({ sqlstate: '22023' });
    if (g === 2) { out.push({ sqlstate: '22023' }); tags.push('roll-grace'); }
    // Decision 1: the roller must hold every permission of the rolled key's grant.
    const excess = minus(k.grant, model.permsOn(p, k.m));
    if (excess.size) { out.push({ status: 403, code: 'PERMISSION_DENIED', excess: sorted(excess) }); tags.push('roll-escalation'); }
    if (!out.length) {
      if (descendants(model, ki).some((d) => !model.keys[d].revoked)) tags.push('child-keys');
      if (k.parent !== null) tags.push('child-keys');
      // The replacement keeps the old key's place in the lineage (its parent), whoever rolls it.
      if (p.kind === 'key' && p.k !== k.parent) tags.push('roll-lineage');
    }
    return { p, ki, out: out.length ? out : [{ ok: true }], tags };
  }
  tags(model) { return this.plan(model).tags; }
  async exec(model, real) {
    const plan = this.plan(model);
    const k = model.keys[plan.ki];
    const grace = GRACE[this.d.grace % 4];
    const got = await tx(real, model, this.d.c, plan.p, (db) => db.query('SELECT id, api_key FROM billium.billium_roll_api_key($1, $2::interval)', [k.id, grace]));
    expect(got, plan, `roll key#${plan.ki} (${text(k.grant)}) with grace ${grace} as ${model.describe(plan.p)}`);
    if (!got.ok) return;
    const row = got.value.rows[0];
    await checkNotAbove(real, model, row.api_key, model.permsOn(plan.p, k.m), plan.p, plan.tags);
    model.keys.push({ name: `${k.type}#${model.keys.length}(roll of #${plan.ki})`, id: row.id, plain: row.api_key, m: k.m,
      type: k.type, grant: set(k.grant), creator: k.creator, parent: k.parent, expires: k.expires, revoked: false });
    const end = Date.now() + (grace === '0' ? 0 : DAY);
    k.expires = k.expires === null ? end : Math.min(k.expires, end);
    await real.checkLineage(model, model.keys.length - 1, plan.tags, plan.p);
  }
}
class KeyRevoke extends Cmd {
  plan(model) {
    const p = model.principal(this.d.p);
    const ki = keyTarget(model, this.d.k);
    const k = model.keys[ki];
    const tags = p.kind === 'key' ? model.keyState(p.k).tags.slice() : [];
    const lookup = keyLookup(model, p, ki);
    if (lookup) return { p, ki, out: lookup, tags };
    const gate = model.gate(p, 'api_keys.revoke', k.m);
    if (!gate.out.some((o) => o.ok)) return { p, ki, out: gate.out, tags };
    if (descendants(model, ki).some((d) => !model.keys[d].revoked)) tags.push('child-keys');
    return { p, ki, out: [{ ok: true }], tags };
  }
  tags(model) { return this.plan(model).tags; }
  async exec(model, real) {
    const plan = this.plan(model);
    const k = model.keys[plan.ki];
    const got = await tx(real, model, this.d.c, plan.p, (db) => db.query('SELECT billium.billium_revoke_api_key($1)', [k.id]));
    expect(got, plan, `revoke key#${plan.ki} as ${model.describe(plan.p)}`);
    if (!got.ok) return;
    k.revoked = true;
    // Decision 2: revoking a key revokes its descendants in the same transaction.
    for (const d of descendants(model, plan.ki)) if (!model.keys[d].revoked) { model.keys[d].revoked = true; model.keys[d].cascaded = true; }
  }
}

// --- attacks on what the server owns -----------------------------------------------------------
// Decision 5: id, created_at, created_by_user, created_by_key are the server's; an invoice is
// inserted 'open' and only cancelled by a caller.
const OWNED = [
  ['insert', "status = 'paid'", "INSERT INTO billium.invoices (merchant_id, amount, status) VALUES ($1, 5, 'paid') RETURNING id"],
  ['insert', 'created_at', "INSERT INTO billium.invoices (merchant_id, amount, created_at) VALUES ($1, 5, '2001-01-01') RETURNING id"],
  ['insert', 'created_by_key', 'INSERT INTO billium.invoices (merchant_id, amount, created_by_key) VALUES ($1, 5, $2) RETURNING id'],
  ['insert', 'created_by_user', 'INSERT INTO billium.invoices (merchant_id, amount, created_by_user) VALUES ($1, 5, $3) RETURNING id'],
  ['update', 'created_at', "UPDATE billium.invoices SET created_at = '2001-01-01' WHERE merchant_id = $1 AND id = $4 RETURNING id"],
  ['update', 'created_by_user', 'UPDATE billium.invoices SET created_by_user = $3 WHERE merchant_id = $1 AND id = $4 RETURNING id'],
  ['update', "status = 'paid'", "UPDATE billium.invoices SET status = 'paid' WHERE merchant_id = $1 AND id = $4 RETURNING id"],
];
class Owned extends Cmd {
  tags(model) {
    const p = model.principal(this.d.p);
    const [op] = OWNED[this.d.col % OWNED.length];
    const perms = model.permsOn(p, this.d.m);
    const tags = p.kind === 'key' ? model.keyState(p.k).tags.slice() : [];
    if (perms.has(op === 'insert' ? 'invoice:create' : 'invoice:edit')) tags.push('server-owned');
    if (op === 'insert' && p.kind === 'key' && model.keys[p.k].type === 'pk') tags.push('pk-price');
    if (op === 'insert' && perms.has('invoice:create') && !perms.has('invoice:view')) tags.push('create-only');
    return tags;
  }
  async exec(model, real) {
    const { p: pi, m, r, c } = this.d;
    const p = model.principal(pi);
    const [op, col, sql] = OWNED[this.d.col % OWNED.length];
    const inv = model.rows.invoices.filter((x) => x.m === m);
    const target = inv.length ? inv[r % inv.length] : null;
    const other = model.keys.find((k) => k.id !== model.callerKeyId(p));
    const otherUser = model.users.find((u) => !(p.kind === 'session' && model.users[p.u] === u));
    const args = [model.merchants[m].id, other.id, otherUser.id, target ? target.id : NO_ROW];
    // Only the parameters the statement uses, renumbered, each a uuid.
    const used = [...new Set((sql.match(/\$(\d)/g) || []).map((x) => Number(x.slice(1))))].sort();
    const params = used.map((i) => args[i - 1]);
    const stmt = sql.replace(/\$(\d)/g, (x, d) => `$${used.indexOf(Number(d)) + 1}::uuid`);
    const perms = model.permsOn(p, m);
    const visible = target && model.visibleRows(p, 'invoices').includes(target);
    const normal = op === 'insert' ? perms.has('invoice:create') : (visible && perms.has('invoice:edit'));
    // Setting a value the row already holds changes nothing: either answer is right.
    const unchanged = op === 'update' && col.startsWith('status') && target && target.status === 'paid';
    const out = normal ? [{ sqlstate: '42501' }, ...(col.startsWith('status') ? [{ sqlstate: '23514' }, { sqlstate: '22023' }] : []),
      ...(unchanged ? [{ ok: true, rows: 1 }] : [])]
      : (model.authFailure(p) && p.kind !== 'none' ? model.authFailure(p).out : [{ refused: true }]);
    const got = await tx(real, model, c, p, (db) => db.query(stmt, params));
    expect(got, { out, tags: this.tags(model) }, `${op} of an invoice setting ${col} on merchant ${m} as ${model.describe(p)}`);
  }
}

// Decision 7: a principal set inside a savepoint is forgotten on ROLLBACK TO SAVEPOINT.
class Savepoint extends Cmd {
  tags() { return ['savepoint']; }
  async exec(model, real) {
    const p = model.principal(this.d.p);
    const db = real.conns[this.d.c % real.conns.length];
    const [key, session] = real.credentials(model, p);
    await db.query('BEGIN');
    let kind;
    try {
      await db.query('SAVEPOINT s');
      try {
        if (session) await db.query('SELECT billium.billium_authenticate_session($1)', [session]);
        else await db.query('SELECT billium.billium_authenticate($1)', [key]);
      } catch { /* a refused credential is forgotten as well */ }
      await db.query('ROLLBACK TO SAVEPOINT s');
      kind = (await db.query('SELECT (billium.billium_current_principal()).kind')).rows[0].kind;
    } finally {
      await db.query('ROLLBACK');
    }
    if (kind !== null) throw new Discrepancy(['savepoint'], `a principal (${kind}) set inside a savepoint survives ROLLBACK TO SAVEPOINT (${model.describe(p)})`);
  }
}

const TYPES = { act: Act, invite: Invite, role: Role, narrow: Narrow, remove: Remove, transfer: Transfer, flags: Flags,
  factor: Factor, kcreate: KeyCreate, kupdate: KeyUpdate, kroll: KeyRoll, krevoke: KeyRevoke, owned: Owned, savepoint: Savepoint };
const fromDesc = (d) => new TYPES[d.t](d);

module.exports = { Discrepancy, fromDesc, TYPES, text, parsePerms, errOutcome, tx, eqSet, subset, sorted };
