/*
 * ratelimit.h: key-scoped rate limiting.  One token bucket per merchant (or per key) in shared
 * memory, drawn on once per transaction that authenticates with an API key.  The limiter is told
 * whom to charge (the gate does, gate.h) and never asks who is calling.
 */
#ifndef BILLIUM_RATELIMIT_H
#define BILLIUM_RATELIMIT_H

#include "fmgr.h"
#include "utils/uuid.h"

/*
 * Charge the bucket of the key's merchant (or of the key itself, when billium.rate_limit_scope
 * is key), at most once per transaction and bucket; raises 429 RATE_LIMITED (SQLSTATE 53400)
 * with "retry_after_ms" when it is empty.  Does nothing when billium is not preloaded or no
 * limit applies.  action may be NULL.
 */
extern void ratelimit_charge(const pg_uuid_t *merchant_id, const pg_uuid_t *key_id,
							 const char *action);

/* Is billium.rate_limit_scope key (one bucket per key)? */
extern bool ratelimit_per_key(void);

/*
 * billium_rate_limit_status's row for the merchant (NULL: the settings alone), its caller already
 * allowed to see it: whether limiting is on and why, the scope, rate and burst, and the bucket's
 * tokens and wait.  key_id: the caller's key when it is one of the merchant's keys, else NULL (per
 * key, only a key sees its own bucket).
 */
extern Datum ratelimit_status(FunctionCallInfo fcinfo, const pg_uuid_t *merchant_id,
							  const pg_uuid_t *key_id);

/* The RateLimit header fields of a bucket (ratelimit_current). */
typedef struct RateLimitFields
{
	int32 quota;	 /* requests a full bucket holds (the burst) */
	int32 window_s;	 /* seconds an empty bucket takes to fill */
	int32 remaining; /* whole requests left now */
	int32 reset_s;	 /* seconds until full, or when empty until the next request passes */
} RateLimitFields;

/*
 * The fields of the bucket that a request by the key (of the merchant) draws on; false when
 * billium is not preloaded or no limit applies.
 */
extern bool ratelimit_current(const pg_uuid_t *merchant_id, const pg_uuid_t *key_id,
							  RateLimitFields *fields);

/* Settings, and the shared-memory hooks when loaded through shared_preload_libraries. */
extern void ratelimit_init(void);

#endif
