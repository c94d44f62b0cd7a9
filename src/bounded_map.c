/*
 * bounded_map.c: a dynahash table for lookups plus an array of the entries in use, which the
 * CLOCK hand sweeps to find a victim when the map is full: an entry read since the hand last
 * passed gets a second chance.  A full map so evicts one entry per insert instead of starting
 * over, and the keys read most often stay.
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "bounded_map.h"

typedef struct EntryHeader
{
	int slot; /* index in BoundedMap.slots */
	bool referenced;
	CacheDeps deps;
} EntryHeader;

struct BoundedMap
{
	const char *name;
	Size key_size;
	Size value_size;
	Size header_offset; /* the entry: key, header, value */
	Size value_offset;
	const int *capacity_setting;
	BoundedMapRelease release;
	MemoryContext context; /* the table, the slots and whatever values allocate; NULL while empty */
	HTAB *table;
	void **slots; /* the entries in use, slots[0 .. used - 1] */
	int capacity; /* of this incarnation */
	int used;
	int hand;
	CacheStats stats;
};

static inline EntryHeader *
entry_header(BoundedMap *map, void *entry)
{
	return (EntryHeader *)((char *)entry + map->header_offset);
}

static inline void *
entry_value(BoundedMap *map, void *entry)
{
	return (char *)entry + map->value_offset;
}

BoundedMap *
bounded_map_create(const char *name, Size key_size, Size value_size, const int *capacity,
				   BoundedMapRelease release)
{
	BoundedMap *map = MemoryContextAllocZero(TopMemoryContext, sizeof(BoundedMap));

	map->name = name;
	map->key_size = key_size;
	map->header_offset = MAXALIGN(key_size);
	map->value_offset = map->header_offset + MAXALIGN(sizeof(EntryHeader));
	map->capacity_setting = capacity;
	map->release = release;
	map->value_size = value_size;
	return map;
}

void
bounded_map_reset(BoundedMap *map)
{
	if (map->context == NULL)
		return;
	/* Values' own memory lives in the context too: deleting it frees everything at once. */
	MemoryContextDelete(map->context);
	map->context = NULL;
	map->table = NULL;
	map->slots = NULL;
	map->used = 0;
	map->hand = 0;
}

/* Make the table for the current setting; false when the setting turns the map off. */
static bool
map_ready(BoundedMap *map)
{
	HASHCTL ctl;
	int capacity = *map->capacity_setting;

	if (map->table != NULL && capacity == map->capacity)
		return true;
	bounded_map_reset(map);
	map->capacity = capacity;
	if (capacity <= 0)
		return false;
	/* The name is a string literal of the caller's (bounded_map_create), so it outlives us. */
	map->context =
		AllocSetContextCreateInternal(TopMemoryContext, map->name, ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = map->key_size;
	ctl.entrysize = map->value_offset + map->value_size;
	ctl.hcxt = map->context;
	map->table =
		hash_create(map->name, Min(capacity, 1024), &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	map->slots = MemoryContextAlloc(map->context, sizeof(void *) * capacity);
	return true;
}

/* Take the entry out of the table and the slot array (the last slot fills its place). */
static void
entry_remove(BoundedMap *map, void *entry)
{
	int slot = entry_header(map, entry)->slot;

	if (map->release != NULL)
		map->release(entry_value(map, entry));
	map->used--;
	if (slot != map->used)
	{
		map->slots[slot] = map->slots[map->used];
		entry_header(map, map->slots[slot])->slot = slot;
	}
	if (map->hand >= map->used)
		map->hand = 0;
	hash_search(map->table, entry, HASH_REMOVE, NULL);
}

static void
evict_one(BoundedMap *map)
{
	for (;;)
	{
		void *entry = map->slots[map->hand];
		EntryHeader *header = entry_header(map, entry);

		if (!header->referenced)
		{
			entry_remove(map, entry);
			map->stats.evictions++;
			return;
		}
		header->referenced = false;
		map->hand = (map->hand + 1) % map->used;
	}
}

void *
bounded_map_get(BoundedMap *map, const void *key)
{
	void *entry;
	EntryHeader *header;

	if (!map_ready(map))
		return NULL;
	entry = hash_search(map->table, key, HASH_FIND, NULL);
	if (entry == NULL)
	{
		map->stats.misses++;
		return NULL;
	}
	header = entry_header(map, entry);
	if (!cache_deps_current(&header->deps))
	{
		entry_remove(map, entry);
		map->stats.stale++;
		map->stats.misses++;
		return NULL;
	}
	header->referenced = true;
	map->stats.hits++;
	return entry_value(map, entry);
}

void *
bounded_map_put(BoundedMap *map, const void *key, const CacheDeps *deps)
{
	void *entry;
	EntryHeader *header;
	bool found;

	if (!map_ready(map))
		return NULL;
	entry = hash_search(map->table, key, HASH_FIND, NULL);
	if (entry != NULL)
		entry_remove(map, entry);
	if (map->used >= map->capacity)
		evict_one(map);
	entry = hash_search(map->table, key, HASH_ENTER, &found);
	header = entry_header(map, entry);
	header->slot = map->used;
	header->referenced = false;
	header->deps = *deps;
	map->slots[map->used++] = entry;
	memset(entry_value(map, entry), 0, map->value_size);
	return entry_value(map, entry);
}

MemoryContext
bounded_map_context(BoundedMap *map)
{
	return map->context;
}

void
bounded_map_stats(BoundedMap *map, CacheStats *stats)
{
	*stats = map->stats;
	stats->capacity = Max(*map->capacity_setting, 0);
	stats->entries = map->used;
}
