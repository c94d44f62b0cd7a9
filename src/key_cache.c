/*
 * key_cache.c: verified keys (SHA-256 -> KeyRecord), so that a request pays a SHA-256 and a probe
 * instead of a query.  Preloaded, one cache in shared memory serves every backend: a key verified
 * by one is a hit in the next, and its memory does not grow with the connections.  Otherwise each
 * backend keeps a bounded map of its own.  Either way an entry depends on everything and on its
 * merchant (the key's rows, its lineage's, its creator's team row: cache.h).
 *
 * The shared cache: a fixed array of entries chained from a fixed array of buckets, one LWLock
 * (named tranche "billium key cache"), shared for lookups and exclusive for inserts; when no entry
 * is free, the CLOCK hand evicts the first one not read since it last passed.  Its key holds the
 * database and the OID of api_keys as well as the hash, so databases never share an entry and a
 * re-created extension never reads its predecessor's.
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "bounded_map.h"
#include "cache.h"
#include "keys.h"

#define KEY_CACHE_TRANCHE "billium key cache"

typedef struct SharedKeyId
{
	Oid database;
	Oid api_keys;
	uint8 hash[BILLIUM_KEY_HASH_LEN];
} SharedKeyId;

typedef struct SharedKeyEntry
{
	SharedKeyId id;
	int32 next; /* the next entry of its bucket (or of the free list), -1 at the end */
	pg_atomic_uint32 referenced;
	CacheDeps deps;
	KeyRecord record;
} SharedKeyEntry;

typedef struct SharedKeyCache
{
	LWLock *lock;
	int32 capacity;
	int32 buckets_mask;
	int32 used;
	int32 free_head;
	int32 hand;
	pg_atomic_uint64 hits;
	pg_atomic_uint64 misses;
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 stale;
	SharedKeyEntry *entries;
	int32 buckets[FLEXIBLE_ARRAY_MEMBER];
} SharedKeyCache;

static int key_cache_size = 10000;
static int shared_key_cache_size = 100000;
static BoundedMap *local_keys = NULL;
static SharedKeyCache *shared_keys = NULL;

/*
 * The shared cache serves only where generations say when an entry is stale: not on a hot standby,
 * where a backend learns of a replayed change from its own invalidation queue (one that starts
 * later never sees it), so each backend keeps its own keys there, as without preloading.
 */
static bool
shared_in_use(void)
{
	return shared_keys != NULL && cache_targeted();
}

/* ---------------------------------------------------------------------------------------------
 * The shared cache
 * ------------------------------------------------------------------------------------------- */

static int32
bucket_count(void)
{
	int32 count = 1;

	while (count < shared_key_cache_size)
		count <<= 1;
	return count;
}

Size
key_cache_shmem_size(void)
{
	if (shared_key_cache_size <= 0)
		return 0;
	return add_size(MAXALIGN(add_size(offsetof(SharedKeyCache, buckets),
									  mul_size(bucket_count(), sizeof(int32)))),
					mul_size(shared_key_cache_size, sizeof(SharedKeyEntry)));
}

void
key_cache_shmem_request(void)
{
	if (shared_key_cache_size > 0)
		RequestNamedLWLockTranche(KEY_CACHE_TRANCHE, 1);
}

