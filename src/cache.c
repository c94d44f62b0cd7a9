/*
 * cache.c: verified keys, so that a request pays a SHA-256 and a hash probe instead of a query.
 *
 * Correctness rests on the server's invalidation machinery: statement triggers on api_keys,
 * team_members and merchants raise a relcache invalidation, which every backend receives after
 * the writer commits (and the writer itself at its next command, or at abort, where the server
 * replays it locally so nothing derived from a rolled-back write survives).  The callback only
 * empties the table and counts; a lookup that an invalidation overtook is not stored.
 */
#include "postgres.h"

#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "cache.h"
#include "keys.h"

typedef struct KeyCacheEntry
{
	uint8 hash[BILLIUM_KEY_HASH_LEN]; /* hash key */
	KeyRecord record;
} KeyCacheEntry;

static int key_cache_size = 10000;
static HTAB *cache = NULL;
static uint64 generation = 0;
static Oid watched_relids[3] = {InvalidOid, InvalidOid, InvalidOid};

static void
cache_reset(void)
{
	if (cache != NULL)
		hash_destroy(cache);
	cache = NULL;
}

static void
cache_invalidate(Datum arg pg_attribute_unused(), Oid relid)
{
	for (size_t i = 0; i < lengthof(watched_relids); i++)
		if (relid == InvalidOid || relid == watched_relids[i])
		{
			generation++;
			cache_reset();
			return;
		}
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

	/* Relation OIDs are read here, inside a transaction, for the callback to compare against. */
	watched_relids[0] = lookup_extension_relid("api_keys");
	watched_relids[1] = lookup_extension_relid("team_members");
	watched_relids[2] = lookup_extension_relid("merchants");

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

	if (cache == NULL)
		return false;
	entry = hash_search(cache, hash, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	*record = entry->record;
	return true;
}

uint64
key_cache_generation(void)
{
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
