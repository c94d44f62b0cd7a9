'use strict';
// The reference model of billium's authorization rules, written from the spec
// (/work/shared/spec/billium-authentication.txt), the README's documented readings (MEMBER's 15)
// and the project's decisions for issue 12 (docs/testing.md lists them). It never asks billium for
// a verdict: only the permission names (bit order) and the action catalog (which permission an
// action needs, whether a pk key may call it) are read from the database.
//
// Verdicts are lists of acceptable outcomes (where the spec leaves the order of two refusals open,
// either is right):  {ok: true} | {status, code} (billium's JSON envelope) | {sqlstate} |
// {refused: true} (row-level security: an error 42501 or no row touched).
// Each prediction carries `tags`: the rules of the decisions it relies on. A discrepancy is
// classified by them, and a known, issue-tracked class can be left out of random runs.

const DOMAINS = {
  merchant: ['merchant:view', 'merchant:edit', 'merchant:delete', 'merchant:billing'],
  invoice: ['invoice:view', 'invoice:create', 'invoice:edit', 'invoice:delete'],
  product: ['product:view', 'product:create', 'product:edit', 'product:delete'],
  customer: ['customer:view', 'customer:edit', 'customer:delete'],
  team: ['team:view', 'team:invite', 'team:remove', 'team:manage_roles'],
  api_key: ['api_key:view', 'api_key:create', 'api_key:edit', 'api_key:delete'],
  webhook: ['webhook:view', 'webhook:create', 'webhook:edit', 'webhook:delete'],
  checkout: ['checkout:view', 'checkout:edit'],
  wallet: ['wallet:view', 'wallet:create', 'wallet:edit', 'wallet:delete'],
  report: ['report:view'],
};
const ALL = Object.values(DOMAINS).flat();
const set = (names) => new Set(names);
const has = (s, p) => s.has(p);
const inter = (...ss) => set([...ss[0]].filter((p) => ss.every((s) => s.has(p))));
const minus = (a, b) => set([...a].filter((p) => !b.has(p)));
const union = (a, b) => set([...a, ...b]);
const subset = (a, b) => [...a].every((p) => b.has(p));
const sorted = (s) => ALL.filter((p) => s.has(p)); // bit order, as billium prints them
const eqSet = (a, b) => a.size === b.size && subset(a, b);

// Spec: "Roles" and README's reading of MEMBER's 15.
const ROLE_CAP = {
  OWNER: set(ALL),
  ADMIN: minus(set(ALL), set(['merchant:delete', 'merchant:billing'])),
  MEMBER: set(['merchant:view', 'invoice:view', 'invoice:create', 'invoice:edit', 'product:view', 'product:create',
    'product:edit', 'wallet:view', 'wallet:create', 'wallet:edit', 'customer:view', 'customer:edit', 'team:view',
    'api_key:view', 'webhook:view']),
  VIEWER: set(Object.values(DOMAINS).map((d) => d[0])),
};
// Spec: "API key permissions".
const TYPE_CAP = { sk: set(ALL), pk: set(['invoice:create', 'invoice:view', 'product:view']) };
const FACTORS = ['tfa', 'passkey', 'googleLogin', 'githubLogin', 'emailVerified'];

// Decision 3: a grant holding a permission of a domain other than the create-like ones and view
// must hold the domain's view. Returns the missing views.
function missingViews(grant) {
  const missing = [];
  for (const perms of Object.values(DOMAINS)) {
    const view = perms[0];
    const needs = perms.some((p) => grant.has(p) && p !== view && !p.endsWith(':create') && p !== 'team:invite');
    if (needs && !grant.has(view)) missing.push(view);
  }
  return missing;
}

const DAY = 86400e3;