void
key_cache_shmem_init(void)
{
	bool found;
	Size header;

	if (shared_key_cache_size <= 0)
		return;
	header = MAXALIGN(offsetof(SharedKeyCache, buckets) + bucket_count() * sizeof(int32));
	shared_keys = ShmemInitStruct("billium key cache", key_cache_shmem_size(), &found);
	if (found)
		return;
	shared_keys->lock = &(GetNamedLWLockTranche(KEY_CACHE_TRANCHE))->lock;
	shared_keys->capacity = shared_key_cache_size;
	shared_keys->buckets_mask = bucket_count() - 1;
	shared_keys->used = 0;
	shared_keys->hand = 0;
	pg_atomic_init_u64(&shared_keys->hits, 0);
	pg_atomic_init_u64(&shared_keys->misses, 0);
	pg_atomic_init_u64(&shared_keys->evictions, 0);
	pg_atomic_init_u64(&shared_keys->stale, 0);
	shared_keys->entries = (SharedKeyEntry *)((char *)shared_keys + header);
	for (int32 i = 0; i <= shared_keys->buckets_mask; i++)
		shared_keys->buckets[i] = -1;
	for (int32 i = 0; i < shared_keys->capacity; i++)
	{
		shared_keys->entries[i].next = i + 1 < shared_keys->capacity ? i + 1 : -1;
		pg_atomic_init_u32(&shared_keys->entries[i].referenced, 0);
	}
	shared_keys->free_head = 0;
}

static int32 *
bucket_of(const SharedKeyId *id)
{
	uint32 hash = hash_bytes((const unsigned char *)id, sizeof(SharedKeyId));

	return &shared_keys->buckets[hash & shared_keys->buckets_mask];
}

/* The entry's index, or -1; under the lock, in either mode. */
static int32
shared_find(const SharedKeyId *id)
{
	for (int32 i = *bucket_of(id); i >= 0; i = shared_keys->entries[i].next)
		if (memcmp(&shared_keys->entries[i].id, id, sizeof(SharedKeyId)) == 0)
			return i;
	return -1;
}

/* A free entry, evicting one when none is; under the exclusive lock. */
static int32
shared_allocate(void)
{
	int32 victim;
	int32 *link;

	if (shared_keys->free_head >= 0)
	{
		victim = shared_keys->free_head;
		shared_keys->free_head = shared_keys->entries[victim].next;
		shared_keys->used++;
		return victim;
	}
	for (;;)
	{
		victim = shared_keys->hand;
		shared_keys->hand = (shared_keys->hand + 1) % shared_keys->capacity;
		if (pg_atomic_exchange_u32(&shared_keys->entries[victim].referenced, 0) == 0)
			break;
	}
	for (link = bucket_of(&shared_keys->entries[victim].id); *link != victim;
		 link = &shared_keys->entries[*link].next)
		;
	*link = shared_keys->entries[victim].next;
	pg_atomic_fetch_add_u64(&shared_keys->evictions, 1);
	return victim;
}

static bool
shared_id(const uint8 *hash, SharedKeyId *id)
{
	memset(id, 0, sizeof(*id));
	id->database = MyDatabaseId;
	id->api_keys = cache_api_keys_relid();
	memcpy(id->hash, hash, BILLIUM_KEY_HASH_LEN);
	return OidIsValid(id->api_keys);
}

static bool
shared_get(const uint8 *hash, KeyRecord *record)
{
	SharedKeyId id;
	int32 found;
	bool hit = false;

	if (!shared_id(hash, &id))
		return false;
	LWLockAcquire(shared_keys->lock, LW_SHARED);
	found = shared_find(&id);
	if (found >= 0)
	{
		SharedKeyEntry *entry = &shared_keys->entries[found];

		hit = cache_deps_current(&entry->deps);
		if (hit)
		{
			*record = entry->record;
			if (pg_atomic_read_u32(&entry->referenced) == 0)
				pg_atomic_write_u32(&entry->referenced, 1);
		}
	}
	LWLockRelease(shared_keys->lock);
	if (found >= 0 && !hit)
		pg_atomic_fetch_add_u64(&shared_keys->stale, 1);
	pg_atomic_fetch_add_u64(hit ? &shared_keys->hits : &shared_keys->misses, 1);
	return hit;
}

