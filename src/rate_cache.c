/*
 * rate_cache.c: a merchant's own rate limit (billium.merchants.rate_limit, rate_burst), so that
 * the rate limiter pays a probe.  An entry depends on everything and on its merchant.
 */
#include "postgres.h"

#include "utils/guc.h"

#include "bounded_map.h"
#include "cache.h"

typedef struct RateCacheValue
{
	double rate;
	int32 burst;
} RateCacheValue;

static int rate_cache_size = 10000;
static BoundedMap *rates = NULL;

bool
rate_cache_get(const pg_uuid_t *merchant_id, double *rate, int32 *burst)
{
	RateCacheValue *cached;

	cache_check_tables();
	cached = bounded_map_get(rates, merchant_id);
	if (cached == NULL)
		return false;
	*rate = cached->rate;
	*burst = cached->burst;
	return true;
}

void
rate_cache_put(const pg_uuid_t *merchant_id, double rate, int32 burst, const CacheFill *fill)
{
	RateCacheValue *cached;
	CacheDeps deps;

	cache_deps_init(&deps);
	cache_deps_merchant(&deps, merchant_id);
	if (!cache_fill_end(fill, &deps))
		return;
	cached = bounded_map_put(rates, merchant_id, &deps);
	if (cached == NULL)
		return;
	cached->rate = rate;
	cached->burst = burst;
}

void
rate_cache_reset(void)
{
	if (rates != NULL)
		bounded_map_reset(rates);
}

void
rate_cache_stats(CacheStats *stats)
{
	bounded_map_stats(rates, stats);
}

void
rate_cache_init(void)
{
	DefineCustomIntVariable("billium.rate_cache_size",
							"Merchants' own rate limits each backend remembers (0 turns it off).",
							"A full cache evicts the entry least recently read.", &rate_cache_size,
							10000, 0, 1000000, PGC_SUSET, 0, NULL, NULL, NULL);
	rates = bounded_map_create("billium rate limit overrides", sizeof(pg_uuid_t),
							   sizeof(RateCacheValue), &rate_cache_size, NULL);
}
