/*
 * cache.h: what billium's caches share: when a cached record is still current, and the
 * invalidation that decides it.
 *
 * A record depends on rows: a verified key on its merchant's keys and team, a user's merchants on
 * the user's team rows and factors and on the merchants' requirements, a rate limit on its
 * merchant.  Each entry records CacheDeps, the generations of what it depends on as they were
 * before the lookup that filled it; billium_invalidate_cache, a trigger on the tables, advances
 * the generations of the merchants and users a write touches, so only what depends on them goes
 * stale.  Generations live in shared memory when billium is preloaded; otherwise (and on a hot
 * standby, which replays invalidations but runs no trigger) a relcache invalidation of any of the
 * tables empties every cache of every backend, as it always did.
 */
#ifndef BILLIUM_CACHE_H
#define BILLIUM_CACHE_H

#include "utils/uuid.h"

#include "lookup.h"
#include "permset.h"

#define CACHE_DEPS_MAX 3

typedef struct CacheDeps
{
	int count;
	uint32 slot[CACHE_DEPS_MAX];
	uint64 seen[CACHE_DEPS_MAX];
} CacheDeps;

/* Taken before a lookup whose result may be cached; see cache_fill_end. */
typedef struct CacheFill
{
	uint64 local_generation;
	uint64 shared_sequence;
} CacheFill;

typedef struct CacheStats
{
	int64 capacity;
	int64 entries;
	int64 hits;
	int64 misses;
	int64 evictions;
	int64 stale; /* hits refused because what the entry depends on changed */
} CacheStats;

/* Before a lookup: what to compare with after it.  Also resolves the tables to watch. */
extern void cache_fill_begin(CacheFill *fill);

/* Dependencies: everything (always), a merchant's rows, a user's rows, any merchant's settings. */
extern void cache_deps_init(CacheDeps *deps);
extern void cache_deps_merchant(CacheDeps *deps, const pg_uuid_t *merchant_id);
extern void cache_deps_user(CacheDeps *deps, const pg_uuid_t *user_id);
extern void cache_deps_merchant_settings(CacheDeps *deps);

/*
 * After the lookup: read the generations deps depends on; false when the record must not be
 * cached (a write was committed meanwhile, or this transaction itself wrote to the tables).
 */
extern bool cache_fill_end(const CacheFill *fill, CacheDeps *deps);

/* On a hit: is every generation the entry saw still the current one? */
extern bool cache_deps_current(const CacheDeps *deps);

/* Are generations kept in shared memory (billium preloaded, not in recovery)? */
extern bool cache_targeted(void);

/* The verified keys: in shared memory when preloaded, else in each backend. */
extern bool key_cache_get(const uint8 *hash, KeyRecord *record);
extern void key_cache_put(const uint8 *hash, const KeyRecord *record, const CacheFill *fill);

/*
 * The merchants (a uuid[] Datum) where the user's team permissions hold every permission of
 * wanted.  get returns a copy in the caller's memory context.
 */
extern bool team_cache_get(const pg_uuid_t *user_id, BilliumPermset wanted, bool session,
						   Datum *merchants);
extern void team_cache_put(const pg_uuid_t *user_id, BilliumPermset wanted, bool session,
						   Datum merchants, const CacheFill *fill);

/* A merchant's own rate limit (rate -1 / burst -1: none). */
extern bool rate_cache_get(const pg_uuid_t *merchant_id, double *rate, int32 *burst);
extern void rate_cache_put(const pg_uuid_t *merchant_id, double rate, int32 burst,
						   const CacheFill *fill);

/* Empty the backend's caches (a relcache invalidation when generations are not shared). */
extern void key_cache_reset_local(void);
extern void team_cache_reset(void);
extern void rate_cache_reset(void);

/* Before a cache is read: notice a re-created extension (its tables have new OIDs). */
extern void cache_check_tables(void);

/* The OID of billium.api_keys as last resolved (part of the shared key cache's keys). */
extern Oid cache_api_keys_relid(void);

/* Set-up, called by cache_init: settings, and the shared key cache when preloaded. */
extern void key_cache_init(void);
extern void key_cache_shared_settings(void);
extern Size key_cache_shmem_size(void);
extern void key_cache_shmem_request(void);
extern void key_cache_shmem_init(void);
extern void team_cache_init(void);
extern void rate_cache_init(void);

/* Statistics: the key cache (shared when it is) and this backend's maps. */
extern bool key_cache_stats(CacheStats *stats); /* true when shared */
extern void key_cache_local_stats(CacheStats *stats);
extern void team_cache_stats(CacheStats *stats);
extern void rate_cache_stats(CacheStats *stats);

extern void cache_init(void);

#endif
