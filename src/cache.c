/*
 * cache.c: verified keys, so that a request pays a SHA-256 and a hash probe instead of a query;
 * the merchants where a dashboard user holds a permission, so that a policy pays a probe; and a
 * merchant's own rate limit, so that the rate limiter does.
 *
 * Correctness rests on the server's invalidation machinery: statement triggers on api_keys,
 * team_members, merchants and users raise a relcache invalidation, which every backend receives
 * after the writer commits (and the writer itself at its next command, or at abort, where the
 * server replays it locally so nothing derived from a rolled-back write survives).  The callback
 * only empties the table and counts; a lookup that an invalidation overtook is not stored.  The
 * tables to watch are resolved before a lookup starts (key_cache_generation), never after it:
 * an invalidation that arrives while the first lookup waits for a lock must already match; until
 * they are resolved, every invalidation counts.
 */
#include "postgres.h"

#include "utils/array.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "compat.h"
#include "cache.h"
#include "keys.h"

typedef struct KeyCacheEntry
{
	uint8 hash[BILLIUM_KEY_HASH_LEN]; /* hash key */
	KeyRecord record;
} KeyCacheEntry;

typedef struct TeamCacheKey
{
	pg_uuid_t user_id;
	BilliumPermset wanted;
	bool session; /* with the team's security requirements applied */
} TeamCacheKey;

typedef struct TeamCacheEntry
{
	TeamCacheKey key;	  /* hash key */
	ArrayType *merchants; /* uuid[], in team_context */
} TeamCacheEntry;

typedef struct RateCacheEntry
{
	pg_uuid_t merchant_id; /* hash key */
	double rate;
	int32 burst;
} RateCacheEntry;

static int key_cache_size = 10000;
static HTAB *rate_cache = NULL;
static HTAB *cache = NULL;
static HTAB *team_cache = NULL;
static MemoryContext team_context = NULL; /* the team cache and its arrays */
static uint64 generation = 0;
static Oid watched_relids[4] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid};
static bool watched_resolved = false;

static void
cache_reset(void)
{
	if (cache != NULL)
		hash_destroy(cache);
	cache = NULL;
	if (team_context != NULL)
		MemoryContextDelete(team_context);
	team_context = NULL;
	team_cache = NULL;
	if (rate_cache != NULL)
		hash_destroy(rate_cache);
	rate_cache = NULL;
}

/* Resolved again before the next lookup: a dropped and re-created extension has new tables. */
static void
cache_flush(void)
{
	generation++;
	cache_reset();
	watched_resolved = false;
}

static void
cache_invalidate(Datum arg pg_attribute_unused(), Oid relid)
{
	/* Not yet known what to watch (or a full reset): anything may be what the caches hold. */
	if (!watched_resolved || relid == InvalidOid)
	{
		cache_flush();
		return;
	}
	for (size_t i = 0; i < lengthof(watched_relids); i++)
		if (relid == watched_relids[i])
		{
			cache_flush();
			return;
		}
}

/*
 * Read the relation OIDs the callback compares against; inside a transaction, before any lookup.
 * A missing table (billium not installed in this database yet) leaves them unresolved, so every
 * invalidation keeps counting until it is.
 */
static void
resolve_watched(void)
{
	Oid relids[lengthof(watched_relids)];

	relids[0] = lookup_extension_relid("api_keys");
	relids[1] = lookup_extension_relid("team_members");
	relids[2] = lookup_extension_relid("merchants");
	relids[3] = lookup_extension_relid("users"); /* factors: security requirements */
	for (size_t i = 0; i < lengthof(relids); i++)
		if (!OidIsValid(relids[i]))
			return;
	memcpy(watched_relids, relids, sizeof(relids));
	watched_resolved = true;
}

