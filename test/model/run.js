'use strict';
// The model-based check of billium (issue 12): random sequences of commands by random principals,
// each on one of several backends, against the reference model in model.js. Prints TAP lines.
//
//   node run.js            replay regressions/*.json, then random sequences (MODEL_SEED, MODEL_RUNS,
//                          MODEL_SECONDS, MODEL_MAX_COMMANDS); a failure is shrunk and stored
//   node run.js --fuzz     the same with the seed from the clock and only the time bound
//
// Connects with the PG* environment as a superuser: it makes the template database, the login
// role (billium_api only) the commands run as, and the server-level HS256 secret (ALTER SYSTEM,
// reset at the end). Known, issue-tracked discrepancy classes (known-discrepancies.txt, or
// BILLIUM_MODEL_KNOWN=a,b) are left out of random runs and their regression cases report TODO.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const fc = require('fast-check');
const { Client } = require('pg');
const { Model, ALL, TYPE_CAP, inter, subset, sorted, eqSet } = require('./model');
const C = require('./commands');

const FUZZ = process.argv.includes('--fuzz');
const SEED = Number(process.env.MODEL_SEED || (FUZZ ? Date.now() % 2147483647 : 20261202));
const RUNS = Number(process.env.MODEL_RUNS || (FUZZ ? 1e9 : 120));
const SECONDS = Number(process.env.MODEL_SECONDS || (FUZZ ? 600 : 150));
const MAX_COMMANDS = Number(process.env.MODEL_MAX_COMMANDS || 40);
const CONNS = 3;
const HERE = __dirname;
const REGRESSIONS = process.env.MODEL_REGRESSIONS || path.join(HERE, 'regressions');
const TPL = `billium_model_tpl_${process.pid}`;
const RUNDB = `billium_model_run_${process.pid}`;
const ROLE = 'billium_model';
let SECRET = crypto.randomBytes(32).toString('hex');
let secretSet = false;

let passed = 0;
let failed = 0;
let todo = 0;
const ok = (msg) => { passed++; console.log(`ok - ${msg}`); };
const notOk = (msg, knownAs) => {
  if (knownAs) { todo++; console.log(`not ok - ${msg} # TODO known discrepancy (${knownAs}), issue 12`); }
  else { failed++; console.log(`not ok - ${msg}`); }
};
const diag = (text) => console.log(String(text).split('\n').map((l) => `# ${l}`).join('\n'));

function knownClasses() {
  const out = new Map();
  const file = process.env.BILLIUM_MODEL_KNOWN_FILE || path.join(HERE, 'known-discrepancies.txt');
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const t = line.replace(/#.*/, '').trim();
      if (t) out.set(t.split(/\s+/)[0], t);
    }
  }
  if (process.env.BILLIUM_MODEL_KNOWN !== undefined) {
    out.clear();
    for (const t of process.env.BILLIUM_MODEL_KNOWN.split(',').map((x) => x.trim()).filter(Boolean)) out.set(t, t);
  }
  return out;
}

function signSession(userId) {
  const b64 = (d) => Buffer.from(d).toString('base64url');
  const h = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const c = b64(JSON.stringify({ sub: userId, exp: Math.floor(Date.now() / 1000) + 3600 }));
  return `${h}.${c}.${crypto.createHmac('sha256', SECRET).update(`${h}.${c}`).digest('base64url')}`;
}

async function connect(database, user) {
  const c = new Client({ database, user, application_name: 'billium-model' });
  await c.connect();
  c.on('error', () => {});
  return c;
}

