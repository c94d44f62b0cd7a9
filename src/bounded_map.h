/*
 * bounded_map.h: a per-backend map of fixed-size keys to fixed-size values, at most capacity
 * entries, evicting by CLOCK (second chance) when full; every entry carries the dependencies
 * (cache.h) that decide whether it is still current.  The three backend caches (verified keys,
 * a user's merchants, a merchant's rate limit) are each one of these.
 */
#ifndef BILLIUM_BOUNDED_MAP_H
#define BILLIUM_BOUNDED_MAP_H

#include "cache.h"

typedef struct BoundedMap BoundedMap;

/* Called on a value leaving the map (evicted, replaced, stale or reset), to free what it owns. */
typedef void (*BoundedMapRelease)(void *value);

/*
 * A map named name (its memory context's name), holding at most *capacity entries: the setting
 * is read at every call, so a change takes effect at once (0 turns the map off and empties it).
 */
extern BoundedMap *bounded_map_create(const char *name, Size key_size, Size value_size,
									  const int *capacity, BoundedMapRelease release);

/* The value cached for key if its dependencies are current (a stale entry is dropped), or NULL. */
extern void *bounded_map_get(BoundedMap *map, const void *key);

/*
 * The value slot for key, to be filled by the caller, with deps recorded for it; evicts the
 * first entry not used since the clock hand last passed when the map is full.  NULL when off.
 */
extern void *bounded_map_put(BoundedMap *map, const void *key, const CacheDeps *deps);

/* Memory the map's values may allocate in (freed with them by the release callback or reset). */
extern MemoryContext bounded_map_context(BoundedMap *map);

extern void bounded_map_reset(BoundedMap *map);

extern void bounded_map_stats(BoundedMap *map, CacheStats *stats);

#endif