static void
shared_put(const uint8 *hash, const KeyRecord *record, const CacheDeps *deps)
{
	SharedKeyId id;
	int32 index;
	SharedKeyEntry *entry;

	if (!shared_id(hash, &id))
		return;
	LWLockAcquire(shared_keys->lock, LW_EXCLUSIVE);
	index = shared_find(&id);
	if (index < 0)
	{
		int32 *bucket = bucket_of(&id);

		index = shared_allocate();
		shared_keys->entries[index].id = id;
		shared_keys->entries[index].next = *bucket;
		*bucket = index;
	}
	entry = &shared_keys->entries[index];
	entry->deps = *deps;
	entry->record = *record;
	pg_atomic_write_u32(&entry->referenced, 0);
	LWLockRelease(shared_keys->lock);
}

/* ---------------------------------------------------------------------------------------------
 * Either cache
 * ------------------------------------------------------------------------------------------- */

bool
key_cache_get(const uint8 *hash, KeyRecord *record)
{
	KeyRecord *cached;

	cache_check_tables();
	if (key_cache_size <= 0)
	{
		bounded_map_reset(local_keys); /* turned off takes effect at once */
		return false;
	}
	if (shared_in_use())
		return shared_get(hash, record);
	cached = bounded_map_get(local_keys, hash);
	if (cached == NULL)
		return false;
	*record = *cached;
	return true;
}

void
key_cache_put(const uint8 *hash, const KeyRecord *record, const CacheFill *fill)
{
	CacheDeps deps;
	KeyRecord *slot;

	if (key_cache_size <= 0)
		return;
	cache_deps_init(&deps);
	cache_deps_merchant(&deps, &record->merchant_id);
	if (!cache_fill_end(fill, &deps))
		return;
	if (shared_in_use())
	{
		shared_put(hash, record, &deps);
		return;
	}
	slot = bounded_map_put(local_keys, hash, &deps);
	if (slot != NULL)
		*slot = *record;
}

void
key_cache_reset_local(void)
{
	if (local_keys != NULL)
		bounded_map_reset(local_keys);
}

bool
key_cache_stats(CacheStats *stats)
{
	if (!shared_in_use())
	{
		key_cache_local_stats(stats);
		return false;
	}
	memset(stats, 0, sizeof(*stats));
	LWLockAcquire(shared_keys->lock, LW_SHARED);
	stats->capacity = shared_keys->capacity;
	stats->entries = shared_keys->used;
	LWLockRelease(shared_keys->lock);
	stats->hits = (int64)pg_atomic_read_u64(&shared_keys->hits);
	stats->misses = (int64)pg_atomic_read_u64(&shared_keys->misses);
	stats->evictions = (int64)pg_atomic_read_u64(&shared_keys->evictions);
	stats->stale = (int64)pg_atomic_read_u64(&shared_keys->stale);
	return true;
}

void
key_cache_local_stats(CacheStats *stats)
{
	bounded_map_stats(local_keys, stats);
	/* Preloaded (and not in recovery), the backend keeps no keys of its own. */
	if (shared_in_use())
		stats->capacity = 0;
}

void
key_cache_init(void)
{
	DefineCustomIntVariable(
		"billium.key_cache_size",
		"Verified API keys each backend remembers when the shared key cache is off (0 turns "
		"key caching off).",
		"Each entry takes about 200 bytes; a full cache evicts the key least recently read. "
		"Preloaded, the shared cache (billium.shared_key_cache_size) serves every backend instead.",
		&key_cache_size, 10000, 0, 1000000, PGC_SUSET, 0, NULL, NULL, NULL);
	local_keys = bounded_map_create("billium key cache", BILLIUM_KEY_HASH_LEN, sizeof(KeyRecord),
									&key_cache_size, NULL);
}

/* Preloading: a postmaster setting, defined only then (as billium.rate_limit_buckets). */
void
key_cache_shared_settings(void)
{
	DefineCustomIntVariable(
		"billium.shared_key_cache_size",
		"Verified API keys remembered in shared memory, for every backend (0: each backend "
		"keeps its own).",
		"Each entry takes about 180 bytes of shared memory; a full cache evicts the key least "
		"recently read.",
		&shared_key_cache_size, 100000, 0, 10000000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
}
