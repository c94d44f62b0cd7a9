/*
 * ratelimit.h: key-scoped rate limiting.  One token bucket per merchant (or per key) in shared
 * memory, drawn on once per transaction that authenticates with an API key.
 */
#ifndef BILLIUM_RATELIMIT_H
#define BILLIUM_RATELIMIT_H

#include "postgres.h"

#include "lookup.h"

/*
 * Charge the bucket of the key's merchant (or of the key itself, when billium.rate_limit_scope
 * is key), at most once per transaction and bucket; raises 429 RATE_LIMITED (SQLSTATE 53400)
 * with "retry_after_ms" when it is empty.  Does nothing when billium is not preloaded or no
 * limit applies.  action may be NULL.
 */
extern void ratelimit_charge(const KeyRecord *record, const char *action);

/* Settings, and the shared-memory hooks when loaded through shared_preload_libraries. */
extern void ratelimit_init(void);

#endif