class Model {
  constructor(fx, actions) {
    this.actions = actions; // [{name, permission, secret_only}]
    this.now = () => Date.now();
    this.merchants = [
      { id: fx.a, flags: [false, false, false, false, false] },
      { id: fx.b, flags: [false, false, false, false, false] },
    ];
    const user = (name, id) => ({ name, id, factors: [false, false, false, false, false] });
    this.users = [user('owner_a', fx.owner_a), user('admin_a', fx.admin_a), user('member_a', fx.member_a),
      user('viewer_a', fx.viewer_a), user('owner_b', fx.owner_b), user('member_b', fx.member_b),
      user('outsider', fx.outsider)];
    this.team = new Map(); // `${m}/${u}` -> {role, grant}
    const member = (m, u, role) => this.team.set(`${m}/${u}`, { role, grant: set(ROLE_CAP[role]) });
    member(0, 0, 'OWNER'); member(0, 1, 'ADMIN'); member(0, 2, 'MEMBER'); member(0, 3, 'VIEWER');
    member(1, 4, 'OWNER'); member(1, 5, 'MEMBER');
    // keys: {id, plain, m, type, grant, creator (user index), parent (key index|null), expires (ms|null), revoked}
    this.keys = [];
    const key = (name, m, type, grant) => this.keys.push({ name, id: fx[`${name}_id`], plain: fx[name], m, type,
      grant: set(grant), creator: m === 0 ? 0 : 4, parent: null, expires: null, revoked: false });
    key('sk_a', 0, 'sk', ALL);
    key('pk_a', 0, 'pk', TYPE_CAP.pk);
    key('sk_b', 1, 'sk', ALL);
    this.unknownKey = fx.unknown;
    // rows: table -> [{id, m, ...}]
    this.rows = { invoices: [], products: [], customers: [], webhooks: [], wallets: [] };
  }

  // --- principals -------------------------------------------------------------------------
  // 0 none, 1 malformed key, 2 unknown key, then one session per user, then every key; see principal().
  principals() {
    return 3 + this.users.length + this.keys.length;
  }
  principal(i) {
    // 100 and up: the most recent keys (100 the newest), so "make a key, then use it" is common.
    if (i >= 100) return { kind: 'key', k: this.keys.length - 1 - ((i - 100) % this.keys.length) };
    i %= this.principals();
    if (i === 0) return { kind: 'none' };
    if (i === 1) return { kind: 'malformed', plain: 'sk_not_a_key' };
    if (i === 2) return { kind: 'unknown', plain: this.unknownKey };
    if (i < 3 + this.users.length) return { kind: 'session', u: i - 3 };
    return { kind: 'key', k: i - 3 - this.users.length };
  }
  describe(p) {
    if (p.kind === 'session') return `session(${this.users[p.u].name})`;
    if (p.kind === 'key') {
      const k = this.keys[p.k];
      return `key#${p.k}(${k.name || k.type})`;
    }
    return p.kind;
  }

  member(m, u) {
    return this.team.get(`${m}/${u}`);
  }
  ownerOf(m) {
    for (const [k, v] of this.team) if (v.role === 'OWNER' && Number(k.split('/')[0]) === m) return Number(k.split('/')[1]);
    return -1;
  }
  // A user's current permissions on a merchant: the grant within the role's cap (none off the team).
  userPerms(m, u) {
    const t = this.member(m, u);
    return t ? inter(t.grant, ROLE_CAP[t.role]) : set([]);
  }
  missingFactors(m, u) {
    return FACTORS.filter((_, i) => this.merchants[m].flags[i] && !this.users[u].factors[i]);
  }

  // A key's state: {valid} or {codes: [...], tags}. Decision 2: valid only while every ancestor is.
  keyState(ki, at = this.now()) {
    const k = this.keys[ki];
    if (k.revoked) return { valid: false, codes: ['API_KEY_REVOKED'], tags: k.cascaded ? ['child-keys'] : [] };
    if (k.expires !== null && k.expires <= at) return { valid: false, codes: ['API_KEY_EXPIRED'], tags: [] };
    for (let a = k.parent; a !== null; a = this.keys[a].parent) {
      const p = this.keys[a];
      if (p.revoked || (p.expires !== null && p.expires <= at))
        return { valid: false, codes: ['API_KEY_REVOKED', 'API_KEY_EXPIRED'], tags: ['child-keys'] };
    }
    return { valid: true, tags: k.parent !== null ? ['child-keys'] : [] };
  }
  // Effective permissions of a key on its merchant: grant ∩ type cap ∩ creator's current permissions.
  keyPerms(ki) {
    const k = this.keys[ki];
    return inter(k.grant, TYPE_CAP[k.type], this.userPerms(k.m, k.creator));
  }
  // The least expiry over a key and its ancestors (null: none).
  effectiveExpiry(ki) {
    let e = null;
    for (let a = ki; a !== null; a = this.keys[a].parent) {
      const x = this.keys[a].expires;
      if (x !== null && (e === null || x < e)) e = x;
    }
    return e;
  }