// --- the template, made once per process --------------------------------------------------------
let ctx;
async function prepare() {
  const admin = await connect('postgres');
  await admin.query(`DROP DATABASE IF EXISTS ${RUNDB} WITH (FORCE)`);
  await admin.query(`DROP DATABASE IF EXISTS ${TPL} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TPL}`);
  const roleExists = (await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [ROLE])).rowCount;
  if (!roleExists) await admin.query(`CREATE ROLE ${ROLE} LOGIN`);
  // The HS256 secret is the server's (decision 8): postgresql.auto.conf, reloaded. One already set
  // in the server's configuration (another run's, an operator's) is used as it is.
  const cur = (await admin.query(`SELECT current_setting('billium.jwt_secret', true) AS s`)).rows[0].s;
  if (cur) {
    SECRET = cur;
  } else {
    await admin.query(`ALTER SYSTEM SET billium.jwt_secret = '${SECRET}'`);
    await admin.query('SELECT pg_reload_conf()');
    secretSet = true;
  }
  const tpl = await connect(TPL);
  await tpl.query('CREATE EXTENSION billium');
  const newest = (await tpl.query(`SELECT version FROM pg_available_extension_versions WHERE name = 'billium'
    ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1`)).rows[0].version;
  await tpl.query(`ALTER EXTENSION billium UPDATE TO '${newest}'`);
  // The fixtures' functions: the test-only extension where there is one (0.6.0 on), else billium's own.
  if ((await tpl.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'billium_test'`)).rowCount)
    await tpl.query('CREATE EXTENSION billium_test');
  await tpl.query(`GRANT billium_api TO ${ROLE}`); // the extension makes billium_api
  await tpl.end();
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', TPL, '-f', path.join(HERE, 'setup.sql')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const t2 = await connect(TPL);
  const fx = Object.fromEntries((await t2.query('SELECT k, v FROM public.model_fixture')).rows.map((r) => [r.k, r.v]));
  const actions = (await t2.query('SELECT name, permission, role, secret_only FROM billium.actions WHERE builtin ORDER BY name')).rows;
  const perms = (await t2.query('SELECT name FROM billium.permissions ORDER BY bit')).rows.map((r) => r.name);
  const hasProductId = (await t2.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'billium.invoices'::regclass
    AND attname = 'product_id' AND NOT attisdropped`)).rows[0].n === 1;
  const rows = {};
  for (const t of ['invoices', 'products', 'customers', 'webhooks', 'wallets']) {
    rows[t] = (await t2.query(`SELECT * FROM billium.${t} ORDER BY merchant_id, id`)).rows;
  }
  await t2.end();
  if (JSON.stringify(perms) !== JSON.stringify(ALL)) throw new Error('billium.permissions differs from the spec\'s 34 permissions');
  // The secret is in force once a fresh backend verifies a session.
  for (let i = 0; ; i++) {
    const c = await connect(TPL, ROLE);
    try {
      await c.query('BEGIN');
      await c.query('SELECT billium.billium_authenticate_session($1)', [signSession(fx.owner_a)]);
      await c.end();
      break;
    } catch (e) {
      await c.end();
      if (i > 50) throw new Error(`sessions do not verify with the server-level secret: ${e.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  ctx = { admin, fx, actions, hasProductId, rows, version: newest };
}
async function cleanup() {
  if (!ctx) return;
  await ctx.admin.query(`DROP DATABASE IF EXISTS ${RUNDB} WITH (FORCE)`).catch(() => {});
  await ctx.admin.query(`DROP DATABASE IF EXISTS ${TPL} WITH (FORCE)`).catch(() => {});
  if (secretSet) {
    await ctx.admin.query('ALTER SYSTEM RESET billium.jwt_secret').catch(() => {});
    await ctx.admin.query('SELECT pg_reload_conf()').catch(() => {});
  }
  await ctx.admin.end();
}

// --- one sequence's model and real side ------------------------------------------------------------
function newModel(known) {
  const model = new Model(ctx.fx, ctx.actions);
  const keyName = { [ctx.fx.pk_a_id]: 'pk_a' };
  for (const [t, rows] of Object.entries(ctx.rows)) {
    model.rows[t] = rows.map((r) => ({ id: r.id, m: r.merchant_id === ctx.fx.a ? 0 : 1, createdByKey: r.created_by_key || null,
      status: r.status, price: r.price, from: keyName[r.created_by_key] }));
  }
  model.known = known;
  return model;
}

class Real {
  constructor(admin, conns) { this.admin = admin; this.conns = conns; this.hasProductId = ctx.hasProductId; this.jwt = new Map(); }
  credentials(model, p) {
    if (p.kind === 'session') {
      const id = model.users[p.u].id;
      if (!this.jwt.has(id)) this.jwt.set(id, signSession(id));
      return ['', this.jwt.get(id)];
    }
    if (p.kind === 'key') return [model.keys[p.k].plain, ''];
    if (p.kind === 'malformed' || p.kind === 'unknown') return [p.plain, ''];
    return ['', ''];
  }
  // The created key as stored: its creator, parent and expiry.
  async checkLineage(model, ki, tags, caller) {
    const k = model.keys[ki];
    const r = (await this.admin.query('SELECT created_by, created_by_key, expires_at FROM billium.api_keys WHERE id = $1', [k.id])).rows[0];
    const parent = k.parent === null ? null : model.keys[k.parent].id;
    const problems = [];
    if (r.created_by !== model.users[k.creator].id) problems.push(`creator ${r.created_by}, the model ${model.users[k.creator].name}`);
    if (r.created_by_key !== parent) problems.push(`parent ${r.created_by_key}, the model ${parent}`);
    const got = r.expires_at === null ? null : r.expires_at.getTime();
    if ((got === null) !== (k.expires === null) || (got !== null && Math.abs(got - k.expires) > 60e3))
      problems.push(`expires_at ${r.expires_at && r.expires_at.toISOString()}, the model ${k.expires && new Date(k.expires).toISOString()}`);
    if (got !== null) k.expires = got; // the database's clock from now on
    if (problems.length) throw new C.Discrepancy(tags, `key#${ki} made by ${model.describe(caller)}: ${problems.join('; ')}`);
  }
  // After every command: every key's verdict in every backend, every user's permissions.
  async invariants(model, cmd) {
    const plains = model.keys.map((k) => k.plain);
    for (let c = 0; c < this.conns.length; c++) {
      const { rows } = await this.conns[c].query('SELECT i, perms, code FROM public.model_verify($1::text[]) ORDER BY i', [plains]);
      for (const r of rows) {
        const ki = r.i - 1;
        const k = model.keys[ki];
        const st = model.keyState(ki);
        const where = `after ${cmd}: key#${ki} (${k.name}) in backend ${c}`;
        if (r.perms !== null) {
          const got = C.parsePerms(r.perms);
          // The invariant, whatever the model says: within the type cap and the creator's permissions.
          const bound = inter(TYPE_CAP[k.type], model.userPerms(k.m, k.creator));
          if (!subset(got, bound))
            throw new C.Discrepancy(['escalation', ...st.tags], `${where} holds ${sorted(got).join(',')} beyond its type cap and creator's permissions`);
          if (!st.valid) throw new C.Discrepancy(st.tags, `${where} is accepted; the model: ${st.codes.join(' or ')}`);
          const want = model.keyPerms(ki);
          if (!eqSet(got, want)) throw new C.Discrepancy(st.tags, `${where} holds ${r.perms}, the model {${sorted(want).join(',')}}`);
        } else {
          if (st.valid) throw new C.Discrepancy(st.tags, `${where} is refused (${r.code}); the model: valid`);
          if (!st.codes.includes(r.code)) throw new C.Discrepancy(st.tags, `${where} is refused with ${r.code}; the model: ${st.codes.join(' or ')}`);
        }
      }
    }
    // Every user's session, in every backend: one round trip per user and backend (the token is
    // base64url, safe as a literal).
    const [ma, mb] = [model.merchants[0].id, model.merchants[1].id];
    for (let c = 0; c < this.conns.length; c++) {
      for (let u = 0; u < model.users.length; u++) {
        const p = { kind: 'session', u };
        const jwt = this.credentials(model, p)[1];
        let res;
        try {
          res = await this.conns[c].query(`BEGIN; SELECT set_config('billium.session', '${jwt}', true);
            SELECT billium.billium_principal_permissions('${ma}')::text AS a, billium.billium_principal_permissions('${mb}')::text AS b;
            ROLLBACK`);
        } catch (e) {
          await this.conns[c].query('ROLLBACK');
          throw new C.Discrepancy([], `after ${cmd}: ${model.users[u].name}'s session in backend ${c}: ${e.code} ${e.message}`);
        }
        const row = res[2].rows[0];
        for (const [m, t] of [[0, row.a], [1, row.b]]) {
          const want = model.permsOn(p, m);
          if (!eqSet(C.parsePerms(t), want))
            throw new C.Discrepancy([], `after ${cmd}: ${model.users[u].name}'s session holds ${t} on merchant ${'AB'[m]} in backend ${c}, the model {${sorted(want).join(',')}}`);
        }
      }
    }
  }
  async close() {
    for (const c of this.conns) await c.end().catch(() => {});
    await this.admin.end().catch(() => {});
  }
}

async function fresh(known) {
  await ctx.admin.query(`DROP DATABASE IF EXISTS ${RUNDB} WITH (FORCE)`);
  await ctx.admin.query(`CREATE DATABASE ${RUNDB} TEMPLATE ${TPL}`);
  const conns = [];
  for (let i = 0; i < CONNS; i++) conns.push(await connect(RUNDB, ROLE));
  return { model: newModel(known), real: new Real(await connect(RUNDB), conns) };
}

// --- the commands' arbitraries ------------------------------------------------------------------------
// Any principal; the newest keys; the fixtures' most powerful ones (owner_a, admin_a, owner_b,
// sk_a, sk_b), who can make keys and grants for the others to use.
const principal = fc.oneof(fc.nat({ max: 40 }), fc.integer({ min: 100, max: 102 }), fc.constantFrom(3, 4, 7, 10, 12));
const ownMerchant = fc.nat({ max: 2 }); // 2: the principal's own
const conn = fc.nat({ max: CONNS - 1 });
const merchant = fc.nat({ max: 1 });
const grant = fc.record({ mode: fc.nat({ max: 5 }), seed: fc.nat() });
const user = fc.nat({ max: 6 });
const keyIx = fc.nat({ max: 30 });
const mk = (t, rec) => fc.record(rec).map((d) => C.fromDesc({ t, ...d }));
// Built once the catalog is read: one arbitrary draws only the create actions (the rows a
// create-only grant must get back are otherwise rare).
let arbs;
function buildArbs() {
  const creates = ctx.actions.map((a, i) => (a.name.endsWith('.create') && !a.name.startsWith('api_keys') ? i : -1)).filter((i) => i >= 0);
  arbs = [
  mk('act', { p: principal, a: fc.constantFrom(...creates), m: ownMerchant, r: fc.nat({ max: 50 }), c: conn }),
  mk('act', { p: principal, a: fc.nat({ max: 200 }), m: merchant, r: fc.nat({ max: 50 }), c: conn }),
  mk('act', { p: principal, a: fc.nat({ max: 200 }), m: merchant, r: fc.nat({ max: 50 }), c: conn }),
  mk('act', { p: principal, a: fc.nat({ max: 200 }), m: merchant, r: fc.nat({ max: 50 }), c: conn }),
  mk('invite', { p: principal, m: merchant, u: user, role: fc.nat({ max: 3 }), g: grant, c: conn }),
  mk('role', { p: principal, m: merchant, u: user, role: fc.nat({ max: 3 }), c: conn }),
  mk('narrow', { p: principal, m: merchant, u: user, g: grant, c: conn }),
  mk('remove', { p: principal, m: merchant, u: user, c: conn }),
  mk('transfer', { p: principal, m: merchant, u: user, c: conn }),
  mk('flags', { p: principal, m: merchant, f: fc.nat({ max: 4 }), c: conn }),
  mk('factor', { u: user, f: fc.nat({ max: 4 }), v: fc.boolean() }),
  mk('kcreate', { p: principal, m: ownMerchant, type: fc.constantFrom('sk', 'sk', 'pk'), g: grant, e: fc.nat({ max: 3 }), c: conn }),
  mk('kcreate', { p: principal, m: ownMerchant, type: fc.constantFrom('sk', 'sk', 'pk'), g: grant, e: fc.nat({ max: 3 }), c: conn }),
  mk('kupdate', { p: principal, k: keyIx, g: grant, c: conn }),
  mk('kroll', { p: principal, k: keyIx, grace: fc.nat({ max: 3 }), c: conn }),
  mk('krevoke', { p: principal, k: keyIx, c: conn }),
  mk('owned', { p: principal, m: merchant, col: fc.nat({ max: 6 }), r: fc.nat({ max: 20 }), c: conn }),
  mk('savepoint', { p: principal, c: conn }),
  ];
}

let sequences = 0;
let commands = 0;
async function runSequence(descs, known) {
  const { model, real } = await fresh(known);
  sequences++;
  try {
    for (const d of descs) {
      await C.fromDesc(d).run(model, real);
    }
  } finally {
    await real.close();
  }
}

function tagsOf(err) { return err && err.tags ? err.tags : ['harness']; }
function knownAs(tags, known) { const k = tags.filter((t) => known.has(t)); return k.length ? k.join(', ') : null; }

async function replayRegressions(known) {
  if (!fs.existsSync(REGRESSIONS)) return;
  const files = fs.readdirSync(REGRESSIONS).filter((f) => f.endsWith('.json')).sort();
  for (const f of files) {
    const rec = JSON.parse(fs.readFileSync(path.join(REGRESSIONS, f), 'utf8'));
    try {
      await runSequence(rec.commands, new Set());
      ok(`regression ${f} (${rec.commands.length} commands, found as ${rec.tags.join(', ')}) replays without a discrepancy`);
      const still = rec.tags.filter((t) => known.has(t));
      if (still.length) diag(`${still.join(', ')} no longer fails here: remove it from known-discrepancies.txt`);
    } catch (e) {
      const tags = tagsOf(e);
      notOk(`regression ${f}: ${e.message}`, knownAs(tags, known));
    }
  }
}

async function save(tags, descs, message) {
  fs.mkdirSync(REGRESSIONS, { recursive: true });
  let story = [];
  try { await runSequence(descs, new Set()); } catch (e) { story = e.log || []; }
  const body = JSON.stringify(descs);
  const name = `${tags.join('+')}-${crypto.createHash('sha256').update(body).digest('hex').slice(0, 8)}.json`;
  const file = path.join(REGRESSIONS, name);
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, `${JSON.stringify({ tags, found: new Date().toISOString().slice(0, 10), seed: SEED, message,
      story, commands: descs }, null, 1)}\n`);
  }
  return { name, story };
}

