// Types of @billium/node. The resources and their methods are generated from
// examples/api/routes.json into lib/resources.d.ts.

import type { Resources } from './lib/resources';
export * from './lib/resources';

export interface BilliumOptions {
  /** An sk_ (server) or pk_ (browser, checkout) key. */
  apiKey: string;
  /** The merchant the key belongs to. */
  merchantId: string;
  /** The gateway, e.g. https://api.example.com (default http://127.0.0.1:8080). */
  baseUrl?: string;
  /** How many times a 429 is retried after its Retry-After (default 0: never). */
  maxRetries?: number;
  /** A longer Retry-After is not waited for: the 429 is thrown (default 60000). */
  maxRetryDelayMs?: number;
  /** A fetch implementation (default the global fetch). */
  fetch?: typeof fetch;
}

export interface RequestOptions {
  /** Sent as x-request-id; the server echoes it and records it with the audit trail. */
  requestId?: string;
  signal?: AbortSignal;
}

/** A refusal: the server's envelope, or the SDK's own (SECRET_KEY_REQUIRED with a pk key, CONNECTION_ERROR). */
export declare class BilliumError extends Error {
  readonly name: 'BilliumError';
  /** The HTTP status (0 when the server could not be reached). */
  readonly status: number;
  /** The envelope's code: API_KEY_INVALID, PERMISSION_DENIED, SECRET_KEY_REQUIRED, RATE_LIMITED, ... */
  readonly code: string;
  readonly message: string;
  /** The action refused, e.g. invoices.list. */
  readonly action: string | null;
  /** PERMISSION_DENIED: the permission the action requires, e.g. invoice:create; else null. */
  readonly required: string | null;
  /** PERMISSION_DENIED for an action ruled by a team role (team.transferOwnership): the role; else null. */
  readonly requiredRole: string | null;
  /** What the caller lacks: a session's security factors (SECURITY_REQUIREMENT_NOT_MET), the
   *  permission of a PERMISSION_DENIED; else []. */
  readonly missing: string[];
  /** On 429: how long to wait before trying again, in ms; else null. */
  readonly retryAfterMs: number | null;
  /** The request's x-request-id, to find it in the gateway's and the audit trail's records. */
  readonly requestId: string | null;
  /** The response body as parsed, when there was one. */
  readonly body: unknown;
}

export interface Billium extends Resources {}
export declare class Billium {
  constructor(options: BilliumOptions);
  readonly merchantId: string;
  readonly baseUrl: string;
  readonly keyType: 'sk' | 'pk';
}

/** The actions a pk key may call, as the catalog (billium.actions) has them. */
export declare const PUBLIC_ACTIONS: readonly string[];
export default Billium;
