'use strict';
// The merchant-scoped routes, read from examples/api/routes.json (the one list the gateway, its
// OpenAPI document and the Node SDK share): matching a request to its route, the methods a path
// allows (for 405), and the OpenAPI 3.1 document.

const fs = require('node:fs');
const path = require('node:path');

const LIST_FILE = path.join(__dirname, '..', 'api', 'routes.json');
const spec = JSON.parse(fs.readFileSync(LIST_FILE, 'utf8'));
const PREFIX = spec.prefix; // '/api/v1/merchants/merchant/{merchantId}'

// '/invoices/{invoiceId}/cancel' -> /^\/invoices\/([^/]+)\/cancel$/ and ['invoiceId'].
function compile(template) {
  const names = [];
  const source = template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  });
  return { regex: new RegExp(`^${source}$`), names };
}

const prefix = compile(PREFIX);
const PREFIX_RE = new RegExp(`^${prefix.regex.source.slice(1, -1)}(/.*)?$`);
const routes = spec.routes.map((r) => ({ ...r, ...compile(r.path) }));

// The merchant id and the rest of a path under the prefix, or null.
function splitPath(pathname) {
  const m = PREFIX_RE.exec(pathname);
  return m ? { merchantId: m[1], rest: m[2] ?? '' } : null;
}

// { route, params } for this method and rest of path; { allow: [...] } when the path exists
// under other methods only; null when no route has this path.
function match(method, rest) {
  const allow = [];
  for (const r of routes) {
    const m = r.regex.exec(rest);
    if (!m) continue;
    if (r.method === method) {
      const params = {};
      r.names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]);
      });
      return { route: r, params };
    }
    allow.push(r.method);
  }
  return allow.length ? { allow } : null;
}

const ERROR_RESPONSES = {
  400: 'The request is malformed (a path parameter, the body); checked only after the credentials and the gate',
  401: 'No credentials, or a key or session billium refuses (API_KEY_*, SESSION_*)',
  403: 'The gate refuses: PERMISSION_DENIED (required, or required_role), SECRET_KEY_REQUIRED, MERCHANT_MISMATCH, NOT_A_TEAM_MEMBER, SECURITY_REQUIREMENT_NOT_MET (missing)',
  404: 'No such object, or one row-level security hides',
  429: 'RATE_LIMITED: the merchant\'s bucket is empty (Retry-After, retry_after_ms)',
};

// The OpenAPI 3.1 document: one operation per route, its rule from billium.actions (catalog: a
// Map of name -> {permission, role, secret_only}) as x-billium-* extensions.
function openapi(catalog) {
  const ref = (name) => ({ $ref: `#/components/schemas/${name}` });
  const paths = {};
  const params = (template) => [...`${PREFIX}${template}`.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
    name, in: 'path', required: true,
    schema: name === 'reportId' ? { type: 'string' } : { type: 'string', format: 'uuid' },
  }));
  for (const r of spec.routes) {
    const key = `${PREFIX}${r.path}`;
    const rule = catalog.get(r.action) ?? {};
    const responses = {};
    const body = r.response ? (r.list ? { type: 'array', items: ref(r.response) } : ref(r.response)) : undefined;
    responses[String(r.status)] = {
      description: r.summary,
      ...(body && { content: { 'application/json': { schema: body } } }),
    };
    for (const [status, description] of Object.entries(ERROR_RESPONSES))
      responses[status] = { description, content: { 'application/json': { schema: ref('Error') } } };
    paths[key] ??= { parameters: params(r.path) };
    paths[key][r.method.toLowerCase()] = {
      operationId: r.action,
      summary: r.summary,
      'x-billium-action': r.action,
      ...(rule.permission && { 'x-billium-permission': rule.permission }),
      ...(rule.role && { 'x-billium-role': rule.role }),
      'x-billium-public-key': rule.secret_only === false,
      'x-sdk-method': r.sdk,
      ...(r.body && { requestBody: { required: true, content: { 'application/json': { schema: ref(r.body) } } } }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'billium reference gateway',
      version: '0.6.0',
      description: 'Every action of billium.actions; each request is one transaction in which the database decides.',
    },
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }, { session: [] }],
    paths,
    components: {
      schemas: spec.schemas,
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        session: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
      },
    },
  };
}

module.exports = { PREFIX, routes, splitPath, match, openapi, spec };