async function random(known) {
  const deadline = Date.now() + SECONDS * 1000;
  const skip = new Set(known.keys());
  let seed = SEED;
  let left = RUNS;
  const found = [];
  while (left > 0 && Date.now() < deadline) {
    const before = sequences;
    const prop = fc.asyncProperty(fc.commands(arbs, { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
      const { model, real } = await fresh(skip);
      sequences++;
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      } finally {
        await real.close();
      }
    });
    const res = await fc.check(prop, { seed, numRuns: left, interruptAfterTimeLimit: Math.max(1000, deadline - Date.now()),
      markInterruptAsFailure: false, endOnFailure: false });
    left -= res.numRuns;
    if (!res.failed) break;
    const descs = [...res.counterexample[0].commands].filter((c) => c.hasRan).map((c) => c.cmd.d);
    const err = res.errorInstance;
    const tags = tagsOf(err);
    const { name, story } = await save(tags, descs, err && err.message);
    found.push(tags);
    notOk(`model: ${err && err.message} (seed ${seed}, shrunk to ${descs.length} commands, stored as regressions/${name})`,
      knownAs(tags, known));
    diag(descs.map((d, i) => `${JSON.stringify(d)}${story[i] ? `   ${story[i]}` : ''}`).join('\n'));
    if (err && !err.tags) diag(err.stack);
    for (const t of tags) skip.add(t);
    if (tags[0] === 'harness' || tags[0] === 'model') skip.add(`__stop`);
    if (skip.has('__stop')) break;
    seed += 1;
  }
  return found;
}