  // Credentials of a principal (JWTs are signed by the driver).
  // What the principal may do on merchant m; null when it is not a valid principal at all.
  permsOn(p, m) {
    if (p.kind === 'session') {
      if (!this.member(m, p.u) || this.missingFactors(m, p.u).length) return set([]);
      return this.userPerms(m, p.u);
    }
    if (p.kind === 'key') {
      if (!this.keyState(p.k).valid || this.keys[p.k].m !== m) return set([]);
      return this.keyPerms(p.k);
    }
    return set([]);
  }
  // The 401s of a principal, before any merchant is looked at; null when it authenticates.
  authFailure(p) {
    if (p.kind === 'none') return { out: [{ status: 401, code: 'API_KEY_MISSING' }], tags: [] };
    if (p.kind === 'malformed') return { out: [{ status: 401, code: 'API_KEY_MALFORMED' }], tags: [] };
    if (p.kind === 'unknown') return { out: [{ status: 401, code: 'API_KEY_INVALID' }], tags: [] };
    if (p.kind === 'key') {
      const s = this.keyState(p.k);
      if (!s.valid) return { out: s.codes.map((code) => ({ status: 401, code })), tags: s.tags };
    }
    return null;
  }

  // The gate: billium_authorize(action, merchant).
  gate(p, actionName, m) {
    const a = this.actions.find((x) => x.name === actionName);
    const fail = this.authFailure(p);
    if (fail) return fail;
    const tags = p.kind === 'key' ? this.keyState(p.k).tags : [];
    if (p.kind === 'key') {
      const k = this.keys[p.k];
      if (k.m !== m) return { out: [{ status: 403, code: 'MERCHANT_MISMATCH' }], tags };
      const perms = this.keyPerms(p.k);
      const out = [];
      if (k.type === 'pk' && a.secret_only) out.push({ status: 403, code: 'SECRET_KEY_REQUIRED' });
      // An action ruled by a team role (the OWNER's transfer) is a person's: no key holds a role.
      if (a.role || !perms.has(a.permission)) out.push({ status: 403, code: 'PERMISSION_DENIED' });
      return { out: out.length ? out : [{ ok: true }], tags };
    }
    // a dashboard session
    if (!this.member(m, p.u)) return { out: [{ status: 403, code: 'NOT_A_TEAM_MEMBER' }], tags };
    const out = [];
    const missing = this.missingFactors(m, p.u);
    if (missing.length) out.push({ status: 403, code: 'SECURITY_REQUIREMENT_NOT_MET', missing });
    const allowed = a.role ? this.member(m, p.u).role === a.role : this.userPerms(m, p.u).has(a.permission);
    if (!allowed) out.push({ status: 403, code: 'PERMISSION_DENIED' });
    return { out: out.length ? out : [{ ok: true }], tags };
  }
  // The caller's key id when it is a key (invoices it made), and its kind.
  callerKeyId(p) {
    return p.kind === 'key' ? this.keys[p.k].id : null;
  }

  // --- row-level security: which rows a principal sees -----------------------------------
  visibleMerchants(p, perm) {
    return [0, 1].filter((m) => this.permsOn(p, m).has(perm));
  }
  visibleRows(p, table) {
    const dom = TABLE_DOMAIN[table];
    const ms = this.visibleMerchants(p, `${dom}:view`);
    if (table === 'invoices' && p.kind === 'key' && this.keys[p.k].type === 'pk')
      return this.rows.invoices.filter((r) => ms.includes(r.m) && r.createdByKey === this.keys[p.k].id);
    return this.rows[table].filter((r) => ms.includes(r.m));
  }
}

const TABLE_DOMAIN = { invoices: 'invoice', products: 'product', customers: 'customer', webhooks: 'webhook',
  wallets: 'wallet' };

module.exports = { Model, DOMAINS, ALL, ROLE_CAP, TYPE_CAP, FACTORS, TABLE_DOMAIN, DAY, missingViews,
  set, inter, minus, union, subset, sorted, eqSet, has };