void
key_cache_init(void)
{
	DefineCustomIntVariable(
		"billium.key_cache_size", "Verified API keys each backend remembers (0 turns it off).",
		"Each entry takes about 200 bytes; when the cache is full it is emptied and refilled.",
		&key_cache_size, 10000, 0, 1000000, PGC_SUSET, 0, NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(cache_invalidate, (Datum)0);
}

static HTAB *
cache_create(void)
{
	HASHCTL ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = BILLIUM_KEY_HASH_LEN;
	ctl.entrysize = sizeof(KeyCacheEntry);
	ctl.hcxt = TopMemoryContext;
	return hash_create("billium key cache", Min(key_cache_size, 1024), &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

bool
key_cache_get(const uint8 *hash, KeyRecord *record)
{
	KeyCacheEntry *entry;

	/* Turned off (billium.key_cache_size = 0) takes effect at once, not at the next flush. */
	if (key_cache_size <= 0 && cache != NULL)
		cache_reset();
	if (cache == NULL)
		return false;
	entry = hash_search(cache, hash, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	*record = entry->record;
	return true;
}

/*
 * The count of flushes so far, read before a lookup; the lookup's answer is stored only if the
 * count has not moved.  Resolving what to watch comes first, so an invalidation that arrives
 * during the lookup (when it waits for a lock the writer holds) moves it.
 */
uint64
key_cache_generation(void)
{
	if (!watched_resolved)
		resolve_watched();
	return generation;
}

void
key_cache_put(const uint8 *hash, const KeyRecord *record, uint64 generation_before)
{
	KeyCacheEntry *entry;

	if (key_cache_size <= 0 || generation_before != generation)
		return;
	if (cache != NULL && hash_get_num_entries(cache) >= key_cache_size)
		cache_reset(); /* bounded: a full cache starts over rather than growing */
	if (cache == NULL)
		cache = cache_create();
	entry = hash_search(cache, hash, HASH_ENTER, NULL);
	entry->record = *record;
}

bool
team_cache_get(const pg_uuid_t *user_id, BilliumPermset wanted, bool session, Datum *merchants)
{
	TeamCacheKey key;
	TeamCacheEntry *entry;

	if (key_cache_size <= 0 && team_cache != NULL)
		cache_reset();
	if (team_cache == NULL)
		return false;
	memset(&key, 0, sizeof(key));
	key.user_id = *user_id;
	key.wanted = wanted;
	key.session = session;
	entry = hash_search(team_cache, &key, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	/* A copy: an invalidation later in the statement may free the cache under its caller. */
	*merchants = PointerGetDatum(palloc(VARSIZE(entry->merchants)));
	memcpy(DatumGetPointer(*merchants), entry->merchants, VARSIZE(entry->merchants));
	return true;
}

void
team_cache_put(const pg_uuid_t *user_id, BilliumPermset wanted, bool session, Datum merchants,
			   uint64 generation_before)
{
	TeamCacheKey key;
	TeamCacheEntry *entry;

	if (key_cache_size <= 0 || generation_before != generation)
		return;
	if (team_cache != NULL && hash_get_num_entries(team_cache) >= key_cache_size)
		cache_reset();
	if (team_cache == NULL)
	{
		HASHCTL ctl;

		team_context =
			AllocSetContextCreate(TopMemoryContext, "billium team cache", ALLOCSET_DEFAULT_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(TeamCacheKey);
		ctl.entrysize = sizeof(TeamCacheEntry);
		ctl.hcxt = team_context;
		team_cache =
			hash_create("billium team cache", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.user_id = *user_id;
	key.wanted = wanted;
	key.session = session;
	entry = hash_search(team_cache, &key, HASH_ENTER, NULL);
	entry->merchants =
		(ArrayType *)MemoryContextAlloc(team_context, VARSIZE(DatumGetPointer(merchants)));
	memcpy(entry->merchants, DatumGetPointer(merchants), VARSIZE(DatumGetPointer(merchants)));
}

bool
rate_cache_get(const pg_uuid_t *merchant_id, double *rate, int32 *burst)
{
	RateCacheEntry *entry;

	if (key_cache_size <= 0 && rate_cache != NULL)
		cache_reset();
	if (rate_cache == NULL ||
		(entry = hash_search(rate_cache, merchant_id, HASH_FIND, NULL)) == NULL)
		return false;
	*rate = entry->rate;
	*burst = entry->burst;
	return true;
}

void
rate_cache_put(const pg_uuid_t *merchant_id, double rate, int32 burst, uint64 generation_before)
{
	RateCacheEntry *entry;

	if (key_cache_size <= 0 || generation_before != generation)
		return;
	if (rate_cache != NULL && hash_get_num_entries(rate_cache) >= key_cache_size)
		cache_reset();
	if (rate_cache == NULL)
	{
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(RateCacheEntry);
		ctl.hcxt = TopMemoryContext;
		rate_cache = hash_create("billium rate limit overrides", 256, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(rate_cache, merchant_id, HASH_ENTER, NULL);
	entry->rate = rate;
	entry->burst = burst;
}