// --annotate: replay each stored case and rewrite its story (the commands in words).
async function annotate() {
  for (const f of fs.readdirSync(REGRESSIONS).filter((x) => x.endsWith('.json')).sort()) {
    const file = path.join(REGRESSIONS, f);
    const rec = JSON.parse(fs.readFileSync(file, 'utf8'));
    try { await runSequence(rec.commands, new Set()); rec.story = []; } catch (e) { rec.story = e.log || []; }
    const { commands: cmds, ...rest } = rec;
    fs.writeFileSync(file, `${JSON.stringify({ ...rest, commands: cmds }, null, 1)}\n`);
    console.log(`# ${f}: ${rec.story.join(' | ')}`);
  }
}

async function main() {
  const known = knownClasses();
  await prepare();
  buildArbs();
  if (process.argv.includes('--annotate')) {
    try { await annotate(); } finally { await cleanup(); }
    return;
  }
  console.log(`# billium ${ctx.version}; seed ${SEED}; ${RUNS === 1e9 ? 'no' : RUNS} sequence bound, ${SECONDS} s, at most ${MAX_COMMANDS} commands each, ${CONNS} backends`);
  console.log(`# known discrepancy classes (left out of random runs): ${[...known.keys()].join(', ') || 'none'}`);
  const started = Date.now();
  try {
    await replayRegressions(known);
    const found = await random(known);
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    if (!found.length) ok(`model: ${sequences} sequences, ${commands} commands in ${secs} s, no discrepancy (seed ${SEED})`);
    console.log(`# ${sequences} sequences, ${commands} commands run in ${secs} s; failures: ${found.length ? found.map((t) => t.join('+')).join(', ') : 'none'}`);
  } finally {
    await cleanup();
  }
  console.log(`# ${passed} passed, ${failed} failed, ${todo} todo`);
  process.exit(failed ? 1 : 0);
}

// Commands counted as they run.
const origRun = Object.getPrototypeOf(C.TYPES.act.prototype).run;
Object.getPrototypeOf(C.TYPES.act.prototype).run = function run(model, real) { commands++; return origRun.call(this, model, real); };
// Interrupted: still drop the databases and reset the server-level secret.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup().finally(() => process.exit(130)); });
main().catch(async (e) => {
  console.log(`not ok - model harness: ${e.message}`);
  diag(e.stack);
  await cleanup().catch(() => {});
  process.exit(1);
});
