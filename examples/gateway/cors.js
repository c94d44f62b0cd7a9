'use strict';
// CORS for the reference gateway: what lets a page on another origin call the API with a pk key,
// and what stops a secret key from being used there.
//
// A pk key may call every merchant-scoped route; where the catalog refuses it, the page must be
// able to read the 403 SECRET_KEY_REQUIRED, so every route of examples/api/routes.json answers
// CORS, for the allowed origins only. The grant never includes credentials: the key travels in
// x-api-key, never in a cookie, and Access-Control-Allow-Credentials is never sent. Nor is
// `authorization` an allowed header: dashboard sessions are not for cross-origin pages.
//
// Environment:
//   CORS_ALLOWED_ORIGINS        origins allowed for every merchant, comma-separated
//                               (https://shop.example,http://127.0.0.1:5173), or * for any origin;
//                               unset: none (no page may call the API)
//   CORS_MERCHANT_ORIGINS_FILE  a JSON file {"<merchant id>": ["https://shop.example", ...]}: origins
//                               allowed for that merchant's routes only, besides the above; re-read
//                               when it changes, so a merchant's list changes without a restart
//   SECRET_KEY_IN_BROWSER       refuse (default): an sk_ key arriving with an Origin header is
//                               refused with 403 SECRET_KEY_IN_BROWSER; allow: no such check

const fs = require('node:fs');

const ALLOWED_HEADERS = 'content-type, x-api-key, x-request-id';
const EXPOSED_HEADERS = 'x-request-id, retry-after, ratelimit, ratelimit-policy';
const MAX_AGE = '600';

// An origin as browsers send it: scheme://host[:port], lower case, no path; an IPv6 host in brackets.
const ORIGIN = /^https?:\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$/;

function parseOrigins(text, source) {
  const origins = new Set();
  for (const item of (text ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const origin = item.replace(/\/+$/, '').toLowerCase();
    if (origin !== '*' && !ORIGIN.test(origin))
      throw new Error(`${source}: ${JSON.stringify(item)} is not an origin (scheme://host[:port])`);
    origins.add(origin);
  }
  return origins;
}

// The merchant file, re-read when its mtime changes; a broken file grants nothing (and says so).
function merchantOrigins(file) {
  let stamp = null;
  let table = new Map();
  return (merchantId) => {
    if (!file) return null;
    try {
      const mtime = fs.statSync(file).mtimeMs;
      if (mtime !== stamp) {
        const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
        const next = new Map();
        for (const [id, list] of Object.entries(doc ?? {})) {
          if (!Array.isArray(list)) throw new Error(`the entry of ${id} is not an array`);
          next.set(id.toLowerCase(), parseOrigins(list.join(','), `${file}, ${id}`));
        }
        table = next;
        stamp = mtime;
      }
    } catch (err) {
      console.error(`cors: ${file} not used (${err.message})`);
      table = new Map();
      stamp = null;
    }
    return table.get(String(merchantId).toLowerCase()) ?? null;
  };
}

// reply(status, code, message): the gateway's own error for a refusal (its Reply class);
// send(res, status, body, headers): its way of answering; methodsFor(rest): the methods the list
// (examples/api/routes.json) has for a path after the prefix, or null when it has none.
function createCors({ env = process.env, reply, send, methodsFor }) {
  const everywhere = parseOrigins(env.CORS_ALLOWED_ORIGINS, 'CORS_ALLOWED_ORIGINS');
  const forMerchant = merchantOrigins(env.CORS_MERCHANT_ORIGINS_FILE);
  const refuseSecret = (env.SECRET_KEY_IN_BROWSER ?? 'refuse') !== 'allow';
  if (!['refuse', 'allow', undefined].includes(env.SECRET_KEY_IN_BROWSER))
    throw new Error('SECRET_KEY_IN_BROWSER must be refuse or allow');

  function allowed(origin, merchantId) {
    if (typeof origin !== 'string') return false;
    const o = origin.toLowerCase();
    if (!ORIGIN.test(o)) return false; // "null" (a file:// page, a sandboxed frame) never is
    return everywhere.has('*') || everywhere.has(o) || Boolean(forMerchant(merchantId)?.has(o));
  }

  // Headers for any answer to a merchant-scoped request; `Vary: Origin` whatever the origin, since
  // the answer differs by it.
  function grant(req, res, merchantId) {
    res.setHeader('vary', 'Origin');
    const origin = req.headers.origin;
    if (!allowed(origin, merchantId)) return;
    res.setHeader('access-control-allow-origin', origin);
    res.setHeader('access-control-expose-headers', EXPOSED_HEADERS);
  }

  // A preflight (OPTIONS with Origin and Access-Control-Request-Method) on a route of the list:
  // answered here, before any key is looked at (a preflight never carries one). Returns true when
  // it answered. rest is the path after the prefix.
  function preflight(req, res, merchantId, rest) {
    if (req.method !== 'OPTIONS' || !req.headers.origin || !req.headers['access-control-request-method'])
      return false;
    const methods = methodsFor(rest);
    const json = (status, code, message) => send(res, status, { status, code, message }, { vary: 'Origin' });
    if (!methods) json(404, 'NOT_FOUND', 'no such route');
    else if (!allowed(req.headers.origin, merchantId))
      json(403, 'CORS_ORIGIN_NOT_ALLOWED', 'this origin may not call the API from a browser');
    else {
      res.writeHead(204, {
        'access-control-allow-origin': req.headers.origin,
        'access-control-allow-methods': [...new Set(methods)].sort().join(', '),
        'access-control-allow-headers': ALLOWED_HEADERS,
        'access-control-max-age': MAX_AGE,
        vary: 'Origin',
        'cache-control': 'no-store',
      });
      res.end();
    }
    return true;
  }

  // An sk_ key with an Origin header: a secret key in a browser. Called once the key has been
  // verified (so that credentials come first: a key that is not valid gets its 401 as always),
  // before the gate. Not a leak report: the key stays live and revoking it stays the owner's
  // call. Returns the refusal to throw, or undefined.
  function secretKeyInBrowser(req, apiKey, action) {
    if (!refuseSecret || !req.headers.origin || !/^\s*sk_/.test(apiKey ?? '')) return undefined;
    const refusal = reply(403, 'SECRET_KEY_IN_BROWSER',
      'a secret key was sent from a browser (the request has an Origin header): use a pk key in pages, keep sk keys on servers');
    refusal.body.action = action;
    return refusal;
  }

  return { grant, preflight, secretKeyInBrowser, allowed };
}

module.exports = { createCors, parseOrigins };
