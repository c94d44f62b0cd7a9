/*
 * usage.h: when each API key was last used and how often, counted in shared memory by the
 * backends that verify keys and written in batches by a background worker, so that no request
 * writes a row and no count invalidates a cache.
 */
#ifndef BILLIUM_USAGE_H
#define BILLIUM_USAGE_H

#include "postgres.h"

#include "utils/uuid.h"

/*
 * Count one use of the key by this transaction (at most once per transaction and key), at the
 * transaction's start time.  Does nothing when billium is not preloaded, billium.track_usage is
 * off, or this database is not billium.usage_database.  Never allocates, never errors.
 */
extern void usage_count(const pg_uuid_t *key_id);

/* Settings, and the shared memory and background worker when preloaded. */
extern void usage_init(void);

#endif
