'use strict';
// @billium/node: the billium API from Node.js (18 or later; fetch is built in, no dependencies).
//
//   const { Billium } = require('@billium/node');
//   const billium = new Billium({ apiKey: process.env.BILLIUM_API_KEY, merchantId, baseUrl });
//   const invoice = await billium.invoices.create({ amount: 2500, currency: 'usd' });
//
// One method per action of the catalog, generated from examples/api/routes.json (lib/routes.js).
// Every refusal is a BilliumError carrying the server's envelope. With a pk_ key, a method whose
// action needs a secret key throws SECRET_KEY_REQUIRED at once, as the server would answer.

const { PREFIX, ROUTES, PUBLIC_ACTIONS } = require('./lib/routes.js');

const VERSION = require('./package.json').version;
const PUBLIC = new Set(PUBLIC_ACTIONS);

class BilliumError extends Error {
  // fields: status, code, message, and from the envelope action, required, requiredRole,
  // missing, retryAfterMs, requestId
  constructor({ status, code, message, action, required, requiredRole, missing, retryAfterMs, requestId, body }) {
    super(message);
    this.name = 'BilliumError';
    this.status = status;
    this.code = code;
    this.action = action ?? null;
    this.required = typeof required === 'string' ? required : null;
    this.requiredRole = typeof requiredRole === 'string' ? requiredRole : null;
    // What the caller lacks: the security factors of a session (the envelope's missing), or the
    // permission a PERMISSION_DENIED names.
    if (Array.isArray(missing)) this.missing = missing;
    else this.missing = code === 'PERMISSION_DENIED' && this.required ? [this.required] : [];
    this.retryAfterMs = Number.isFinite(retryAfterMs) ? retryAfterMs : null;
    this.requestId = requestId ?? null;
    this.body = body ?? null;
  }
}

// Retry-After: delay-seconds or an HTTP date; in ms, or null.
function retryAfterHeader(value, now = Date.now()) {
  if (value == null || value === '') return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Billium {
  // apiKey: sk_... or pk_...; merchantId: the merchant the key belongs to; baseUrl: the gateway.
  // maxRetries (default 0): how many times a 429 is retried, after the Retry-After the server
  // sends; maxRetryDelayMs (default 60000): a longer wait is not waited for, the 429 is thrown.
  constructor({ apiKey, merchantId, baseUrl = 'http://127.0.0.1:8080', maxRetries = 0,
    maxRetryDelayMs = 60000, fetch: fetchImpl = globalThis.fetch } = {}) {
    if (typeof apiKey !== 'string' || !/^(sk|pk)_/.test(apiKey))
      throw new TypeError('apiKey must be a billium key (sk_... or pk_...)');
    if (typeof merchantId !== 'string' || merchantId === '') throw new TypeError('merchantId is required');
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new TypeError('maxRetries must be a non-negative integer');
    Object.defineProperty(this, 'apiKey', { value: apiKey, enumerable: false }); // not in logs of the object
    this.merchantId = merchantId;
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.maxRetries = maxRetries;
    this.maxRetryDelayMs = maxRetryDelayMs;
    this.fetch = fetchImpl;
    this.keyType = apiKey.slice(0, 2);
    for (const route of ROUTES) {
      const [resource, method] = route.sdk.split('.');
      this[resource] ??= {};
      this[resource][method] = (...args) => this.request(route, args);
    }
  }

  // args: the path parameters in order, then the body when the route takes one, then options.
  async request(route, args) {
    if (this.keyType === 'pk' && !PUBLIC.has(route.action)) {
      throw new BilliumError({ status: 403, code: 'SECRET_KEY_REQUIRED', message: 'this action requires a secret key',
        action: route.action });
    }
    const params = args.slice(0, route.params.length);
    if (params.length < route.params.length || !params.every((p) => typeof p === 'string' && p !== ''))
      throw new TypeError(`${route.sdk}(${route.params.join(', ')}): every path parameter is a non-empty string`);
    const body = route.body ? args[route.params.length] : undefined;
    const options = args[route.params.length + (route.body ? 1 : 0)] ?? {};
    let path = PREFIX.replace('{merchantId}', encodeURIComponent(this.merchantId)) + route.path;
    route.params.forEach((name, i) => { path = path.replace(`{${name}}`, encodeURIComponent(params[i])); });

    const headers = { 'x-api-key': this.apiKey, accept: 'application/json' };
    if (typeof window === 'undefined') headers['user-agent'] = `billium-node/${VERSION}`;
    if (options.requestId) headers['x-request-id'] = options.requestId;
    if (body !== undefined) headers['content-type'] = 'application/json';

    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.fetch(this.baseUrl + path, {
          method: route.method, headers, body: body === undefined ? undefined : JSON.stringify(body),
          signal: options.signal, credentials: 'omit', // the key is in a header, never a cookie
        });
      } catch (err) {
        throw Object.assign(new BilliumError({ status: 0, code: 'CONNECTION_ERROR',
          message: `could not reach ${this.baseUrl}: ${err.message}`, action: route.action }), { cause: err });
      }
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: kept as the message */ }
      if (res.ok) return json;

      const envelope = json && typeof json === 'object' ? json : {};
      const retryAfterMs = retryAfterHeader(res.headers.get('retry-after')) ??
        (Number.isFinite(envelope.retry_after_ms) ? envelope.retry_after_ms : null);
      const error = new BilliumError({
        status: res.status,
        code: typeof envelope.code === 'string' ? envelope.code : `HTTP_${res.status}`,
        message: typeof envelope.message === 'string' ? envelope.message : (text || res.statusText),
        action: envelope.action ?? route.action,
        required: envelope.required,
        requiredRole: envelope.required_role,
        missing: envelope.missing,
        retryAfterMs,
        requestId: res.headers.get('x-request-id') ?? envelope.request_id,
        body: json,
      });
      // A 429 was not carried out, so any method may be sent again, after the wait it names.
      if (res.status !== 429 || attempt >= this.maxRetries || retryAfterMs === null ||
          retryAfterMs > this.maxRetryDelayMs) throw error;
      await sleep(retryAfterMs);
    }
  }
}

module.exports = { Billium, BilliumError, PUBLIC_ACTIONS, ROUTES, default: Billium };
